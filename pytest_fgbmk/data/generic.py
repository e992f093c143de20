"""Anyone's own data: an ImageFolder tree, or a CSV manifest.

ImageFolder: ``root/<split>/<class>/<image>`` (split folders named ``train``, ``val``,
``test``) or ``root/<class>/<image>``, split deterministically by :func:`hash_split`.
Class folder names become display names (``001.Black_footed_Albatross`` → ``Black footed
Albatross``).

CSV manifest (``root/manifest.csv``, header required): ``path,label,split`` plus optional
taxonomy columns ``level:<name>`` (coarse → fine, left to right; the label is the finest
level, ``category``) and attribute columns ``attr:<group>`` whose values are separated by
``|``. A label holding ``|`` makes the dataset multi-label. Without a ``split`` column the
rows are split by :func:`hash_split`.

Synonyms (other names that count as naming a class, e.g. its scientific name): an optional
column ``synonyms`` holds the label's, and ``synonyms:<name>`` those of the taxonomy level
``level:<name>``, each separated by ``|``. A class's synonyms need be given on one row only
(an empty cell says nothing); two rows giving it different ones are refused, as is a
synonym on a multi-label row. A synonym that clashes with another class's name at its level
is dropped and counted in ``Dataset.skipped`` (:mod:`pytest_fgbmk.data.synonyms`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pytest_fgbmk.data import layout
from pytest_fgbmk.data.records import (
    SPLITS,
    Annotation,
    AttributeGroup,
    Category,
    Dataset,
    Sample,
    safe_relpath,
)
from pytest_fgbmk.data.synonyms import checked_synonyms
from pytest_fgbmk.data.textio import read_csv_rows
from pytest_fgbmk.errors import DataFormatError
from pytest_fgbmk.hashing import sha256_int

NAME = "generic"
META = "generic"
FOLDERS = ("generic", "custom", "imagefolder")
MANIFEST = "manifest.csv"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
DEFAULT_TEST_FRACTION = 0.2

_PREFIX = re.compile(r"^\d+[._\-\s]+")


def hash_split(key: str, seed: int = 0, test_fraction: float = DEFAULT_TEST_FRACTION) -> str:
    """``test`` or ``train`` for ``key``: stable under reordering, adding or removing items."""
    return "test" if sha256_int(f"{seed}\0{key}", 8) / 2**64 < test_fraction else "train"


def display_name(folder: str) -> str:
    """A folder name as a person writes it: no numeric prefix, no underscores."""
    name = _PREFIX.sub("", folder).replace("_", " ")
    return " ".join(name.split()) or folder


def probe(root: Path) -> str | None:
    """``None`` for a manifest.csv or an ImageFolder tree at ``root``; else what was sought."""
    root = Path(root)
    if (root / MANIFEST).is_file() or _image_folder_splits(root) is not None:
        return None
    return f"{MANIFEST}, or class folders of images (optionally under train/ val/ test/) in {root}"


def load(
    root: Path,
    *,
    name: str = NAME,
    meta: str = META,
    seed: int = 0,
    test_fraction: float = DEFAULT_TEST_FRACTION,
) -> Dataset:
    """Read ``root/manifest.csv`` if present, else the ImageFolder tree at ``root``."""
    root = Path(root)
    if (root / MANIFEST).is_file():
        return load_manifest(
            root / MANIFEST, name=name, meta=meta, seed=seed, test_fraction=test_fraction
        )
    return load_image_folder(root, name=name, meta=meta, seed=seed, test_fraction=test_fraction)


# --- ImageFolder ----------------------------------------------------------------------------


def _entries(folder: Path) -> list[os.DirEntry]:
    with os.scandir(folder) as it:
        return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)


def _is_image(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def _class_tree(folder: Path) -> bool:
    """Only class folders here, each holding at least one image file directly."""
    entries = _entries(folder)
    if not entries or not all(e.is_dir() for e in entries):
        return False
    return all(
        any(f.is_file() and _is_image(f.name) for f in _entries(Path(e.path))) for e in entries
    )


def _image_folder_splits(root: Path) -> tuple[str, ...] | None:
    """``()`` for root/<class>/…, the split names for root/<split>/<class>/…, else None."""
    if not root.is_dir():
        return None
    entries = _entries(root)
    names = {e.name for e in entries if e.is_dir()}
    if names and names <= set(SPLITS) and len(names) == len(entries):
        splits = tuple(s for s in SPLITS if s in names)
        return splits if all(_class_tree(root / s) for s in splits) else None
    return () if _class_tree(root) else None


def _check_utf8(path: Path, what: str) -> None:
    """Refuse a file or folder whose name is not UTF-8 (a Latin-1 ``café`` on Linux): the
    name becomes a class name, a sample id and a stable hash, all UTF-8 text."""
    try:
        path.name.encode("utf-8")
    except UnicodeEncodeError:
        raise DataFormatError(
            path,
            f"the {what} name is not UTF-8 (shown with its raw bytes as \\xNN)",
            hint="rename it in UTF-8, e.g. convmv -f latin1 -t utf-8 --notest -r on the "
            "dataset folder, and rerun",
        ) from None


def load_image_folder(
    root: Path,
    *,
    name: str = NAME,
    meta: str = META,
    seed: int = 0,
    test_fraction: float = DEFAULT_TEST_FRACTION,
) -> Dataset:
    """Read an ImageFolder tree (see the module docstring)."""
    root = Path(root)
    splits = _image_folder_splits(root)
    if splits is None:
        raise DataFormatError(
            root,
            "not an ImageFolder tree: expected class folders holding images, "
            "optionally under train/ val/ test/",
            hint=f"or write a {MANIFEST} (path,label,split)",
        )
    listing: list[tuple[str | None, str, list[str]]] = []
    for split in splits or (None,):
        base = root / split if split else root
        for entry in _entries(base):
            _check_utf8(Path(entry.path), "class folder")
            files = [f.name for f in _entries(Path(entry.path)) if f.is_file()]
            for f in files:
                if _is_image(f):
                    _check_utf8(Path(entry.path) / f, "image file")
            listing.append((split, entry.name, files))
    folders = sorted({folder for _, folder, _ in listing})
    display = [display_name(f) for f in folders]
    clash = {d for d in display if display.count(d) > 1}
    if clash:
        raise DataFormatError(
            root, f"class folders give the same name {sorted(clash)[0]!r}", hint="rename one"
        )
    index_of = {f: i for i, f in enumerate(folders)}
    categories = tuple(Category(i, d, (d,)) for i, d in enumerate(display))
    samples: list[Sample] = []
    ignored = 0
    for split, folder, files in listing:
        cat = categories[index_of[folder]]
        prefix = f"{split}/{folder}" if split else folder
        for f in files:
            if not _is_image(f):
                ignored += 1
                continue
            rel = f"{prefix}/{f}"
            s = split or hash_split(rel, seed, test_fraction)
            samples.append(layout.category_sample(cat, rel, rel, s, meta))
    skipped = (f"{ignored} file(s) without an image suffix were left out",) if ignored else ()
    return Dataset(
        name=name,
        root=root,
        meta_category=meta,
        levels=("category",),
        categories=categories,
        samples=tuple(samples),
        layout="imagefolder",
        skipped=skipped,
    )


# --- CSV manifest ---------------------------------------------------------------------------


def load_manifest(
    path: Path,
    *,
    name: str = NAME,
    meta: str = META,
    seed: int = 0,
    test_fraction: float = DEFAULT_TEST_FRACTION,
) -> Dataset:
    """Read a CSV manifest; image paths are relative to the manifest's folder."""
    path = Path(path)
    root = path.parent
    rows = read_csv_rows(path, header=False)
    try:
        _, header = next(rows)
    except StopIteration:
        raise DataFormatError(path, "is empty: expected a header path,label[,split]") from None
    cols = [h.strip() for h in header]
    for required in ("path", "label"):
        if required not in cols:
            raise DataFormatError(
                path,
                f"header lacks a {required!r} column (got {','.join(cols)})",
                line=1,
                hint="columns: path,label,split, level:<name>…, attr:<group>…",
            )
    known = {"path", "label", "split", "synonyms"}
    for c in cols:
        if c not in known and not c.startswith(("level:", "attr:", "synonyms:")):
            raise DataFormatError(
                path,
                f"unknown column {c!r}",
                line=1,
                hint="use level:<name>, attr:<group>, synonyms or synonyms:<level name>",
            )
    i_path, i_label = cols.index("path"), cols.index("label")
    i_split = cols.index("split") if "split" in cols else None
    level_cols = [(i, c[6:].strip()) for i, c in enumerate(cols) if c.startswith("level:")]
    attr_cols = [(i, c[5:].strip()) for i, c in enumerate(cols) if c.startswith("attr:")]
    level_at = {n: j for j, (_, n) in enumerate(level_cols)}
    # (column, taxonomy position: a level's index, or len(level_cols) for the label)
    synonym_cols: list[tuple[int, int]] = []
    for i, c in enumerate(cols):
        if c == "synonyms":
            synonym_cols.append((i, len(level_cols)))
        elif c.startswith("synonyms:"):
            lvl = c[9:].strip()
            if lvl not in level_at:
                raise DataFormatError(
                    path,
                    f"column {c!r} names no taxonomy level (levels: "
                    f"{', '.join(level_at) or 'none'})",
                    line=1,
                    hint="synonyms:<name> needs a level:<name> column; the label's are 'synonyms'",
                )
            synonym_cols.append((i, level_at[lvl]))
    #: (taxonomy position, name) → (synonyms, line that gave them)
    synonyms_of: dict[tuple[int, str], tuple[tuple[str, ...], int]] = {}

    labels_order: list[str] = []
    taxonomy_of: dict[str, tuple[tuple[str, ...], int]] = {}
    attr_values: dict[str, list[str]] = {g: [] for _, g in attr_cols}
    attr_multi: dict[str, bool] = {g: False for _, g in attr_cols}
    rows_out: list[tuple[int, str, list[str], str, tuple[Annotation, ...]]] = []
    seen: dict[str, int] = {}
    multilabel = False
    for lineno, row in rows:
        if len(row) != len(cols):
            raise DataFormatError(
                path,
                f"expected {len(cols)} fields ({','.join(cols)}), got {len(row)}",
                line=lineno,
            )
        rel = safe_relpath(root, row[i_path], source=path, line=lineno)
        if rel in seen:
            raise DataFormatError(
                path, f"duplicate image {rel!r} (first at line {seen[rel]})", line=lineno
            )
        seen[rel] = lineno
        labels = list(dict.fromkeys(x.strip() for x in row[i_label].split("|") if x.strip()))
        if not labels:
            raise DataFormatError(path, "empty label", line=lineno)
        multilabel = multilabel or len(labels) > 1
        ancestors = tuple(row[i].strip() for i, _ in level_cols)
        if any(not a for a in ancestors):
            raise DataFormatError(path, "an empty taxonomy level", line=lineno)
        for i, at in synonym_cols:
            given = tuple(dict.fromkeys(v.strip() for v in row[i].split("|") if v.strip()))
            if not given:
                continue
            if at == len(level_cols) and len(labels) > 1:
                raise DataFormatError(
                    path,
                    f"synonyms on a row with several labels ({'|'.join(labels)}): whose are they?",
                    line=lineno,
                    hint="give a class's synonyms on a row where it is the only label",
                )
            key = (at, labels[0] if at == len(level_cols) else ancestors[at])
            old_syn = synonyms_of.setdefault(key, (given, lineno))
            if old_syn[0] != given:
                raise DataFormatError(
                    path,
                    f"{key[1]!r} has synonyms {'|'.join(given)} here but "
                    f"{'|'.join(old_syn[0])} at line {old_syn[1]}",
                    line=lineno,
                    hint="give each name's synonyms once, or the same on every row",
                )
        for lab in labels:
            taxonomy = (*ancestors, lab)
            old = taxonomy_of.setdefault(lab, (taxonomy, lineno))
            if old[0] != taxonomy:
                raise DataFormatError(
                    path,
                    f"label {lab!r} has taxonomy {'/'.join(taxonomy)} here but "
                    f"{'/'.join(old[0])} at line {old[1]}",
                    line=lineno,
                )
            if old[1] == lineno:
                labels_order.append(lab)
        split = row[i_split].strip().lower() if i_split is not None else ""
        if i_split is not None and split not in SPLITS:
            raise DataFormatError(
                path, f"split must be one of {', '.join(SPLITS)}, got {split!r}", line=lineno
            )
        split = split or hash_split(rel, seed, test_fraction)
        ann: list[Annotation] = []
        for i, group in attr_cols:
            values = [v.strip() for v in row[i].split("|") if v.strip()]
            attr_multi[group] = attr_multi[group] or len(values) > 1
            for v in values:
                if v not in attr_values[group]:
                    attr_values[group].append(v)
                ann.append(Annotation(group, v))
        rows_out.append((lineno, rel, labels, split, tuple(ann)))
    if not rows_out:
        raise DataFormatError(path, "lists no images")

    levels = (*(n for _, n in level_cols), "category")
    categories, dropped = checked_synonyms(
        [
            _manifest_category(i, lab, taxonomy_of[lab][0], synonyms_of)
            for i, lab in enumerate(labels_order)
        ],
        levels,
    )
    index_of = {c.name: c.index for c in categories}
    samples = []
    for _, rel, labels, split, ann in rows_out:
        idx = [index_of[lab] for lab in labels]
        cat = categories[idx[0]]
        samples.append(
            layout.category_sample(
                cat, rel, rel, split, meta, annotations=ann, labels=tuple(idx) if multilabel else ()
            )
        )
    groups = tuple(
        AttributeGroup(g, tuple(attr_values[g]), "other", attr_multi[g]) for _, g in attr_cols
    )
    return Dataset(
        name=name,
        root=root,
        meta_category=meta,
        levels=levels,
        categories=categories,
        samples=tuple(samples),
        attribute_groups=groups,
        multilabel=multilabel,
        layout="manifest",
        skipped=dropped,
    )


def _manifest_category(
    index: int,
    label: str,
    taxonomy: tuple[str, ...],
    synonyms_of: dict[tuple[int, str], tuple[tuple[str, ...], int]],
) -> Category:
    """A manifest class with the synonyms its rows gave for it and for its ancestors."""
    last = len(taxonomy) - 1
    coarser = tuple(synonyms_of.get((j, taxonomy[j]), ((), 0))[0] for j in range(last))
    own = synonyms_of.get((last, label), ((), 0))[0]
    return Category(index, label, taxonomy, own, coarser if any(coarser) else ())
