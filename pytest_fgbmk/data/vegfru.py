"""VegFru in its published layout: ``vegfru_list/`` list files over the image folders.

``vegfru_list/vegfru_{train,val,test}.txt`` hold ``veg200_images/<class>/<file>.jpg <label>``
lines (292 sub-classes: labels 0–199 vegetables, 200–291 fruits, images under
``veg200_images/`` and ``fru92_images/``). When ``vegfru_list/supvegfru_{split}.txt`` are
present (the same images with their 25 sup-class labels) the taxonomy is
type → sup → category; else type → category, type being ``vegetable`` or ``fruit``. The
release gives no sup-class names, so a sup-class is shown as ``vegetable group 3``. Class
names come from the image folder names (``chinese_cabbage`` → ``chinese cabbage``).
"""

from __future__ import annotations

from pathlib import Path

from pytest_fgbmk.data import layout
from pytest_fgbmk.data.records import Category, Dataset, safe_relpath
from pytest_fgbmk.data.textio import parse_int, read_lines
from pytest_fgbmk.errors import DataFormatError

NAME = "vegfru"
META = "vegetable_fruit"
FOLDERS = ("vegfru", "VegFru")
LIST_DIR = "vegfru_list"
SPLITS = (("train", "train"), ("val", "val"), ("test", "test"))
N_VEGETABLES = 200


def probe(root: Path) -> str | None:
    """``None`` when ``vegfru_list/vegfru_train.txt`` or ``vegfru_test.txt`` is at ``root``."""
    lists = Path(root) / LIST_DIR
    if any((lists / f"vegfru_{s}.txt").is_file() for s in ("train", "test")):
        return None
    return f"{LIST_DIR}/vegfru_train.txt in {root}"


def _type_of(rel: str, label: int) -> str:
    if rel.startswith("fru92_images/"):
        return "fruit"
    if rel.startswith("veg200_images/"):
        return "vegetable"
    return "vegetable" if label < N_VEGETABLES else "fruit"


def _read_list(root: Path, path: Path) -> list[tuple[int, str, int]]:
    """(line, path, label) rows; the label is the last field, so paths may hold spaces."""
    out = []
    for lineno, line in read_lines(path):
        parts = line.rsplit(maxsplit=1)
        if len(parts) != 2:
            raise DataFormatError(
                path, f"expected '<image path> <label>', got {line!r}", line=lineno
            )
        rel = safe_relpath(root, parts[0], source=path, line=lineno)
        out.append((lineno, rel, parse_int(path, lineno, parts[1], "label")))
    return out


def load(root: Path) -> Dataset:
    """Read VegFru's list files under ``root``."""
    root = Path(root)
    lists = root / LIST_DIR
    present = [(s, split) for s, split in SPLITS if (lists / f"vegfru_{s}.txt").is_file()]
    if not present:
        raise DataFormatError(lists / "vegfru_train.txt", "missing: expected VegFru's list files")
    with_sup = all((lists / f"supvegfru_{s}.txt").is_file() for s, _ in present)
    rows: list[tuple[Path, int, str, int, str, int | None]] = []
    folder_of: dict[int, tuple[str, Path, int, str]] = {}
    sup_of: dict[int, int] = {}
    seen: dict[str, str] = {}
    for s, split in present:
        path = lists / f"vegfru_{s}.txt"
        sups: dict[str, int] = {}
        if with_sup:
            sup_path = lists / f"supvegfru_{s}.txt"
            sups = {rel: lab for _, rel, lab in _read_list(root, sup_path)}
        for lineno, rel, label in _read_list(root, path):
            if label < 0:
                raise DataFormatError(path, f"label must be ≥ 0, got {label}", line=lineno)
            if rel in seen:
                raise DataFormatError(
                    path, f"duplicate image {rel!r} (first at {seen[rel]})", line=lineno
                )
            seen[rel] = f"{path.name}:{lineno}"
            parts = rel.split("/")
            if len(parts) < 2:
                raise DataFormatError(
                    path, f"expected <images>/<class>/<file>, got {rel!r}", line=lineno
                )
            folder = parts[-2]
            old = folder_of.setdefault(label, (folder, path, lineno, rel))
            if old[0] != folder:
                raise DataFormatError(
                    path,
                    f"label {label} is folder {folder!r} here but {old[0]!r} at "
                    f"{old[1].name}:{old[2]}",
                    line=lineno,
                )
            sup = None
            if with_sup:
                if rel not in sups:
                    raise DataFormatError(
                        lists / f"supvegfru_{s}.txt",
                        f"lacks {rel!r} (listed at {path.name}:{lineno})",
                        hint="the sup and sub list files must list the same images",
                    )
                sup = sups[rel]
                if sup_of.setdefault(label, sup) != sup:
                    raise DataFormatError(
                        lists / f"supvegfru_{s}.txt",
                        f"sub-class {label} falls under sup-classes {sup_of[label]} and {sup}",
                    )
            rows.append((path, lineno, rel, label, split, sup))

    labels = sorted(folder_of)
    index_of = {lab: i for i, lab in enumerate(labels)}
    categories = []
    for i, lab in enumerate(labels):
        folder = folder_of[lab][0]
        name = " ".join(folder.replace("_", " ").split())
        kind = _type_of(folder_of[lab][3], lab)
        taxonomy = (kind, f"{kind} group {sup_of[lab]}", name) if with_sup else (kind, name)
        categories.append(Category(i, name, taxonomy))
    names = [c.name for c in categories]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise DataFormatError(lists, f"two labels share the class folder name {dup!r}")
    samples = []
    for _, _, rel, label, split, _ in rows:
        cat = categories[index_of[label]]
        samples.append(layout.category_sample(cat, rel, rel, split, META))
    return Dataset(
        name=NAME,
        root=root,
        meta_category=META,
        levels=("type", "sup", "category") if with_sup else ("type", "category"),
        categories=tuple(categories),
        samples=tuple(samples),
        layout="vegfru-lists",
    )
