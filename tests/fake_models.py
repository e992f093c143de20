"""Every fake model of this project's tests, in one module.

In-process tests build them directly; pytester runs (inline or in a subprocess) load them
by spec, ``--fgbmk-model=tests.fake_models:NAME``: the repository root is on ``sys.path``
and ``PYTHONPATH`` there (the ``run`` fixture of ``tests/conftest.py`` puts it there).

Answering models:

- :class:`CountingModel` (spec ``counting``): answers the truth, records every batch it is
  asked (and appends the ids to the ``log`` file), fails on purpose when told to;
  ``encode_only=1`` gives :class:`EncodeOnly`, a model without the answer capability;
- :class:`Flip` (spec ``flip``): the truth except for a deterministic share of questions
  (:func:`share` of the id); :class:`EvilFlip` answers markup where :class:`Flip` is
  wrong; :class:`Evil` is right on the questions whose id has an odd sum of code points
  and answers markup otherwise.

Encoders:

- :class:`SpeciesEncoder` (spec ``species_encoder``): answers like :class:`Flip` and
  encodes an image of the small synthetic data to the one-hot vector of its species
  (looked up by a digest of its pixels), plus seeded noise and an ``aligned`` view on
  request;
- :class:`MeanColourEncoder`: an image's mean colour (a separable toy encoder);
  :class:`PixelEncoder` is the same in pixel units with a ``blocks`` view, and
  :class:`StagedPixelEncoder` offers it as ``encode_stages()``.

``torch`` is imported inside the methods that need it, so that importing this module (as
``tests/conftest.py`` does) costs nothing.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence

import numpy as np

from pytest_fgbmk.models.base import AnswerRequest, FailedAnswer, GenerationSettings, ModelAdapter

#: What the markup-answering models say where they are wrong.
EVIL = "<script>alert(1)</script>"


# -- answering -------------------------------------------------------------------------------


class CountingModel(ModelAdapter):
    """Answers the truth; records every batch (question ids) it was asked.

    ``fail_ids``: those questions raise when in a batch; ``oom_above``: batches larger than
    this raise an out-of-memory error; ``failed_ids``: answered with a FailedAnswer;
    ``empty_ids``: answered with an empty string; ``log``: a file each asked id is
    appended to, one a line, flushed per batch (so a test can count calls across a killed
    process); ``delay``: seconds slept per batch; ``short``: one answer fewer than asked
    (when asked more than one).
    """

    name = "counting"
    can_answer = True

    def __init__(
        self,
        *,
        fail_ids=(),
        oom_above=None,
        failed_ids=(),
        empty_ids=(),
        fp="counting-1",
        log: str | None = None,
        delay: float = 0.0,
        short: bool = False,
    ):
        self.batches: list[list[str]] = []
        self.fail_ids = set(fail_ids)
        self.oom_above = oom_above
        self.failed_ids = set(failed_ids)
        self.empty_ids = set(empty_ids)
        self._fp = fp
        self.image_ids: list[list[int]] = []
        self.log = log
        self.delay = delay
        self.short = short

    @property
    def fingerprint(self) -> str:
        return self._fp

    @property
    def asked(self) -> list[str]:
        return [q for b in self.batches for q in b]

    def answer(self, requests: Sequence[AnswerRequest], settings: GenerationSettings):
        if self.delay:
            time.sleep(self.delay)
        ids = [r.question.id for r in requests]
        if self.oom_above is not None and len(requests) > self.oom_above:
            import torch

            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if self.fail_ids & set(ids):
            raise RuntimeError(f"boom on {sorted(self.fail_ids & set(ids))[0]}")
        self.batches.append(ids)
        self.image_ids.append([id(r.image) for r in requests])
        if self.log:
            with open(self.log, "a") as fh:
                fh.write("".join(i + "\n" for i in ids))
                fh.flush()
                os.fsync(fh.fileno())
        out = []
        for r in requests:
            q = r.question
            if q.id in self.failed_ids:
                out.append(FailedAnswer("endpoint gave up after 3 retries"))
            elif q.id in self.empty_ids:
                out.append("")
            else:
                out.append(q.truth)
        return out[:-1] if self.short and len(out) > 1 else out


class EncodeOnly(ModelAdapter):
    name = "encode-only"
    can_answer = False
    can_encode = True

    def __init__(self, options=None):
        pass

    @property
    def fingerprint(self):
        return "encode-only-v1"


def counting(options) -> ModelAdapter:
    """``counting``: model arguments ``log=FILE``, ``delay=SECONDS``, ``encode_only=1``."""
    extra = options.extra
    if extra.get("encode_only"):
        return EncodeOnly(options)
    return CountingModel(fp="counting-v1", log=extra.get("log"), delay=float(extra.get("delay", 0)))


class TrainReader(CountingModel):
    """Answers the truth, and like the ``probe:`` model reads each dataset's train images in
    :meth:`prepare` (records the datasets it prepared in ``prepared``)."""

    name = "train-reader"

    def __init__(self, **kw) -> None:
        super().__init__(fp="train-reader-v1", **kw)
        self.prepared: list[str] = []

    def prepare_images(self, dataset):
        return dataset.split("train")

    def prepare(self, datasets) -> None:
        from pytest_fgbmk.data.images import load_rgb

        for ds in datasets:
            self.prepared.append(ds.name)
            for s in ds.split("train"):
                load_rgb(ds.image_path(s)).close()


def train_reader(options) -> ModelAdapter:
    return TrainReader()


def share(text: str) -> float:
    """A deterministic number in [0, 1) from a text (a question id): where Flip is wrong."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 2**32


