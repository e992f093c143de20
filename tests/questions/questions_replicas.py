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


SYLLABLES = ("ka", "lo", "mi", "ne", "su", "ta", "vo", "ri", "de", "pu", "ga", "zo", "be")


def many_classes(n_species: int = 240, per_class: int = 3) -> Dataset:
    """A many-class taxonomy (order → genus → species, ``n_species`` species in genera of
    four) with two attribute groups, ``per_class`` test and one train image per species:
    the shape of iNat or Products-10K at a scale a test can enumerate."""
    words = [a + b + c for a in SYLLABLES for b in SYLLABLES for c in SYLLABLES]
    colors = ("black", "white", "brown", "grey", "red", "blue", "green", "yellow", "orange")
    cats = []
    for i in range(n_species):
        genus = f"{words[1000 + i // 4]}ia"
        order = f"{words[2000 + i // 40]}iformes"
        cats.append(Category(i, f"{genus} {words[i]}", (order, genus, f"{genus} {words[i]}")))
    samples = []
    for c in cats:
        for j in range(per_class + 1):
            ann = (
                Annotation("wing color", colors[(c.index + j) % len(colors)], 4),
                Annotation("bill shape", BILL_SHAPES[(c.index // 3 + j) % 3], 4),
            )
            samples.append(
                Sample(
                    id=f"{c.index:04d}-{j}",
                    path=f"images/{c.index:04d}/{j}.jpg",
                    category=c.index,
                    category_name=c.name,
                    split="train" if j == 0 else "test",
                    taxonomy=c.taxonomy,
                    annotations=ann,
                )
            )
    return Dataset(
        name="many",
        root=Path("/nonexistent"),
        meta_category="bird",
        levels=("order", "genus", "species"),
        categories=tuple(cats),
        samples=tuple(samples),
        attribute_groups=(
            AttributeGroup("wing color", colors, "colour"),
            AttributeGroup("bill shape", BILL_SHAPES, "shape"),
        ),
    )
