"""Oxford Flowers102 in its published layout: ``imagelabels.mat``, ``setid.mat``, ``jpg/``.

``root`` holds the two .mat files and ``jpg/`` (or is their parent ``flowers102/``).
``imagelabels.mat`` has ``labels`` (1..102, one per image ``jpg/image_00001.jpg`` …);
``setid.mat`` has ``trnid``, ``valid``, ``tstid`` (1-based image numbers). The dataset
files carry no class names, so the published list (the one distributed with the
dataset's web page and used by every benchmark) is shipped here as :data:`CLASS_NAMES`.
Images are not checked at load time; a missing one is named when opened.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pytest_fgbmk.data import layout
from pytest_fgbmk.data.matfile import mat_int, mat_vars
from pytest_fgbmk.data.records import Category, Dataset, Sample
from pytest_fgbmk.data.textio import require_file
from pytest_fgbmk.errors import DataFormatError

NAME = "flowers102"
META = "flower"
FOLDERS = ("flowers102", "flowers-102", "oxford_flowers102", "102flowers")
LEVELS = ("species",)
SPLIT_KEYS = (("trnid", "train"), ("valid", "val"), ("tstid", "test"))

#: The 102 category names in label order (label 1 = "pink primrose").
CLASS_NAMES = (
    "pink primrose", "hard-leaved pocket orchid", "canterbury bells", "sweet pea",
    "english marigold", "tiger lily", "moon orchid", "bird of paradise", "monkshood",
    "globe thistle", "snapdragon", "colt's foot", "king protea", "spear thistle",
    "yellow iris", "globe-flower", "purple coneflower", "peruvian lily", "balloon flower",
    "giant white arum lily", "fire lily", "pincushion flower", "fritillary", "red ginger",
    "grape hyacinth", "corn poppy", "prince of wales feathers", "stemless gentian",
    "artichoke", "sweet william", "carnation", "garden phlox", "love in the mist",
    "mexican aster", "alpine sea holly", "ruby-lipped cattleya", "cape flower",
    "great masterwort", "siam tulip", "lenten rose", "barbeton daisy", "daffodil",
    "sword lily", "poinsettia", "bolero deep blue", "wallflower", "marigold", "buttercup",
    "oxeye daisy", "common dandelion", "petunia", "wild pansy", "primula", "sunflower",
    "pelargonium", "bishop of llandaff", "gaura", "geranium", "orange dahlia",
    "pink-yellow dahlia", "cautleya spicata", "japanese anemone", "black-eyed susan",
    "silverbush", "californian poppy", "osteospermum", "spring crocus", "bearded iris",
    "windflower", "tree poppy", "gazania", "azalea", "water lily", "rose", "thorn apple",
    "morning glory", "passion flower", "lotus", "toad lily", "anthurium", "frangipani",
    "clematis", "hibiscus", "columbine", "desert-rose", "tree mallow", "magnolia",
    "cyclamen", "watercress", "canna lily", "hippeastrum", "bee balm", "ball moss",
    "foxglove", "bougainvillea", "camellia", "mallow", "mexican petunia", "bromelia",
    "blanket flower", "trumpet creeper", "blackberry lily",
)  # fmt: skip


def image_name(number: int) -> str:
    """1 → ``jpg/image_00001.jpg``."""
    return f"jpg/image_{number:05d}.jpg"


def resolve_root(root: Path) -> Path:
    """The folder holding ``imagelabels.mat``: ``root`` or one of :data:`FOLDERS` under it."""
    return layout.resolve_root(root, "imagelabels.mat", FOLDERS)


def probe(root: Path) -> str | None:
    """``None`` when ``imagelabels.mat`` and ``setid.mat`` are present."""
    base = resolve_root(root)
    return layout.missing_file(base, ("imagelabels.mat", "setid.mat"), "Oxford Flowers102")


def load(root: Path) -> Dataset:
    """Read Flowers102's index from its two .mat files (no image is opened)."""
    base = resolve_root(root)
    labels_path = require_file(base / "imagelabels.mat", "Flowers102's imagelabels.mat")
    setid_path = require_file(base / "setid.mat", "Flowers102's setid.mat")
    raw = np.ravel(mat_vars(labels_path, "labels", what="Flowers102's imagelabels.mat")["labels"])
    labels = [mat_int(labels_path, "labels", i, x) for i, x in enumerate(raw)]
    for i, lab in enumerate(labels):
        if not 1 <= lab <= len(CLASS_NAMES):
            raise DataFormatError(
                labels_path,
                f"labels entry {i + 1} (image_{i + 1:05d}.jpg) is {lab}, "
                f"not a class 1..{len(CLASS_NAMES)}",
            )
    setid = mat_vars(setid_path, *(k for k, _ in SPLIT_KEYS), what="Flowers102's setid.mat")
    categories = tuple(Category(i, n, (n,)) for i, n in enumerate(CLASS_NAMES))
    samples: list[Sample] = []
    split_of: dict[int, str] = {}
    for key, split in SPLIT_KEYS:
        for i, x in enumerate(np.ravel(setid[key])):
            number = mat_int(setid_path, key, i, x)
            if not 1 <= number <= len(labels):
                raise DataFormatError(
                    setid_path,
                    f"{key} entry {i + 1} is image {number}, but imagelabels.mat "
                    f"labels images 1..{len(labels)}",
                )
            if number in split_of:
                raise DataFormatError(
                    setid_path,
                    f"{key} entry {i + 1}: image {number} is already in the "
                    f"{split_of[number]} split",
                )
            split_of[number] = split
            cat = categories[labels[number - 1] - 1]
            samples.append(
                layout.category_sample(cat, f"image_{number:05d}", image_name(number), split, META)
            )
    unassigned = len(labels) - len(split_of)
    skipped = (
        (f"{unassigned} image(s) of imagelabels.mat are in no split of setid.mat",)
        if unassigned
        else ()
    )
    return Dataset(
        name=NAME,
        root=base,
        meta_category=META,
        levels=LEVELS,
        categories=categories,
        samples=tuple(samples),
        layout="Oxford Flowers102",
        skipped=skipped,
    )