class Flip(ModelAdapter):
    """Answers like ``oracle`` except for a deterministic share of questions (by
    :func:`share` of the question id): ``flip=F`` for every question, and ``facet=NAME``
    with ``facet_flip=G`` for the questions of one facet (attribute group or level) on top.
    """

    name = "flip"
    can_answer = True
    wrong_answer = "I cannot tell"

    def __init__(self, options) -> None:
        extra = options.extra
        self.flip = float(extra.get("flip", 0))
        self.facet = extra.get("facet")
        self.facet_flip = float(extra.get("facet_flip", 0))

    @property
    def fingerprint(self) -> str:
        return f"flip-{self.flip}-{self.facet}-{self.facet_flip}"

    def _wrong(self, q) -> bool:
        if share(q.id) < self.flip:
            return True
        return q.facet == self.facet and share(q.id + "/facet") < self.facet_flip

    def answer(self, requests, settings):
        return [
            self.wrong_answer if self._wrong(r.question) else r.question.truth for r in requests
        ]


def flip(options) -> Flip:
    return Flip(options)


class EvilFlip(Flip):
    """The flipping model, answering with a script tag where it is wrong."""

    wrong_answer = EVIL


class Evil(ModelAdapter):
    """Right on about half the questions (by id); otherwise answers with a script tag."""

    name = "evil"
    can_answer = True

    def __init__(self, options=None):
        pass

    @property
    def fingerprint(self):
        return "evil-v1"

    def answer(self, requests, settings):
        return [r.question.truth if sum(map(ord, r.question.id)) % 2 else EVIL for r in requests]


# -- encoders ---------------------------------------------------------------------------------


def digest(image) -> str:
    return hashlib.sha256(image.tobytes()).hexdigest()


def species_table() -> dict[str, int]:
    """Pixel digest → global species index over the small synthetic datasets (birds'
    species first, then flowers'), read from ``$FGBMK_SYNTH_DIR``."""
    from pytest_fgbmk.data.synth import SynthConfig, ensure_synthetic, load_synthetic
    from pytest_fgbmk.run.options import SYNTH_SIZES

    table: dict[str, int] = {}
    offset = 0
    for ds in load_synthetic(ensure_synthetic(SynthConfig(**SYNTH_SIZES["small"]))):
        for s in ds.samples:
            table[digest(ds.open_image(s))] = offset + s.category
        offset += len(ds.categories)
    return table


