"""Stanford Cars in its published layout: the devkit's .mat files over ``cars_train/`` and
``cars_test/``.

``root`` holds ``devkit/`` (or is its parent ``stanford_cars/``). Files read:
``devkit/cars_meta.mat`` (``class_names``), ``devkit/cars_train_annos.mat`` and
``cars_test_annos_withlabels.mat`` (in ``root`` as it is downloaded, or in ``devkit/``):
each an ``annotations`` struct array with ``bbox_x1 … bbox_y2``, ``class`` (1-based) and
``fname``. The devkit's own ``cars_test_annos.mat`` has no labels, so it is not enough.

The make → model → year hierarchy is parsed from the class name
(:func:`parse_class_name`). Taxonomy entries are written as a person names the car at each
level: ``("AM General", "AM General Hummer SUV", "AM General Hummer SUV 2000")``; the
category's name is the full class name. Sample ids are ``train/00001`` and ``test/00001``
(the two folders reuse file names). Images are not checked at load time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pytest_fgbmk.data import layout
from pytest_fgbmk.data.matfile import mat_int, mat_text, mat_vars
from pytest_fgbmk.data.records import Category, Dataset, Sample, safe_relpath
from pytest_fgbmk.data.textio import require_file
from pytest_fgbmk.errors import DataFormatError

NAME = "stanford_cars"
META = "car"
FOLDERS = ("stanford_cars", "StanfordCars", "stanford-cars", "cars")
LEVELS = ("make", "model", "year")
META_FILE = "devkit/cars_meta.mat"
TRAIN_FILE = "devkit/cars_train_annos.mat"
TEST_FILE = "cars_test_annos_withlabels.mat"
#: Makes of more than one word (the dataset's three, plus common ones a re-labelled set may use).
MULTI_WORD_MAKES = ("AM General", "Aston Martin", "Land Rover", "Alfa Romeo", "Great Wall")


def parse_class_name(name: str) -> tuple[str, str, str]:
    """``AM General Hummer SUV 2000`` → ``("AM General", "Hummer SUV", "2000")``.

    The year is the last token; the make is a known multi-word make or else the first
    word (``Rolls-Royce``, ``Mercedes-Benz`` are one word); the model is the rest.
    Raises ``ValueError`` when the name has no four-digit year or no model.
    """
    words = name.split()
    if len(words) < 3 or not (len(words[-1]) == 4 and words[-1].isdigit()):
        raise ValueError(f"{name!r} is not '<make> <model> <year>'")
    year = words[-1]
    body = " ".join(words[:-1])
    low = body.lower()
    make = next(
        (m for m in MULTI_WORD_MAKES if low == m.lower() or low.startswith(m.lower() + " ")),
        words[0],
    )
    make = body[: len(make)]
    model = body[len(make) :].strip()
    if not model:
        raise ValueError(f"{name!r} has no model between make and year")
    return make, model, year


def resolve_root(root: Path) -> Path:
    """The folder holding ``devkit/``: ``root`` itself or one of :data:`FOLDERS` under it."""
    return layout.resolve_root(root, META_FILE, FOLDERS)


def _test_file(base: Path) -> Path:
    for candidate in (base / TEST_FILE, base / "devkit" / TEST_FILE):
        if candidate.is_file():
            return candidate
    return base / TEST_FILE


def probe(root: Path) -> str | None:
    """``None`` when the class names and both labelled annotation files are present."""
    base = resolve_root(root)
    names = (META_FILE, TRAIN_FILE, _test_file(base).relative_to(base))
    return layout.missing_file(base, names, "Stanford Cars")


def load(root: Path) -> Dataset:
    """Read Stanford Cars' index from the devkit (no image is opened)."""
    base = resolve_root(root)
    meta_path = require_file(base / META_FILE, "Stanford Cars' class names (devkit)")
    categories = _read_classes(meta_path)
    test_path = _test_file(base)
    if not test_path.is_file():
        raise DataFormatError(
            test_path,
            "missing: expected the labelled test annotations",
            hint="devkit/cars_test_annos.mat has no labels; put "
            "cars_test_annos_withlabels.mat in the dataset root or in devkit/",
        )
    samples: list[Sample] = []
    for split, path, folder in (
        (
            "train",
            require_file(base / TRAIN_FILE, "Stanford Cars' train annotations"),
            "cars_train",
        ),
        ("test", test_path, "cars_test"),
    ):
        seen: dict[str, int] = {}
        for i, (fname, cls) in enumerate(_read_annotations(path)):
            if not 1 <= cls <= len(categories):
                raise DataFormatError(
                    path,
                    f"annotations entry {i + 1}: class {cls} is not in {META_FILE} "
                    f"(1..{len(categories)})",
                )
            rel = safe_relpath(base / folder, fname, source=path)
            if rel in seen:
                raise DataFormatError(
                    path,
                    f"annotations entry {i + 1}: duplicate fname {fname!r} "
                    f"(first at entry {seen[rel] + 1})",
                )
            seen[rel] = i
            cat = categories[cls - 1]
            samples.append(
                layout.category_sample(
                    cat, f"{split}/{rel.rsplit('.', 1)[0]}", f"{folder}/{rel}", split, META
                )
            )
    return Dataset(
        name=NAME,
        root=base,
        meta_category=META,
        levels=LEVELS,
        categories=categories,
        samples=tuple(samples),
        layout="Stanford Cars devkit",
    )


def _read_classes(path: Path) -> tuple[Category, ...]:
    mat = mat_vars(path, "class_names", what="the Stanford Cars devkit's cars_meta.mat")
    names = [
        mat_text(path, "class_names", i, x) for i, x in enumerate(np.ravel(mat["class_names"]))
    ]
    if not names:
        raise DataFormatError(path, "class_names is empty")
    categories = []
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in first:
            raise DataFormatError(
                path, f"class_names entry {i + 1} repeats entry {first[name] + 1}: {name!r}"
            )
        first[name] = i
        try:
            make, model, _year = parse_class_name(name)
        except ValueError as e:
            raise DataFormatError(path, f"class_names entry {i + 1}: {e}") from None
        categories.append(Category(i, name, (make, f"{make} {model}", name)))
    return tuple(categories)


def _read_annotations(path: Path) -> list[tuple[str, int]]:
    """An ``annotations`` struct array → (fname, class) per entry."""
    mat = mat_vars(path, "annotations", what="a Stanford Cars annotations file")
    ann = np.ravel(mat["annotations"])
    fields = ann.dtype.names or ()
    for key in ("fname", "class"):
        if key not in fields:
            raise DataFormatError(
                path,
                f"annotations has no {key!r} field (fields: {', '.join(fields) or 'none'})",
                hint="the labelled file is cars_test_annos_withlabels.mat"
                if key == "class"
                else "",
            )
    return [
        (mat_text(path, "fname", i, ann["fname"][i]), mat_int(path, "class", i, ann["class"][i]))
        for i in range(len(ann))
    ]
