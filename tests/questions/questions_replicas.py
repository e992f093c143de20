"""Tiny hand-built Dataset records for the question and scoring tests (no loader needed)."""

from __future__ import annotations

from pathlib import Path

from pytest_fgbmk.data.records import Annotation, AttributeGroup, Category, Dataset, Sample

#: A CUB-like taxonomy: class → genus → species (one class only, as in CUB).
BIRDS = (
    ("aves", "albatross", "black footed albatross"),
    ("aves", "albatross", "laysan albatross"),
    ("aves", "albatross", "sooty albatross"),
    ("aves", "sparrow", "baird sparrow"),
    ("aves", "sparrow", "song sparrow"),
    ("aves", "vireo", "black capped vireo"),
    ("aves", "oriole", "baltimore oriole"),
)

WING_COLORS = ("black", "white", "brown", "grey", "red", "blue")
BILL_SHAPES = ("hooked", "cone", "needle")


def cub_like(per_class: int = 5, name: str = "cub", order: str = "sorted") -> Dataset:
    """A CUB-like dataset with ``per_class`` test and 2 train images per species."""
    cats = tuple(
        Category(i, t[-1], t, synonyms=(f"{t[-1]} bird",) if i == 0 else ())
        for i, t in enumerate(BIRDS)
    )
    samples = []
    for c in cats:
        for j in range(per_class + 2):
            split = "train" if j < 2 else "test"
            ann = (
                Annotation("wing color", WING_COLORS[(c.index + j) % 6], 4),
                Annotation("wing color", WING_COLORS[(c.index + j + 1) % 6], 3 if j % 2 else 2),
                Annotation("bill shape", BILL_SHAPES[c.index % 3], 1 if j == 3 else 4),
            )
            samples.append(
                Sample(
                    id=f"{c.index:03d}-{j:03d}",
                    path=f"images/{c.index:03d}.{c.name.replace(' ', '_')}/img_{j}.jpg",
                    category=c.index,
                    category_name=c.name,
                    split=split,
                    taxonomy=c.taxonomy,
                    annotations=ann,
                )
            )
    if order == "reversed":
        samples.reverse()
    return Dataset(
        name=name,
        root=Path("/nonexistent"),
        meta_category="bird",
        levels=("class", "genus", "species"),
        categories=cats,
        samples=tuple(samples),
        attribute_groups=(
            AttributeGroup("wing color", WING_COLORS, "colour"),
            AttributeGroup("bill shape", BILL_SHAPES, "shape"),
        ),
    )


def flat(names: tuple[str, ...], per_class: int = 3, name: str = "deepfashion") -> Dataset:
    """A one-level dataset of the given category names."""
    cats = tuple(Category(i, n, (n,)) for i, n in enumerate(names))
    samples = tuple(
        Sample(f"{c.index}-{j}", f"img/{c.index}/{j}.jpg", c.index, c.name, "test", (c.name,))
        for c in cats
        for j in range(per_class)
    )
    return Dataset(name, Path("/nonexistent"), "clothing", ("category",), cats, samples)