def features_of(image, table: dict[str, int], dim: int, noise: float):
    """The one-hot vector of the image's species plus ``noise`` times Gaussian noise seeded
    by the image, so the same image always gets the same features."""
    import torch

    key = digest(image)
    x = torch.zeros(dim, dtype=torch.float64)
    x[table[key]] = 1.0
    if noise:
        gen = torch.Generator().manual_seed(int(key[:8], 16))
        x += noise * torch.randn(dim, generator=gen, dtype=torch.float64)
    return x.float()


class SpeciesEncoder(Flip):
    """Answers like :class:`Flip`; encodes to :func:`features_of` (model arguments
    ``noise=S``, ``aligned=1`` for an ``aligned`` view ``2x + 1``, ``log=FILE`` to append
    the size of each encoded batch)."""

    name = "species-encoder"
    can_encode = True

    def __init__(self, options) -> None:
        super().__init__(options)
        extra = options.extra
        self.noise = float(extra.get("noise", 0))
        self.aligned = bool(int(extra.get("aligned", 0)))
        self.log = extra.get("log")
        self._table: dict[str, int] | None = None

    @property
    def fingerprint(self) -> str:
        return f"species-{super().fingerprint}-noise{self.noise}-aligned{int(self.aligned)}"

    def encode(self, images):
        import torch

        if self._table is None:
            self._table = species_table()
        dim = max(self._table.values()) + 1
        x = torch.stack([features_of(im, self._table, dim, self.noise) for im in images])
        if self.log:
            with open(self.log, "a") as fh:
                fh.write(f"{len(images)}\n")
        out = {"cls": x}
        if self.aligned:
            out["aligned"] = 2 * x + 1
        return out


def species_encoder(options) -> SpeciesEncoder:
    return SpeciesEncoder(options)


class MeanColourEncoder(ModelAdapter):
    """Features = the image's mean colour over ``divisor`` (a separable toy encoder), plus
    a ``blocks`` view ``(B, 2, 3)`` when ``blocks``; counts its calls and images and fails
    on purpose (``died``) once ``fail_after`` images were encoded."""

    can_encode = True
    name = "mean-colour"
    divisor = 255.0
    blocks = False
    died = "the encoder died"
    _fp = "mean-colour-v1"

    def __init__(self, fail_after: int | None = None) -> None:
        self.calls = 0
        self.images = 0
        self.fail_after = fail_after

    @property
    def fingerprint(self) -> str:
        return self._fp

    @property
    def encoded(self) -> int:
        return self.images

    def _mean(self, img):
        import torch

        return torch.from_numpy(np.asarray(img, dtype=np.float32).mean((0, 1))) / self.divisor

    def _views(self, x):
        import torch

        return {"cls": x, "blocks": torch.stack([x, 2 * x], 1)} if self.blocks else {"cls": x}

    def encode(self, images):
        import torch

        if self.fail_after is not None and self.images >= self.fail_after:
            raise RuntimeError(self.died)
        self.calls += 1
        self.images += len(images)
        return self._views(torch.stack([self._mean(im) for im in images]))


class PixelEncoder(MeanColourEncoder):
    """The mean colour in pixel units (not over 255), with the ``blocks`` view."""

    name = "pixel"
    divisor = 1.0
    blocks = True
    died = "killed"
    _fp = "pixel-v1"


