"""Tiny faithful replicas of the classic datasets' published layouts, written by tests.

Each writer reproduces the real file names, column orders and container formats (.mat
files through scipy.io.savemat, CIFAR's pickles as dicts of numpy arrays) and writes small
real JPEG/PNG images where the layout has image files. They return the folder to pass to
the loader.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
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
            if _inside(rel):
                write_image(base / "images" / rel, colour=(40 * c, 10, 10))
    return base


def _inside(rel: str) -> bool:
    """Whether a replica may write this path (the bad-path tests list ones it must not)."""
    return not rel.startswith("/") and ".." not in rel.split("/")


def _cell(strings: list[str]) -> np.ndarray:
    """A MATLAB N×1 cell array of char arrays, as savemat writes Python object arrays."""
    out = np.empty((len(strings), 1), dtype=object)
    for i, s in enumerate(strings):
        out[i, 0] = s
    return out


def _row_cell(strings: list[str]) -> np.ndarray:
    out = np.empty((1, len(strings)), dtype=object)
    for i, s in enumerate(strings):
        out[0, i] = s
    return out


# --- Stanford Dogs ----------------------------------------------------------------

#: (path under Images/, 1-based label, split)
DOGS_FILES = [
    ("n02085620-Chihuahua/n02085620_5927.jpg", 1, "train"),
    ("n02085620-Chihuahua/n02085620_10074.jpg", 1, "test"),
    ("n02087046-toy_terrier/n02087046_1206.jpg", 2, "train"),
    ("n02087046-toy_terrier/n02087046_3,4.jpg", 2, "train"),
    ("n02110806-basenji/n02110806_1013.jpg", 3, "test"),
]


def write_dogs_list(path: Path, rows: list[tuple[str, int]]) -> None:
    import scipy.io

    path.parent.mkdir(parents=True, exist_ok=True)
    files = [f for f, _ in rows]
    scipy.io.savemat(
        str(path),
        {
            "file_list": _cell(files),
            "annotation_list": _cell([f.rsplit(".", 1)[0] for f in files]),
            "labels": np.array([[float(lab)] for _, lab in rows]),
        },
    )


def write_dogs(top: Path, files: list[tuple[str, int, str]] | None = None) -> Path:
    """Write ``top/lists/{train,test}_list.mat`` and ``top/Images/…``."""
    rows = DOGS_FILES if files is None else files
    for split in ("train", "test"):
        write_dogs_list(
            top / "lists" / f"{split}_list.mat", [(f, lab) for f, lab, s in rows if s == split]
        )
    write_dogs_list(top / "lists" / "file_list.mat", [(f, lab) for f, lab, _ in rows])
    for f, lab, _ in rows:
        if _inside(f):
            write_image(top / "Images" / f, colour=(10, 60 * lab, 10))
    return top


# --- Stanford Cars ----------------------------------------------------------------

CARS_CLASSES = [
    "AM General Hummer SUV 2000",
    "Aston Martin V8 Vantage Convertible 2012",
    "Rolls-Royce Phantom Drophead Coupe Convertible 2012",
    "Ram C/V Cargo Van Minivan 2012",
]
#: (split, fname, 1-based class)
CARS_IMAGES = [
    ("train", "00001.jpg", 1),
    ("train", "00002.jpg", 2),
    ("train", "00003.jpg", 4),
    ("test", "00001.jpg", 1),
    ("test", "00002,b.jpg", 3),
]


def write_cars_annotations(path: Path, rows: list[tuple[str, int]], *, labels: bool = True) -> None:
    """An ``annotations`` 1×N struct array with the devkit's field order."""
    import scipy.io

    names = ["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", *(["class"] if labels else []), "fname"]
    ann = np.empty((1, len(rows)), dtype=[(n, object) for n in names])
    for i, (fname, cls) in enumerate(rows):
        box = {"bbox_x1": 39, "bbox_y1": 116, "bbox_x2": 569, "bbox_y2": 375}
        for n, v in box.items():
            ann[n][0, i] = np.array([[v]], dtype=np.uint16)
        if labels:
            ann["class"][0, i] = np.array([[cls]], dtype=np.uint8)
        ann["fname"][0, i] = fname
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(str(path), {"annotations": ann})


def write_cars(
    top: Path,
    *,
    images: list[tuple[str, str, int]] | None = None,
    classes: list[str] | None = None,
    test_in_devkit: bool = False,
) -> Path:
    """Write ``top/devkit/*.mat``, ``top/cars_test_annos_withlabels.mat`` and the images."""
    import scipy.io

    rows = CARS_IMAGES if images is None else images
    (top / "devkit").mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(
        str(top / "devkit" / "cars_meta.mat"),
        {"class_names": _row_cell(CARS_CLASSES if classes is None else classes)},
    )
    train = [(f, c) for s, f, c in rows if s == "train"]
    test = [(f, c) for s, f, c in rows if s == "test"]
    write_cars_annotations(top / "devkit" / "cars_train_annos.mat", train)
    write_cars_annotations(top / "devkit" / "cars_test_annos.mat", test, labels=False)
    test_dir = top / "devkit" if test_in_devkit else top
    write_cars_annotations(test_dir / "cars_test_annos_withlabels.mat", test)
    for s, f, c in rows:
        if _inside(f):
            write_image(top / f"cars_{s}" / f, colour=(10, 10, 50 * c))
    return top


# --- FGVC-Aircraft ----------------------------------------------------------------

