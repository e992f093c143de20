"""Food-101 in its published layout: ``meta/*.txt`` over ``images/<class>/<id>.jpg``.

``root`` holds ``meta/`` and ``images/`` (``food-101/``) or is their parent. Files read:
``meta/classes.txt`` (``apple_pie``), ``meta/labels.txt`` (``Apple pie``, line-aligned with
classes.txt), ``meta/train.txt`` and ``meta/test.txt`` (``apple_pie/1005649``). The
category's name is its labels.txt name as the dataset writes it; the class-folder form
with spaces (``apple pie``) is kept as a synonym. Sample ids are the list entries.
Images are not checked at load time; a missing one is named when opened.
"""

from __future__ import annotations

from pathlib import Path

from pytest_fgbmk.data import layout
from pytest_fgbmk.data.records import Category, Dataset, Sample, safe_relpath
from pytest_fgbmk.data.synonyms import checked_synonyms
from pytest_fgbmk.data.textio import read_lines, require_file
from pytest_fgbmk.errors import DataFormatError

NAME = "food101"
META = "food"
FOLDERS = ("food-101", "food101", "food_101")
LEVELS = ("dish",)
SPLITS = ("train", "test")


def resolve_root(root: Path) -> Path:
    """The folder holding ``meta/classes.txt``: ``root`` or one of :data:`FOLDERS` under it."""
    return layout.resolve_root(root, "meta/classes.txt", FOLDERS)


def probe(root: Path) -> str | None:
    """``None`` when ``meta/classes.txt``, ``train.txt`` and ``test.txt`` are present."""
    meta = resolve_root(root) / "meta"
    return layout.missing_file(meta, ("classes.txt", "train.txt", "test.txt"), "Food-101")


def load(root: Path) -> Dataset:
    """Read Food-101's index from ``meta/`` (no image is opened)."""
    base = resolve_root(root)
    meta = base / "meta"
    categories, index_of = _read_classes(meta)
    categories, dropped = checked_synonyms(categories, LEVELS)
    samples: list[Sample] = []
    seen: dict[str, tuple[Path, int]] = {}
    for split in SPLITS:
        path = require_file(meta / f"{split}.txt", f"Food-101's <class>/<image id> {split} list")
        for lineno, line in read_lines(path):
            entry = safe_relpath(base / "images", line, source=path, line=lineno)
            cls, sep, image = entry.partition("/")
            if not sep or not image or "/" in image:
                raise DataFormatError(
                    path, f"expected <class>/<image id>, got {line!r}", line=lineno
                )
            if cls not in index_of:
                raise DataFormatError(
                    path,
                    f"unknown class {cls!r}",
                    line=lineno,
                    hint="it is not listed in meta/classes.txt",
                )
            if entry in seen:
                p, n = seen[entry]
                raise DataFormatError(
                    path, f"duplicate image {entry!r} (first at {p.name}:{n})", line=lineno
                )
            seen[entry] = (path, lineno)
            cat = categories[index_of[cls]]
            samples.append(layout.category_sample(cat, entry, f"images/{entry}.jpg", split, META))
    return Dataset(
        name=NAME,
        root=base,
        meta_category=META,
        levels=LEVELS,
        categories=categories,
        samples=tuple(samples),
        layout="Food-101",
        skipped=dropped,
    )


def _read_classes(meta: Path) -> tuple[tuple[Category, ...], dict[str, int]]:
    classes_path = require_file(meta / "classes.txt", "Food-101's class folder names")
    classes = list(read_lines(classes_path))
    labels_path = meta / "labels.txt"
    labels = list(read_lines(labels_path)) if labels_path.is_file() else None
    if labels is not None and len(labels) != len(classes):
        raise DataFormatError(
            labels_path,
            f"has {len(labels)} names but classes.txt has {len(classes)} classes",
            hint="the two files are line-aligned",
        )
    index_of: dict[str, int] = {}
    categories = []
    for i, (lineno, cls) in enumerate(classes):
        if cls in index_of:
            raise DataFormatError(
                classes_path,
                f"duplicate class {cls!r} (first on line {classes[index_of[cls]][0]})",
                line=lineno,
            )
        if "/" in cls or cls in (".", ".."):
            raise DataFormatError(classes_path, f"{cls!r} is not a folder name", line=lineno)
        index_of[cls] = i
        plain = " ".join(cls.replace("_", " ").split())
        name = labels[i][1] if labels is not None else plain
        categories.append(Category(i, name, (name,), (plain,) if plain != name else ()))
    if not categories:
        raise DataFormatError(classes_path, "lists no classes")
    return tuple(categories), index_of
