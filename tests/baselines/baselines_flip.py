"""A model for the gate's pytester runs: ``--fgbmk-model=tests.baselines.baselines_flip:factory``.

It answers like ``oracle`` except for a deterministic share of questions (by a hash of the
question id) that it answers wrong: ``flip=F`` for every question, and ``facet=NAME`` with
``facet_flip=G`` for the questions of one facet (attribute group or level) on top.
"""

from __future__ import annotations

import hashlib

from pytest_fgbmk.models.base import ModelAdapter


def _share(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 2**32


class Flip(ModelAdapter):
    name = "flip"
    can_answer = True

    def __init__(self, options) -> None:
        extra = options.extra
        self.flip = float(extra.get("flip", 0))
        self.facet = extra.get("facet")
        self.facet_flip = float(extra.get("facet_flip", 0))

    @property
    def fingerprint(self) -> str:
        return f"flip-{self.flip}-{self.facet}-{self.facet_flip}"

    def _wrong(self, q) -> bool:
        if _share(q.id) < self.flip:
            return True
        return q.facet == self.facet and _share(q.id + "/facet") < self.facet_flip

    def answer(self, requests, settings):
        return ["I cannot tell" if self._wrong(r.question) else r.question.truth for r in requests]


def factory(options) -> Flip:
    return Flip(options)
