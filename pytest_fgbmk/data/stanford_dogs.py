"""Stanford Dogs in its published layout: ``lists/*.mat`` over ``Images/<wnid>-<breed>/``.

``root`` holds ``lists/`` and ``Images/`` (or is their parent folder ``stanford_dogs/``).
``lists/train_list.mat`` and ``lists/test_list.mat`` each hold ``file_list`` (paths under
``Images/``), ``annotation_list`` and ``labels`` (1-based). The breed's name is the folder
name without its WordNet id, underscores as spaces, in the case the folder has
(``n02085620-Chihuahua`` → ``Chihuahua``, ``n02087046-toy_terrier`` → ``toy terrier``).
Categories are indexed by ``label - 1``; a sample's id is its ``annotation_list`` form
(``n02085620-Chihuahua/n02085620_5927``). Images are not checked at load time; a missing one
is named when it is opened.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pytest_fgbmk.data import layout
from pytest_fgbmk.data.matfile import mat_int, mat_text, mat_vars
from pytest_fgbmk.data.records import Category, Dataset, safe_relpath
from pytest_fgbmk.data.textio import require_file
from pytest_fgbmk.errors import DataFormatError

NAME = "stanford_dogs"
META = "dog"
FOLDERS = ("stanford_dogs", "StanfordDogs", "stanford-dogs", "dogs")
LEVELS = ("species",)
LISTS = {"train": "lists/train_list.mat", "test": "lists/test_list.mat"}


def breed_name(folder: str) -> str:
    """``n02085620-Chihuahua`` → ``Chihuahua``; ``n02087046-toy_terrier`` → ``toy terrier``."""
    _wnid, sep, rest = folder.partition("-")
    return " ".join((rest if sep else folder).replace("_", " ").split())


def resolve_root(root: Path) -> Path:
    """The folder holding ``lists/``: ``root`` itself or one of :data:`FOLDERS` under it."""
    return layout.resolve_root(root, LISTS["train"], FOLDERS)


def probe(root: Path) -> str | None:
    """``None`` when both list files are present."""
    base = resolve_root(root)
    return layout.missing_file(base, LISTS.values(), "Stanford Dogs")


def load(root: Path) -> Dataset:
    """Read Stanford Dogs' index from its two list files (no image is opened)."""
    base = resolve_root(root)
    images = "Images" if (base / "Images").is_dir() or not (base / "images").is_dir() else "images"
    rows: list[tuple[str, str, int, str]] = []  # (file, split, label, folder)
    for split, rel in LISTS.items():
        path = require_file(base / rel, f"Stanford Dogs' {rel}")
        files, labels = _read_list(path)
        for i, (f, label) in enumerate(zip(files, labels, strict=True)):
            inner = safe_relpath(base / images, f, source=path)
            folder = inner.split("/")[0] if "/" in inner else ""
            if not folder:
                raise DataFormatError(
                    path,
                    f"file_list entry {i + 1} ({f!r}) has no breed folder",
                    hint="entries look like n02085620-Chihuahua/n02085620_5927.jpg",
                )
            rows.append((inner, split, label, folder))

    folder_of: dict[int, str] = {}
    seen: dict[str, str] = {}
    for inner, split, label, folder in rows:
        prev = folder_of.setdefault(label, folder)
        if prev != folder:
            raise DataFormatError(
                base / LISTS[split],
                f"label {label} is given to both {prev!r} and {folder!r}",
                hint="each label must name one breed folder",
            )
        if inner in seen:
            raise DataFormatError(
                base / LISTS[split],
                f"duplicate image {inner!r} (also in the {seen[inner]} list)",
            )
        seen[inner] = split
    n = max(folder_of)
    absent = [lab for lab in range(1, n + 1) if lab not in folder_of]
    if absent:
        raise DataFormatError(
            base / LISTS["train"],
            f"labels run to {n} but label {absent[0]} has no image in either list",
            hint="labels must be 1..number of breeds",
        )
    categories = tuple(
        Category(lab - 1, breed_name(folder_of[lab]), (breed_name(folder_of[lab]),))
        for lab in range(1, n + 1)
    )
    samples = tuple(
        layout.category_sample(
            categories[label - 1], inner.rsplit(".", 1)[0], f"{images}/{inner}", split, META
        )
        for inner, split, label, _folder in rows
    )
    return Dataset(
        name=NAME,
        root=base,
        meta_category=META,
        levels=LEVELS,
        categories=categories,
        samples=samples,
        layout="Stanford Dogs",
    )


def _read_list(path: Path) -> tuple[list[str], list[int]]:
    mat = mat_vars(path, "file_list", "labels", what="a Stanford Dogs list file")
    files = [mat_text(path, "file_list", i, x) for i, x in enumerate(np.ravel(mat["file_list"]))]
    raw = np.ravel(mat["labels"])
    if len(raw) != len(files):
        raise DataFormatError(path, f"file_list has {len(files)} entries but labels has {len(raw)}")
    labels = [mat_int(path, "labels", i, x) for i, x in enumerate(raw)]
    for i, lab in enumerate(labels):
        if lab < 1:
            raise DataFormatError(path, f"labels entry {i + 1} is {lab}; labels are 1-based")
    return files, labels