class StagedPixelEncoder(PixelEncoder):
    """The same features, offered as (preprocess one image, encode a stacked batch)."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def encode(self, images):
        raise AssertionError("extract_features should use the stages, not encode()")

    def encode_stages(self):
        def encode_pixels(x):
            self.batches.append(len(x))
            return self._views(x)

        return self._mean, encode_pixels


def unloadable(options) -> ModelAdapter:
    """A spec that names an importable factory whose checkpoint cannot be loaded."""
    from pytest_fgbmk.errors import ModelError

    raise ModelError("no checkpoint at /nonexistent/ckpt; give the folder with config.json")


class Constant(ModelAdapter):
    """Gives every question the same answer: ``answer=TEXT`` (default ``No.``), or
    ``answer=@first`` for the text of the question's first option (its own answer on
    true/false and short-answer questions stays ``TEXT``-free: ``No.``)."""

    name = "constant"
    can_answer = True

    def __init__(self, options) -> None:
        self.text = str(options.extra.get("answer", "No."))
        #: ``singles_only=true``: every call with more than one request raises (a processor
        #: that cannot batch), so the engine has to split every batch down to single requests
        self.singles_only = str(options.extra.get("singles_only", "")) == "true"

    @property
    def fingerprint(self) -> str:
        return f"constant-{self.text}"

    def answer(self, requests, settings):
        if self.singles_only and len(requests) > 1:
            raise ValueError(f"cannot batch {len(requests)} requests\nsecond line")
        out = []
        for r in requests:
            q = r.question
            first = self.text == "@first"
            out.append(q.options[0] if first and q.options else ("No." if first else self.text))
        return out


def constant(options) -> Constant:
    return Constant(options)


# -- the judge (--fgbmk-judge) ----------------------------------------------------------------

#: What :class:`Murky` answers where it does not answer the truth: no rule reads these (no
#: yes/no word, no option letter or text); the marker word tells :class:`FakeJudge` its
#: verdict.
MURKY = {
    "right": "Mmm zorblax rightish.",
    "wrong": "Mmm zorblax wrongish.",
    "unclear": "Mmm zorblax murky.",
}


def murky_answer(q) -> str:
    """The truth (read by the rules: ``Yes.``/``No.``, the option's text, the name) for a
    quarter of the questions (by :func:`share` of the id), else one of :data:`MURKY`."""
    bucket = int(share(q.id + "/murky") * 4)
    if bucket == 0:
        return {"yes": "Yes.", "no": "No."}.get(q.truth, q.truth)
    return MURKY[("right", "wrong", "unclear")[bucket - 1]]


class Murky(ModelAdapter):
    """Answers :func:`murky_answer` (spec ``murky``)."""

    name = "murky"
    can_answer = True

    def __init__(self, options=None) -> None:
        pass

    @property
    def fingerprint(self) -> str:
        return "murky-1"

    def answer(self, requests, settings):
        return [murky_answer(r.question) for r in requests]


def murky(options) -> Murky:
    return Murky(options)


class FakeJudge(ModelAdapter):
    """A judge (spec ``judge``): reads the response out of the grading prompt and replies
    ``Right.`` to a response with "rightish", ``**wrong**`` to one with "wrongish", and
    ``I am not sure`` (not a verdict) otherwise. Records every grading prompt (``prompts``)
    and appends each graded question id to ``log=FILE``; ``fp=TEXT`` sets its fingerprint."""

    name = "fake-judge"
    can_answer = True

    def __init__(self, log: str | None = None, fp: str = "fake-judge-1") -> None:
        self.log = log
        self._fp = fp
        self.prompts: list[str] = []
        self.ids: list[str] = []

    @property
    def fingerprint(self) -> str:
        return self._fp

    def answer(self, requests, settings):
        out = []
        for r in requests:
            self.prompts.append(r.prompt)
            self.ids.append(r.question.id)
            response = r.prompt.split("<<<\n", 1)[1].split("\n>>>", 1)[0]
            if "rightish" in response:
                out.append("Right.")
            elif "wrongish" in response:
                out.append("**wrong**")
            else:
                out.append("I am not sure")
        if self.log:
            with open(self.log, "a") as fh:
                fh.write("".join(r.question.id + "\n" for r in requests))
        return out


def judge(options) -> FakeJudge:
    return FakeJudge(options.extra.get("log"), options.extra.get("fp", "fake-judge-1"))
