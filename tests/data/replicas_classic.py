"""Tiny faithful replicas of the classic datasets' published layouts, written by tests.

Each writer reproduces the real file names, column orders and container formats (.mat
files through scipy.io.savemat, CIFAR's pickles as dicts of numpy arrays) and writes small
real JPEG/PNG images where the layout has image files. They return the folder to pass to
the loader.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image


def write_image(path: Path, colour: tuple[int, int, int] = (200, 30, 30), size: int = 8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), colour).save(path)


def write_text(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


# --- CUB-200-2011 -----------------------------------------------------------------

CUB_CLASSES = ["001.Black_footed_Albatross", "002.Laysan_Albatross", "036.Northern_Flicker"]
#: (image id, relative path under images/, class id, is_training_image)
CUB_IMAGES = [
    (1, "001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg", 1, 0),
    (2, "001.Black_footed_Albatross/Black_Footed_Albatross_0009_34.jpg", 1, 1),
    (3, "002.Laysan_Albatross/Laysan_Albatross_0002_1027.jpg", 2, 1),
    (4, "002.Laysan_Albatross/Laysan_Albatross_0003_1033.jpg", 2, 0),
    (5, "036.Northern_Flicker/Northern_Flicker_0001_28,5.jpg", 3, 1),
]
CUB_ATTRIBUTES = [
    "has_bill_shape::curved_(up_or_down)",
    "has_bill_shape::dagger",
    "has_wing_color::blue",
    "has_wing_color::brown",
    "has_wing_color::black",
    "has_size::large_(16_-_32_in)",
    "has_breast_pattern::solid",
]
#: (image id, attribute id, is_present, certainty id, time) — some with trailing extras.
CUB_LABELS = [
    "1 1 1 4 27.7080",
    "1 2 0 3 27.7080",
    "1 3 0 3 5.4150",
    "1 4 1 3 5.4150",
    "1 5 1 2 5.4150",
    "1 6 1 4 3.0",
    "1 7 0 1 3.0",
    "2 2 1 3 10.5",
    "2 4 1 1 4.0 0",
    "3 1 0 1 2.1",
    "3 5 1 4 2.1 1 extra",
    "5 7 1 3 8.25",
]
CUB_CERTAINTIES = ["1 not visible", "2 guessing", "3 probably", "4 definitely"]


def write_cub(
    top: Path,
    *,
    attributes_in_parent: bool = True,
    images: list[tuple[int, str, int, int]] | None = None,
    write_images: bool = True,
) -> Path:
    """Write ``top/CUB_200_2011/…`` (attributes.txt in ``top`` as the tarball has it)."""
    base = top / "CUB_200_2011"
    rows = CUB_IMAGES if images is None else images
    write_text(base / "classes.txt", [f"{i} {c}" for i, c in enumerate(CUB_CLASSES, 1)])
    write_text(base / "images.txt", [f"{i} {p}" for i, p, _c, _s in rows])
    write_text(base / "image_class_labels.txt", [f"{i} {c}" for i, _p, c, _s in rows])
    write_text(base / "train_test_split.txt", [f"{i} {s}" for i, _p, _c, s in rows])
    attr_dir = top if attributes_in_parent else base
    write_text(attr_dir / "attributes.txt", [f"{i} {a}" for i, a in enumerate(CUB_ATTRIBUTES, 1)])
    write_text(base / "attributes" / "image_attribute_labels.txt", CUB_LABELS)
    write_text(base / "attributes" / "certainties.txt", CUB_CERTAINTIES)
    write_text(base / "bounding_boxes.txt", [f"{i} 10.0 20.0 30.0 40.0" for i, *_ in rows])
    if write_images:
        for _i, rel, c, _s in rows:
            write_image(base / "images" / rel, colour=(40 * c, 10, 10))
    return base
