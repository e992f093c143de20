"""Tianchi's wine-bottle dataset (酒瓶瑕疵检测) in its published COCO-style layout.

``annotations.json`` holds ``images`` (``id``, ``file_name``), ``annotations``
(``image_id``, ``category_id``, ``bbox``) and ``categories`` (``id``, ``name``:
瓶盖破损 cap broken … 喷码异常 abnormal inkjet code, and 背景 background); images are under
``images/``. An image's labels are the set of categories of its boxes (multi-label,
``Sample.labels`` in category order). The taxonomy is part → category (瓶盖 cap, 标贴
label, 喷码 inkjet code); names are English with the Chinese name as a synonym.
The release ships one annotated set, so images go to train or test by
:func:`pytest_fgbmk.data.generic.hash_split` of the file name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_fgbmk.data import layout
from pytest_fgbmk.data.generic import hash_split
from pytest_fgbmk.data.records import Category, Dataset, safe_relpath
from pytest_fgbmk.data.synonyms import checked_synonyms
from pytest_fgbmk.errors import DataFormatError

NAME = "wine"
META = "wine"
FOLDERS = ("wine", "tianchi_wine", "chongqing1_round1_train1_20191223")
JSON_NAME = "annotations.json"
IMAGE_DIR = "images"
LEVELS = ("part", "category")
TEST_FRACTION = 0.3

#: Chinese category name → English name.
ENGLISH = {
    "瓶盖破损": "broken cap",
    "瓶盖变形": "deformed cap",
    "瓶盖坏边": "damaged cap edge",
    "瓶盖打旋": "twisted cap",
    "瓶盖断点": "cap break point",
    "标贴歪斜": "skewed label",
    "标贴起皱": "wrinkled label",
    "标贴气泡": "bubbled label",
    "喷码正常": "normal inkjet code",
    "喷码异常": "abnormal inkjet code",
    "背景": "background",
}
PARTS = {"瓶盖": "cap", "标贴": "label", "喷码": "inkjet code", "背景": "background"}


def probe(root: Path) -> str | None:
    """``None`` when ``annotations.json`` is at ``root``."""
    return None if (Path(root) / JSON_NAME).is_file() else f"{JSON_NAME} in {root}"


def _category(index: int, raw: str) -> Category:
    name = ENGLISH.get(raw, raw)
    part = next((p for zh, p in PARTS.items() if raw.startswith(zh)), name)
    return Category(index, name, (part, name), (raw,) if raw != name else ())


def load(root: Path, *, seed: int = 0, test_fraction: float = TEST_FRACTION) -> Dataset:
    """Read ``annotations.json`` under ``root``."""
    root = Path(root)
    path = root / JSON_NAME
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise DataFormatError(path, "missing: expected the COCO-style annotation json") from None
    except json.JSONDecodeError as e:
        raise DataFormatError(path, f"is not valid JSON: {e.msg}", line=e.lineno) from None
    cats = _list(path, doc, "categories")
    try:
        ids = sorted({c["id"]: c for c in cats}.items())
        categories = tuple(_category(i, str(c["name"])) for i, (_, c) in enumerate(ids))
    except (KeyError, TypeError):
        raise DataFormatError(path, "every category needs an id and a name") from None
    categories, dropped = checked_synonyms(categories, LEVELS)
    if len(ids) != len(cats):
        raise DataFormatError(path, "a category id is listed twice")
    index_of = {cid: i for i, (cid, _) in enumerate(ids)}

    labels: dict[Any, set[int]] = {}
    for a in _list(path, doc, "annotations"):
        try:
            image_id, cid = a["image_id"], a["category_id"]
        except (KeyError, TypeError):
            raise DataFormatError(path, f"an annotation lacks image_id/category_id: {a}") from None
        if cid not in index_of:
            raise DataFormatError(
                path, f"annotation of image {image_id} names unknown category_id {cid!r}"
            )
        labels.setdefault(image_id, set()).add(index_of[cid])

    samples = []
    seen: set[Any] = set()
    unlabeled = 0
    for img in _list(path, doc, "images"):
        try:
            image_id, file_name = img["id"], str(img["file_name"])
        except (KeyError, TypeError):
            raise DataFormatError(path, f"an image lacks id/file_name: {img}") from None
        if image_id in seen:
            raise DataFormatError(path, f"duplicate image id {image_id!r}")
        seen.add(image_id)
        found = labels.pop(image_id, None)
        if not found:
            unlabeled += 1
            continue
        rel = safe_relpath(root, f"{IMAGE_DIR}/{file_name}", source=path)
        idx = tuple(sorted(found))
        cat = categories[idx[0]]
        samples.append(
            layout.category_sample(
                cat,
                str(image_id),
                rel,
                hash_split(file_name, seed, test_fraction),
                META,
                labels=idx,
            )
        )
    if labels:
        raise DataFormatError(
            path,
            f"{len(labels)} annotation(s) name image ids not under 'images' (e.g. {next(iter(labels))})",
        )
    skipped = dropped + (
        (f"{unlabeled} image(s) without an annotation were left out",) if unlabeled else ()
    )
    return Dataset(
        name=NAME,
        root=root,
        meta_category=META,
        levels=LEVELS,
        categories=categories,
        samples=tuple(samples),
        multilabel=True,
        layout="tianchi-wine-coco",
        skipped=skipped,
    )


def _list(path: Path, doc: Any, key: str) -> list:
    value = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(value, list):
        raise DataFormatError(path, f"expected a list under {key!r} (COCO-style json)")
    return value
