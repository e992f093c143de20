"""Small fakes for the plugin's own tests: a hand-built dataset with real image files,
hand-built questions, and answer-only models that count what they are asked."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path

from PIL import Image

from pytest_fgbmk.data.records import Category, Dataset, Sample
from pytest_fgbmk.models.base import AnswerRequest, GenerationSettings, ModelAdapter
from pytest_fgbmk.questions.records import Question

#: How pytester runs load the plugin: by its entry point once installed, else by module.
PLUGIN_INSTALLED = any(ep.value == "pytest_fgbmk.plugin" for ep in entry_points(group="pytest11"))
PLUGIN_ARGS: tuple[str, ...] = () if PLUGIN_INSTALLED else ("-p", "pytest_fgbmk.plugin")


def make_dataset(root: Path, n_images: int = 6, *, name: str = "toy", counter=None) -> Dataset:
    """A dataset of ``n_images`` small PNGs (two categories) under ``root``.

    ``counter`` (a list) collects the path of every image opened.
    """
    root.mkdir(parents=True, exist_ok=True)
    cats = (
        Category(0, "red finch", ("finch", "red finch")),
        Category(1, "blue finch", ("finch", "blue finch")),
    )
    samples = []
    for i in range(n_images):
        c = i % 2
        rel = f"img/{i:03d}.png"
        (root / "img").mkdir(exist_ok=True)
        Image.new("RGB", (8, 8), (200, 0, 0) if c == 0 else (0, 0, 200)).save(root / rel)
        samples.append(Sample(f"s{i}", rel, c, cats[c].name, "test", cats[c].taxonomy))
    ds = Dataset(name, root, "bird", ("genus", "species"), cats, tuple(samples))
    if counter is None:
        return ds
    lock = threading.Lock()

    def reader(sample: Sample):
        with lock:
            counter.append(sample.path)
        from pytest_fgbmk.data.images import load_rgb

        return load_rgb(root / sample.path)

    return Dataset(
        ds.name, root, ds.meta_category, ds.levels, cats, ds.samples, image_reader=reader
    )


def make_questions(ds: Dataset, per_image: int = 3, prefix: str = "q") -> list[Question]:
    """``per_image`` true/false questions per image; truth "yes" for even ``k``."""
    out = []
    for s in ds.samples:
        for k in range(per_image):
            out.append(
                Question(
                    id=f"{prefix}-{s.id}-{k}",
                    dataset=ds.name,
                    image=s.path,
                    prompt=f"Is this a {s.category_name}? ({k})",
                    qtype="tf",
                    task="granularity",
                    facet="species",
                    category=s.category_name,
                    truth="yes" if k % 2 == 0 else "no",
                    template_id="t0",
                    sample_id=s.id,
                )
            )
    return out


class CountingModel(ModelAdapter):
    """Answers the truth; records every batch (question ids) it was asked.

    ``fail_ids``: those questions raise when in a batch; ``oom_above``: batches larger than
    this raise an out-of-memory error; ``failed_ids``: answered with a FailedAnswer;
    ``empty_ids``: answered with an empty string.
    """

    name = "counting"
    can_answer = True

    def __init__(
        self, *, fail_ids=(), oom_above=None, failed_ids=(), empty_ids=(), fp="counting-1"
    ):
        self.batches: list[list[str]] = []
        self.fail_ids = set(fail_ids)
        self.oom_above = oom_above
        self.failed_ids = set(failed_ids)
        self.empty_ids = set(empty_ids)
        self._fp = fp
        self.image_ids: list[list[int]] = []

    @property
    def fingerprint(self) -> str:
        return self._fp

    @property
    def asked(self) -> list[str]:
        return [q for b in self.batches for q in b]

    def answer(self, requests: Sequence[AnswerRequest], settings: GenerationSettings):
        from pytest_fgbmk.models.base import FailedAnswer

        ids = [r.question.id for r in requests]
        if self.oom_above is not None and len(requests) > self.oom_above:
            import torch

            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if self.fail_ids & set(ids):
            raise RuntimeError(f"boom on {sorted(self.fail_ids & set(ids))[0]}")
        self.batches.append(ids)
        self.image_ids.append([id(r.image) for r in requests])
        out = []
        for r in requests:
            q = r.question
            if q.id in self.failed_ids:
                out.append(FailedAnswer("endpoint gave up after 3 retries"))
            elif q.id in self.empty_ids:
                out.append("")
            else:
                out.append(q.truth)
        return out
