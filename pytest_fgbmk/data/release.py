"""The FG-BMK release's split layout: ``classes.txt`` + headerless ``train.csv``/``test.csv``.

``classes.txt`` holds one class name per line (class index = line number − 1). Each split
file holds one image per line, ``relpath,label`` or, for a multi-label dataset such as
SkinCon, ``relpath,l1 l2 l3`` (0-based indices, space separated). The label is after the
*last* comma, so a path may itself contain commas; a path wrapped in double quotes (CSV
style) is unquoted. An optional ``val.csv`` becomes split ``val``.

The split files sit in one folder (e.g. the release's ``machine-oriented/cub/``) and the
paths are relative to the dataset's image root, which defaults to that same folder.
Images are not opened or stat'ed while loading; a missing one is reported when opened.
"""

from __future__ import annotations

from pathlib import Path

from pytest_fgbmk.data import layout
from pytest_fgbmk.data.records import Category, Dataset, Sample, safe_relpath
from pytest_fgbmk.data.textio import read_lines, require_file
from pytest_fgbmk.errors import DataFormatError

NAME = "fgbmk_release"
META = "generic"
FOLDERS = ("fgbmk_release", "release", "machine-oriented")
LEVELS = ("category",)
SPLIT_FILES = (("train.csv", "train"), ("val.csv", "val"), ("test.csv", "test"))

#: Meta-category of the release's datasets, by the folder name the release uses.
KNOWN_META = {
    "cub": "bird",
    "stanforddog": "dog",
    "stanford_dogs": "dog",
    "stanfordcar": "car",
    "stanford_cars": "car",
    "aircraft": "aircraft",
    "fgvc_aircraft": "aircraft",
    "flower": "flower",
    "flowers102": "flower",
    "food": "food",
    "food101": "food",
    "inat2021": "natural",
    "vegfru": "vegetable_fruit",
    "products10k": "product",
    "deepfashion": "clothing",
    "skincon": "skin",
    "wine": "wine",
    "cifar100": "generic",
}

_EXPECTED = "'relpath,label' or 'relpath,l1 l2 ...' (0-based class indices after the last comma)"


def probe(root: Path) -> str | None:
    """``None`` when ``classes.txt`` and ``train.csv`` or ``test.csv`` are at ``root``."""
    root = Path(root)
    has_split = (root / "train.csv").is_file() or (root / "test.csv").is_file()
    if (root / "classes.txt").is_file() and has_split:
        return None
    return f"classes.txt with train.csv / test.csv in {root}"


def load(
    root: Path,
    *,
    image_root: Path | None = None,
    name: str | None = None,
    meta: str | None = None,
) -> Dataset:
    """Read the split files in ``root``; image paths resolve under ``image_root`` (or ``root``).

    ``name`` defaults to the folder's name (``cub``, ``skincon`` …) and ``meta`` to that
    dataset's meta-category when the release names it, else ``generic``.
    """
    root = Path(root)
    image_root = Path(image_root) if image_root is not None else root
    name = name or root.name.lower() or NAME
    meta = meta or KNOWN_META.get(name, META)
    categories = read_classes(require_file(root / "classes.txt", "one class name per line"))
    present = [(root / f, s) for f, s in SPLIT_FILES if (root / f).is_file()]
    if not present:
        raise DataFormatError(
            root / "train.csv",
            "missing: expected train.csv and/or test.csv (headerless 'relpath,label' lines)",
        )
    samples: list[Sample] = []
    seen: dict[str, str] = {}
    multilabel = False
    for path, split in present:
        for lineno, rel, labels in read_split_file(path, len(categories), image_root):
            first = seen.get(rel)
            if first is not None:
                raise DataFormatError(
                    path,
                    f"duplicate image {rel!r} (first listed at {first})",
                    line=lineno,
                    hint="each image belongs to exactly one split, once",
                )
            seen[rel] = f"{path.name}:{lineno}"
            cat = categories[labels[0]]
            multi = len(labels) > 1
            multilabel = multilabel or multi
            samples.append(layout.category_sample(cat, rel, rel, split, meta, labels=labels))
    if not multilabel:
        samples = [_single(s) for s in samples]
    return Dataset(
        name=name,
        root=image_root,
        meta_category=meta,
        levels=LEVELS,
        categories=categories,
        samples=tuple(samples),
        multilabel=multilabel,
        layout=NAME,
    )


def _single(s: Sample) -> Sample:
    return Sample(s.id, s.path, s.category, s.category_name, s.split, s.taxonomy, (), s.meta)


def read_classes(path: Path) -> tuple[Category, ...]:
    """``classes.txt``: class ``i`` is on line ``i + 1``; blank lines inside are refused."""
    names: list[str] = []
    first_line: dict[str, int] = {}
    for lineno, line in read_lines(path):
        if lineno != len(names) + 1:
            raise DataFormatError(
                path,
                f"blank line before line {lineno}: class indices are line numbers − 1",
                line=lineno - 1,
                hint="remove the blank line (or the file's classes shift)",
            )
        if line in first_line:
            raise DataFormatError(
                path, f"class name {line!r} repeats line {first_line[line]}", line=lineno
            )
        first_line[line] = lineno
        names.append(line)
    if not names:
        raise DataFormatError(path, "holds no class names")
    return tuple(Category(i, n, (n,)) for i, n in enumerate(names))


def read_split_file(
    path: Path, n_classes: int, image_root: Path
) -> list[tuple[int, str, tuple[int, ...]]]:
    """(line, relative path, labels) for every line of a headerless split file."""
    out: list[tuple[int, str, tuple[int, ...]]] = []
    for lineno, line in read_lines(path):
        rel, sep, label_text = line.rpartition(",")
        if not sep or not rel.strip() or not label_text.strip():
            raise DataFormatError(path, f"expected {_EXPECTED}, got {line!r}", line=lineno)
        rel = rel.strip()
        if len(rel) >= 2 and rel[0] == rel[-1] == '"':
            rel = rel[1:-1].replace('""', '"')
        try:
            labels = tuple(int(t) for t in label_text.split())
        except ValueError:
            raise DataFormatError(
                path, f"expected {_EXPECTED}, got labels {label_text.strip()!r}", line=lineno
            ) from None
        for lab in labels:
            if not 0 <= lab < n_classes:
                raise DataFormatError(
                    path,
                    f"class index {lab} is not in classes.txt (0..{n_classes - 1})",
                    line=lineno,
                )
        if len(set(labels)) != len(labels):
            raise DataFormatError(path, f"repeated class index in {label_text!r}", line=lineno)
        out.append((lineno, safe_relpath(image_root, rel, source=path, line=lineno), labels))
    return out