#: (image id, split, variant, family, manufacturer)
AIRCRAFT_IMAGES = [
    ("1025794", "train", "707-320", "Boeing 707", "Boeing"),
    ("1340192", "train", "737-800", "Boeing 737", "Boeing"),
    ("0056978", "val", "737-800", "Boeing 737", "Boeing"),
    ("1514522", "test", "Cessna 172", "Cessna 172", "Cessna"),
    ("0913587", "test", "DC-3", "DC-3", "Douglas Aircraft Company"),
    ("2074539", "train", "Tu-134", "Tu-134", "Tupolev"),
    ("0062835", "test", "BAE 146-200", "BAE 146", "British Aerospace"),
]
AIRCRAFT_VARIANTS = ["707-320", "737-800", "BAE 146-200", "Cessna 172", "DC-3", "Tu-134"]


def write_aircraft(top: Path, images: list[tuple[str, str, str, str, str]] | None = None) -> Path:
    """Write ``top/data/…`` as fgvc-aircraft-2013b has it."""
    rows = AIRCRAFT_IMAGES if images is None else images
    data = top / "data"
    write_text(data / "variants.txt", AIRCRAFT_VARIANTS)
    write_text(data / "families.txt", sorted({r[3] for r in AIRCRAFT_IMAGES}))
    write_text(data / "manufacturers.txt", sorted({r[4] for r in AIRCRAFT_IMAGES}))
    for split in ("train", "val", "test", "trainval"):
        chosen = [r for r in rows if r[1] == split or (split == "trainval" and r[1] != "test")]
        for col, kind in ((2, "variant"), (3, "family"), (4, "manufacturer")):
            write_text(data / f"images_{kind}_{split}.txt", [f"{r[0]} {r[col]}" for r in chosen])
    write_text(data / "images_box.txt", [f"{r[0]} 3 144 998 431" for r in rows])
    for r in rows:
        if _inside(r[0]):
            write_image(data / "images" / f"{r[0]}.jpg")
    return top


# --- Oxford Flowers102 ------------------------------------------------------------

FLOWERS_LABELS = [77, 77, 1, 102, 1, 50, 77]  # image_00001 … image_00007
FLOWERS_SETID = {"trnid": [1, 3, 6], "valid": [4], "tstid": [2, 5, 7]}


def write_flowers(
    top: Path, labels: list[int] | None = None, setid: dict[str, list[int]] | None = None
) -> Path:
    import scipy.io

    labels = FLOWERS_LABELS if labels is None else labels
    setid = FLOWERS_SETID if setid is None else setid
    top.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(str(top / "imagelabels.mat"), {"labels": np.array([labels], dtype=np.uint8)})
    scipy.io.savemat(
        str(top / "setid.mat"),
        {k: np.array([v], dtype=np.uint16) for k, v in setid.items()},
    )
    for i in range(1, len(labels) + 1):
        write_image(top / "jpg" / f"image_{i:05d}.jpg")
    return top


# --- Food-101 ---------------------------------------------------------------------

FOOD_CLASSES = [("apple_pie", "Apple pie"), ("eggs_benedict", "Eggs benedict"), ("pho", "Pho")]
FOOD_TRAIN = ["apple_pie/1005649", "apple_pie/1014775", "eggs_benedict/100,25", "pho/1004763"]
FOOD_TEST = ["apple_pie/1011328", "eggs_benedict/1044601"]


def write_food(top: Path, train: list[str] | None = None, test: list[str] | None = None) -> Path:
    train = FOOD_TRAIN if train is None else train
    test = FOOD_TEST if test is None else test
    meta = top / "meta"
    write_text(meta / "classes.txt", [c for c, _ in FOOD_CLASSES])
    write_text(meta / "labels.txt", [n for _, n in FOOD_CLASSES])
    write_text(meta / "train.txt", train)
    write_text(meta / "test.txt", test)
    for entry in [*train, *test]:
        if _inside(entry):
            write_image(top / "images" / f"{entry}.jpg")
    return top


# --- CIFAR-100 --------------------------------------------------------------------

CIFAR_FINE = ["apple", "aquarium_fish", "otter", "maple_tree"]
CIFAR_COARSE = ["aquatic_mammals", "fish", "fruit_and_vegetables", "trees"]
#: (fine label, coarse label, filename) per split.
CIFAR_ROWS = {
    "train": [
        (0, 2, "apple_s_000022.png"),
        (2, 0, "otter_s_000307.png"),
        (3, 3, "maple_s_00001.png"),
    ],
    "test": [(1, 1, "aquarium_fish_s_000126.png"), (0, 2, "apple_s_001235.png")],
}


def cifar_pixels(n: int, seed: int) -> np.ndarray:
    """N×3072 uint8 rows (R plane, G plane, B plane), random but reproducible."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, 3072), dtype=np.uint8)


def write_cifar(top: Path, rows: dict[str, list[tuple[int, int, str]]] | None = None) -> Path:
    """``top/cifar-100-python/{train,test,meta}`` pickled as the release has them."""
    rows = CIFAR_ROWS if rows is None else rows
    base = top / "cifar-100-python"
    base.mkdir(parents=True, exist_ok=True)
    for seed, split in enumerate(("train", "test")):
        r = rows[split]
        batch = {
            "filenames": [f for _, _, f in r],
            "batch_label": f"{split}ing batch 1 of 1",
            "fine_labels": [f for f, _, _ in r],
            "coarse_labels": [c for _, c, _ in r],
            "data": cifar_pixels(len(r), seed),
        }
        with (base / split).open("wb") as fh:
            pickle.dump(batch, fh, protocol=2)
    with (base / "meta").open("wb") as fh:
        pickle.dump(
            {"fine_label_names": CIFAR_FINE, "coarse_label_names": CIFAR_COARSE}, fh, protocol=2
        )
    return base
