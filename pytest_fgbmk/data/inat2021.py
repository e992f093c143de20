"""iNat2021 in its published layouts: COCO-style ``train.json``/``val.json``, or class folders.

The json form (``root/train.json``, ``root/val.json``) holds ``images`` (``id``,
``file_name``), ``annotations`` (``image_id``, ``category_id``) and ``categories`` with the
full taxonomy (``kingdom`` … ``genus``, ``specific_epithet``, ``common_name``). The folder
form has no json: ``root/train/<dir>/<file>`` and ``root/val/<dir>/<file>`` where each
``<dir>`` is ``09449_Plantae_Tracheophyta_Magnoliopsida_Rosales_Rosaceae_Rosa_majalis``.

``train`` becomes split ``train`` and ``val`` becomes split ``test`` (FG-BMK evaluates on
val). The species is shown as its binomial (``Rosa majalis``); the json's ``common_name``
(``Cinnamon Rose``) and its ``name`` where that differs from the binomial are synonyms,
kept unless they clash with another species' names (:mod:`pytest_fgbmk.data.synonyms`).
The folder form carries no common names. The coarser ranks have scientific names only.
Loading parses json and builds tuples only: no image file is opened or stat'ed, so a
missing image surfaces when it is opened, as a :class:`DataFormatError` naming the file.
Sample ids are the json image ids (unique across both files) or, in the folder form, the
image's relative path.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pytest_fgbmk.data import layout
from pytest_fgbmk.data.records import Category, Dataset, Sample, safe_relpath
from pytest_fgbmk.data.synonyms import checked_synonyms
from pytest_fgbmk.errors import DataFormatError

NAME = "inat2021"
META = "natural"
FOLDERS = ("inat2021", "iNat2021", "inaturalist2021", "inat")
LEVELS = ("kingdom", "phylum", "class", "order", "family", "genus", "species")

#: (json file or folder, split) pairs in the order they are read.
SPLIT_SOURCES = (("train", "train"), ("val", "test"))
_RANKS = LEVELS[:-1]


def probe(root: Path) -> str | None:
    """``None`` when a json index or the class-folder tree is at ``root``, else what is missing."""
    root = Path(root)
    if any((root / f"{src}.json").is_file() for src, _ in SPLIT_SOURCES):
        return None
    for src, _ in SPLIT_SOURCES:
        folder = root / src
        if folder.is_dir() and any(_parse_dir_name(e.name) for e in _subdirs(folder)):
            return None
    return f"train.json or val.json (or train/ with taxonomy-named class folders) in {root}"


def load(root: Path) -> Dataset:
    """Read iNat2021 from ``root`` (json form when a json is present, else the folder form)."""
    root = Path(root)
    if any((root / f"{src}.json").is_file() for src, _ in SPLIT_SOURCES):
        return _load_json(root)
    if any((root / src).is_dir() for src, _ in SPLIT_SOURCES):
        return _load_folders(root)
    raise DataFormatError(
        root,
        "no iNat2021 index found: expected train.json / val.json or train/ and val/ folders",
        hint="point the data root at the folder that holds train.json and val.json",
    )


# --- json form ------------------------------------------------------------------------------


def _load_json(root: Path) -> Dataset:
    cats_by_id: dict[Any, tuple[Path, dict[str, Any]]] = {}
    per_split: list[tuple[Path, str, dict[str, Any]]] = []
    for src, split in SPLIT_SOURCES:
        path = root / f"{src}.json"
        if not path.is_file():
            continue
        doc = _read_json(path)
        for c in _json_list(path, doc, "categories"):
            cid = _field(path, c, "id", "categories")
            old = cats_by_id.setdefault(cid, (path, c))[1]
            if old.get("name") != c.get("name"):
                raise DataFormatError(
                    path,
                    f"category id {cid} is {c.get('name')!r} here but {old.get('name')!r} "
                    "in the other split's json",
                    hint="train.json and val.json must share one category list",
                )
        per_split.append((path, split, doc))

    ids = sorted(cats_by_id, key=_sort_key)
    index_of = {cid: i for i, cid in enumerate(ids)}
    categories, dropped = checked_synonyms(
        [_json_category(i, *cats_by_id[cid]) for i, cid in enumerate(ids)], LEVELS
    )

    samples: list[Sample] = []
    skipped: list[str] = list(dropped)
    seen_ids: dict[str, str] = {}
    for path, split, doc in per_split:
        samples.extend(
            _json_samples(root, path, split, doc, categories, index_of, seen_ids, skipped)
        )
    return Dataset(
        name=NAME,
        root=root,
        meta_category=META,
        levels=LEVELS,
        categories=categories,
        samples=tuple(samples),
        layout="inat2021-json",
        skipped=tuple(skipped),
    )


#: What the loader reads of an image entry and of an annotation entry.
_IMAGE_KEYS = ("id", "file_name")
_ANNOTATION_KEYS = ("image_id", "category_id")


def _lean(entry: dict[str, Any]) -> dict[str, Any]:
    """A json object as it is decoded: an image or annotation entry keeps only the keys the
    loader reads (the full train.json's 2.7M image entries carry ten fields each: held
    whole, they took the load's peak to 4.8 GB); any other object is kept whole."""
    if "file_name" in entry and "id" in entry:
        return {k: entry[k] for k in _IMAGE_KEYS}
    if "image_id" in entry and "category_id" in entry and "file_name" not in entry:
        return {k: entry[k] for k in _ANNOTATION_KEYS}
    return entry


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
        # decoded as json.loads decodes bytes, the bytes let go before parsing (1 GB less
        # at the full train.json's peak)
        text = data.decode(json.detect_encoding(data), "surrogatepass")
        del data
        doc = json.loads(text, object_hook=_lean)
        del text
    except json.JSONDecodeError as e:
        raise DataFormatError(path, f"is not valid JSON: {e.msg}", line=e.lineno) from None
    except UnicodeDecodeError as e:
        raise DataFormatError(path, f"is not UTF-8 text: {e}") from None
    if not isinstance(doc, dict):
        raise DataFormatError(path, "expected a JSON object with images/annotations/categories")
    return doc


def _json_list(path: Path, doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = doc.get(key)
    if not isinstance(value, list):
        raise DataFormatError(
            path, f"expected a list under {key!r} (COCO-style images/annotations/categories)"
        )
    return value


def _field(path: Path, entry: Any, key: str, where: str) -> Any:
    if not isinstance(entry, dict) or key not in entry:
        raise DataFormatError(path, f"an entry of {where!r} lacks {key!r}: {str(entry)[:120]}")
    return entry[key]


def _sort_key(cid: Any) -> tuple[int, Any]:
    return (0, cid) if isinstance(cid, int) else (1, str(cid))


def _json_category(index: int, path: Path, c: dict[str, Any]) -> Category:
    missing = [k for k in _RANKS if not c.get(k)]
    genus, epithet = c.get("genus"), c.get("specific_epithet")
    species = f"{genus} {epithet}" if genus and epithet else c.get("name")
    if missing or not species:
        lacking = ", ".join(missing) or "specific_epithet/name"
        raise DataFormatError(
            path,
            f"category {c.get('id')} ({c.get('name')!r}) lacks taxonomy fields: {lacking}",
            hint="iNat2021 categories carry kingdom, phylum, class, order, family, genus",
        )
    species = " ".join(str(species).split())
    taxonomy = tuple(str(c[k]) for k in _RANKS) + (species,)
    # the common name, and the json's own ``name`` where it is not the binomial shown
    others = (" ".join(str(c.get(k) or "").split()) for k in ("common_name", "name"))
    synonyms = tuple(dict.fromkeys(x for x in others if x and x != species))
    return Category(index, species, taxonomy, synonyms)


def _json_samples(
    root: Path,
    path: Path,
    split: str,
    doc: dict[str, Any],
    categories: tuple[Category, ...],
    index_of: dict[Any, int],
    seen_ids: dict[str, str],
    skipped: list[str],
) -> list[Sample]:
    label_of: dict[Any, int] = {}
    for a in _json_list(path, doc, "annotations"):
        try:
            image_id, cid = a["image_id"], a["category_id"]
        except (KeyError, TypeError):
            raise DataFormatError(
                path, f"an annotation lacks image_id/category_id: {str(a)[:120]}"
            ) from None
        idx = index_of.get(cid)
        if idx is None:
            raise DataFormatError(
                path,
                f"annotation of image {image_id} names unknown category_id {cid!r}",
                hint="every category_id must appear under 'categories'",
            )
        old = label_of.setdefault(image_id, idx)
        if old != idx:
            raise DataFormatError(
                path, f"image {image_id} is annotated with two categories ({old} and {idx})"
            )

    out: list[Sample] = []
    unlabeled = 0
    name = path.name
    for img in _json_list(path, doc, "images"):
        try:
            image_id, file_name = img["id"], img["file_name"]
        except (KeyError, TypeError):
            raise DataFormatError(path, f"an image lacks id/file_name: {str(img)[:120]}") from None
        sid = str(image_id)
        first = seen_ids.get(sid)
        if first is not None:
            raise DataFormatError(
                path,
                f"duplicate image id {image_id} (already used in {first})",
                hint="image ids must be unique across train.json and val.json",
            )
        seen_ids[sid] = name
        idx = label_of.pop(image_id, None)
        if idx is None:
            unlabeled += 1
            continue
        if not isinstance(file_name, str) or not file_name:
            raise DataFormatError(path, f"image {image_id} has no file_name string")
        if "\\" in file_name or file_name[0] == "/" or ".." in file_name:
            file_name = safe_relpath(root, file_name, source=path)
        cat = categories[idx]
        out.append(layout.category_sample(cat, sid, file_name, split, META))
    if label_of:
        orphan = next(iter(label_of))
        raise DataFormatError(
            path,
            f"{len(label_of)} annotation(s) name image ids not under 'images' (e.g. {orphan})",
        )
    if unlabeled:
        skipped.append(f"{name}: {unlabeled} image(s) without an annotation were left out")
    return out


# --- folder form ----------------------------------------------------------------------------


def _subdirs(folder: Path) -> list[os.DirEntry]:
    with os.scandir(folder) as it:
        return [e for e in it if e.is_dir()]


def _parse_dir_name(name: str) -> tuple[int, tuple[str, ...]] | None:
    """``09449_Plantae_…_Rosa_majalis`` → (9449, taxonomy), or None if it is not one."""
    parts = name.split("_", 7)
    if len(parts) != 8 or not parts[0].isdigit() or not all(parts):
        return None
    species = f"{parts[6]} {parts[7].replace('_', ' ')}"
    return int(parts[0]), (*parts[1:6], parts[6], species)


def _load_folders(root: Path) -> Dataset:
    taxonomy_of: dict[int, tuple[str, ...]] = {}
    listing: list[tuple[str, int, str, list[str]]] = []
    for src, split in SPLIT_SOURCES:
        folder = root / src
        if not folder.is_dir():
            continue
        for entry in sorted(_subdirs(folder), key=lambda e: e.name):
            parsed = _parse_dir_name(entry.name)
            if parsed is None:
                raise DataFormatError(
                    entry.path,
                    "folder name is not <id>_<kingdom>_<phylum>_<class>_<order>_<family>_<genus>_<epithet>",
                    hint="iNat2021's folder form names every class folder by its full taxonomy",
                )
            cid, taxonomy = parsed
            old = taxonomy_of.setdefault(cid, taxonomy)
            if old != taxonomy:
                raise DataFormatError(
                    entry.path, f"class id {cid} also names {' '.join(old[-1:])} elsewhere"
                )
            with os.scandir(entry.path) as it:
                files = sorted(e.name for e in it if e.is_file() and e.name[0] != ".")
            listing.append((split, cid, f"{src}/{entry.name}", files))
    ids = sorted(taxonomy_of)
    index_of = {cid: i for i, cid in enumerate(ids)}
    categories = tuple(Category(i, taxonomy_of[c][-1], taxonomy_of[c]) for i, c in enumerate(ids))
    samples: list[Sample] = []
    for split, cid, rel_dir, files in listing:
        cat = categories[index_of[cid]]
        for f in files:
            rel = f"{rel_dir}/{f}"
            samples.append(layout.category_sample(cat, rel, rel, split, META))
    return Dataset(
        name=NAME,
        root=root,
        meta_category=META,
        levels=LEVELS,
        categories=categories,
        samples=tuple(samples),
        layout="inat2021-folders",
    )


def folder_taxonomy(name: str) -> tuple[str, ...] | None:
    """The taxonomy (kingdom … species) an iNat2021 class folder's name spells, or None:
    ``09506_Plantae_…_Ulmus_rubra`` → ``("Plantae", …, "Ulmus", "Ulmus rubra")``."""
    parsed = _parse_dir_name(name)
    return parsed[1] if parsed else None
