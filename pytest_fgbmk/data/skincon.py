"""SkinCon in its published layout: ``annotations_fitzpatrick17k.csv`` over Fitzpatrick17k.

The CSV has a header: an unnamed row-index column, ``ImageID`` (the Fitzpatrick17k file
name, ``<md5>.jpg``), the 48 concept columns of 0/1 (``Vesicle`` … ``Cyst``) and ``Do not
consider this image``. Every concept marked 1 is a label (multi-label: ``Sample.labels``)
and an annotation of the attribute group ``concept``. Category names are the concept
names in lower case, as the FG-BMK release's ``classes.txt`` writes them.

Images are looked up under ``fitzpatrick17k/`` (else ``images/``, else the root). The
Fitzpatrick17k images are fetched from URLs that partly no longer resolve, so an image
that is absent is left out and counted in ``Dataset.skipped``, as are rows marked "do not
consider" and rows with no concept. SkinCon has no split: rows go to train or test by
:func:`pytest_fgbmk.data.generic.hash_split` of the ImageID (for the release's exact split
use the release layout).
"""

from __future__ import annotations

from pathlib import Path

from pytest_fgbmk.data import layout
from pytest_fgbmk.data.generic import hash_split
from pytest_fgbmk.data.records import (
    Annotation,
    AttributeGroup,
    Category,
    Dataset,
    Sample,
    safe_relpath,
)
from pytest_fgbmk.data.textio import read_csv_rows
from pytest_fgbmk.errors import DataFormatError

NAME = "skincon"
META = "skin"
FOLDERS = ("skincon", "SkinCon", "SKINCON")
CSV_NAME = "annotations_fitzpatrick17k.csv"
IMAGE_DIRS = ("fitzpatrick17k", "images", "")
EXCLUDE = "do not consider this image"
GROUP = "concept"
#: The one taxonomy level (the concept as a class): named apart from the attribute group, since
#: a case id names its facet only (a level and a group of one name would share case ids).
LEVEL = "skin concept"
TEST_FRACTION = 0.3


def probe(root: Path) -> str | None:
    """``None`` when the SkinCon concept CSV is at ``root``."""
    return None if (Path(root) / CSV_NAME).is_file() else f"{CSV_NAME} in {root}"


def load(root: Path, *, seed: int = 0, test_fraction: float = TEST_FRACTION) -> Dataset:
    """Read SkinCon's concept CSV and the Fitzpatrick17k images it names."""
    root = Path(root)
    path = root / CSV_NAME
    if not path.is_file():
        raise DataFormatError(path, "missing: expected SkinCon's concept annotation CSV")
    rows = read_csv_rows(path, header=False)
    first = next(rows, None)
    if first is None:
        raise DataFormatError(path, "is empty: expected a header with ImageID and concepts")
    header = [h.strip() for h in first[1]]
    if "ImageID" not in header:
        raise DataFormatError(path, f"header lacks 'ImageID' (got {','.join(header[:4])}…)", line=1)
    i_id = header.index("ImageID")
    i_excl = next((i for i, h in enumerate(header) if h.lower() == EXCLUDE), None)
    concept_cols = [i for i in range(i_id + 1, len(header)) if i != i_excl and header[i]]
    names = [header[i].lower() for i in concept_cols]
    categories = tuple(Category(k, n, (n,)) for k, n in enumerate(names))
    image_dir = next((d for d in IMAGE_DIRS if (root / d).is_dir() and d), "")
    annotations = [Annotation(GROUP, n) for n in names]

    samples: list[Sample] = []
    seen: dict[str, int] = {}
    excluded = empty = absent = 0
    for lineno, row in rows:
        if len(row) != len(header):
            raise DataFormatError(
                path, f"expected {len(header)} fields like the header, got {len(row)}", line=lineno
            )
        image_id = row[i_id].strip()
        rel = safe_relpath(
            root, f"{image_dir}/{image_id}" if image_dir else image_id, source=path, line=lineno
        )
        if rel in seen:
            raise DataFormatError(
                path, f"duplicate ImageID {image_id!r} (first at line {seen[rel]})", line=lineno
            )
        seen[rel] = lineno
        flags = [_flag(path, lineno, header[i], row[i]) for i in concept_cols]
        if i_excl is not None and _flag(path, lineno, header[i_excl], row[i_excl]):
            excluded += 1
            continue
        labels = tuple(k for k, f in enumerate(flags) if f)
        if not labels:
            empty += 1
            continue
        if not (root / rel).is_file():
            absent += 1
            continue
        cat = categories[labels[0]]
        samples.append(
            layout.category_sample(
                cat,
                image_id,
                rel,
                hash_split(image_id, seed, test_fraction),
                META,
                annotations=tuple(annotations[k] for k in labels),
                labels=labels,
            )
        )
    skipped = []
    if excluded:
        skipped.append(f"{excluded} row(s) marked 'Do not consider this image' were left out")
    if empty:
        skipped.append(f"{empty} row(s) with no concept marked were left out")
    if absent:
        where = root / image_dir if image_dir else root
        skipped.append(
            f"{absent} image(s) listed in {CSV_NAME} are not in {where} and were left out"
        )
    if not samples:
        raise DataFormatError(
            path, "no usable image: " + "; ".join(skipped or ["the CSV lists none"])
        )
    return Dataset(
        name=NAME,
        root=root,
        meta_category=META,
        levels=(LEVEL,),
        categories=categories,
        samples=tuple(samples),
        attribute_groups=(AttributeGroup(GROUP, tuple(names), "other", True),),
        multilabel=True,
        layout="skincon-csv",
        skipped=tuple(skipped),
    )


def _flag(path: Path, lineno: int, column: str, value: str) -> bool:
    v = value.strip()
    if v in ("1", "1.0"):
        return True
    if v in ("0", "0.0", ""):
        return False
    raise DataFormatError(path, f"column {column!r} must be 0 or 1, got {value!r}", line=lineno)
