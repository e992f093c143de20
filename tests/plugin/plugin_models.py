"""Text of a model module that pytester runs import through ``--fgbmk-model=fgbmk_counting:factory``.

The model answers the truth (like ``oracle``) and appends every question id it is asked
to the file named by the ``log`` model argument, one line per id, flushed per batch, so a
test can count calls across a killed process. ``delay`` sleeps per batch (seconds);
``encode_only=1`` gives a model without the answer capability.
"""

COUNTING_MODULE = """
import os
import time

from pytest_fgbmk.models.base import ModelAdapter


class Counting(ModelAdapter):
    name = "counting"
    can_answer = True

    def __init__(self, options):
        self.log = options.extra.get("log")
        self.delay = float(options.extra.get("delay", 0))

    @property
    def fingerprint(self):
        return "counting-v1"

    def answer(self, requests, settings):
        if self.delay:
            time.sleep(self.delay)
        out = [r.question.truth for r in requests]
        if self.log:
            with open(self.log, "a") as fh:
                fh.write("".join(r.question.id + "\\n" for r in requests))
                fh.flush()
                os.fsync(fh.fileno())
        return out


class EncodeOnly(ModelAdapter):
    name = "encode-only"
    can_answer = False
    can_encode = True

    def __init__(self, options):
        pass

    @property
    def fingerprint(self):
        return "encode-only-v1"


def factory(options):
    if options.extra.get("encode_only"):
        return EncodeOnly(options)
    return Counting(options)
"""
