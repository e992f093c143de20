"""Products-10K in its published layout: ``train.csv`` and ``test_kaggletest.csv``.

``train.csv`` has the header ``name,class,group`` (images under ``train/``);
``test_kaggletest.csv`` has ``name,class,Usage`` or ``name,class,group,Usage`` (images under
``test/``). Classes and groups are numeric ids without names, shown as ``product 12`` and
``group 3``; the taxonomy is group → product. A test class's group comes from its own
column when present, else from train.csv.
"""

from __future__ import annotations

from pathlib import Path

from pytest_fgbmk.data import layout
from pytest_fgbmk.data.records import Category, Dataset, safe_relpath
from pytest_fgbmk.data.textio import parse_int, read_csv_rows
from pytest_fgbmk.errors import DataFormatError

NAME = "products10k"
META = "product"
FOLDERS = ("products10k", "Products-10K", "products-10k")
LEVELS = ("group", "product")
FILES = (("train.csv", "train", "train"), ("test_kaggletest.csv", "test", "test"))


def probe(root: Path) -> str | None:
    """``None`` when ``train.csv`` with a ``name,class,group`` header is at ``root``."""
    path = Path(root) / "train.csv"
    if path.is_file():
        with path.open(encoding="utf-8-sig") as fh:
            header = [h.strip() for h in fh.readline().split(",")]
        if header[:3] == ["name", "class", "group"]:
            return None
    return f"train.csv (name,class,group) in {root}"


def _columns(path: Path, header: list[str]) -> tuple[int, int, int | None]:
    cols = [h.strip().lower() for h in header]
    if "name" not in cols or "class" not in cols:
        raise DataFormatError(
            path, f"header must hold name,class[,group], got {','.join(header)}", line=1
        )
    return cols.index("name"), cols.index("class"), cols.index("group") if "group" in cols else None


def load(root: Path) -> Dataset:
    """Read Products-10K's csv files under ``root``."""
    root = Path(root)
    if not (root / "train.csv").is_file():
        raise DataFormatError(root / "train.csv", "missing: expected name,class,group rows")
    group_of: dict[int, tuple[int, str]] = {}
    rows: list[tuple[Path, int, str, int, str]] = []
    seen: dict[str, int] = {}
    for fname, folder, split in FILES:
        path = root / fname
        if not path.is_file():
            continue
        it = read_csv_rows(path, header=False)
        first = next(it, None)
        if first is None:
            raise DataFormatError(path, "is empty: expected a header name,class,group")
        i_name, i_class, i_group = _columns(path, first[1])
        width = len(first[1])
        for lineno, row in it:
            if len(row) != width:
                raise DataFormatError(
                    path, f"expected {width} fields ({','.join(first[1])}), got {row}", line=lineno
                )
            rel = safe_relpath(root, f"{folder}/{row[i_name].strip()}", source=path, line=lineno)
            if rel in seen:
                raise DataFormatError(
                    path,
                    f"duplicate image {row[i_name]!r} (first at line {seen[rel]})",
                    line=lineno,
                )
            seen[rel] = lineno
            cls = parse_int(path, lineno, row[i_class].strip(), "class")
            if i_group is not None:
                grp = parse_int(path, lineno, row[i_group].strip(), "group")
                old = group_of.setdefault(cls, (grp, f"{fname}:{lineno}"))
                if old[0] != grp:
                    raise DataFormatError(
                        path,
                        f"class {cls} is in group {grp} here but group {old[0]} at {old[1]}",
                        line=lineno,
                    )
            rows.append((path, lineno, rel, cls, split))
    classes = sorted(group_of)
    index_of = {c: i for i, c in enumerate(classes)}
    categories = tuple(
        Category(i, f"product {c}", (f"group {group_of[c][0]}", f"product {c}"))
        for i, c in enumerate(classes)
    )
    samples = []
    for path, lineno, rel, cls, split in rows:
        if cls not in index_of:
            raise DataFormatError(
                path,
                f"unknown class id {cls}: not in train.csv and this row gives no group",
                line=lineno,
            )
        cat = categories[index_of[cls]]
        samples.append(layout.category_sample(cat, rel, rel, split, META))
    return Dataset(
        name=NAME,
        root=root,
        meta_category=META,
        levels=LEVELS,
        categories=categories,
        samples=tuple(samples),
        layout="products10k-csv",
    )
