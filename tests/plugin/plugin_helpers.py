"""Small fakes for the plugin's own tests: a hand-built dataset with real image files and
hand-built questions (the models are in :mod:`tests.fake_models`)."""

from __future__ import annotations

import threading
from pathlib import Path

from PIL import Image

from pytest_fgbmk.data.records import Category, Dataset, Sample
from pytest_fgbmk.questions.records import Question


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
