"""FGVC-Aircraft (2013b) in its published layout: manufacturer → family → variant.

``root`` holds ``data/`` (``fgvc-aircraft-2013b/``) or is its parent. Files read, all under
``data/``: ``images_{variant,family,manufacturer}_{train,val,test}.txt`` (``1025794 707-320``;
the name is the rest of the line and may hold spaces), ``variants.txt``, ``families.txt``,
``manufacturers.txt`` (one name a line; names outside them are refused), and the images
``images/<id>.jpg`` (not checked at load time; a missing one is named when opened).

Display names. The dataset's variant and family names often omit the maker
(``707-320``, ``A300B4``, ``Tu-134``); a person writes ``Boeing 707-320``. So family and
variant names are shown with the maker's short name in front unless the name already
starts with it or its abbreviation (``Cessna 172``, ``Gulfstream IV``, ``BAE 146-200``,
``ATR-42`` stay as they are): see :func:`display_name`. The manufacturer level keeps the
dataset's name. The raw variant and family names (``707-320``, ``A300``) are kept as
synonyms of the shown ones, unless they clash with another name at their level
(:mod:`pytest_fgbmk.data.synonyms`).
"""

from __future__ import annotations

import re
from pathlib import Path

from pytest_fgbmk.data import layout
from pytest_fgbmk.data.records import Category, Dataset, safe_relpath
from pytest_fgbmk.data.synonyms import checked_synonyms
from pytest_fgbmk.data.textio import read_lines, require_file, split_fields
from pytest_fgbmk.errors import DataFormatError

NAME = "fgvc_aircraft"
META = "aircraft"
FOLDERS = ("fgvc-aircraft-2013b", "fgvc_aircraft", "fgvc-aircraft", "aircraft")
LEVELS = ("manufacturer", "family", "variant")
KINDS = ("manufacturer", "family", "variant")
SPLITS = ("train", "val", "test")
NAME_FILES = {
    "manufacturer": "manufacturers.txt",
    "family": "families.txt",
    "variant": "variants.txt",
}
#: How people name the makers whose dataset name carries a company suffix.
SHORT_MAKER = {
    "Bombardier Aerospace": "Bombardier",
    "Cirrus Aircraft": "Cirrus",
    "Dassault Aviation": "Dassault",
    "Douglas Aircraft Company": "Douglas",
    "Gulfstream Aerospace": "Gulfstream",
    "Lockheed Corporation": "Lockheed",
}
#: Abbreviations that already name the maker at the start of a model name.
MAKER_ABBREVIATIONS = {"British Aerospace": ("BAE",)}
_TOKEN = re.compile(r"[\s\-/]+")


def display_name(manufacturer: str, name: str) -> str:
    """``("Boeing", "737-800")`` → ``Boeing 737-800``; ``("Cessna", "Cessna 172")`` unchanged."""
    short = SHORT_MAKER.get(manufacturer, manufacturer)
    first = _TOKEN.split(name.strip(), maxsplit=1)[0].lower()
    known = {short.split()[0].lower(), manufacturer.split()[0].lower()}
    known.update(a.lower() for a in MAKER_ABBREVIATIONS.get(manufacturer, ()))
    return name if first in known else f"{short} {name}"


def resolve_root(root: Path) -> Path:
    """The folder holding ``data/variants.txt``: ``root`` or one of :data:`FOLDERS` under it."""
    return layout.resolve_root(root, "data/variants.txt", FOLDERS)


def probe(root: Path) -> str | None:
    """``None`` when the variant list and the train/test variant files are present."""
    data = resolve_root(root) / "data"
    return layout.missing_file(
        data,
        ("variants.txt", "images_variant_train.txt", "images_variant_test.txt"),
        "FGVC-Aircraft",
    )


def load(root: Path) -> Dataset:
    """Read FGVC-Aircraft's index (no image is opened)."""
    base = resolve_root(root)
    data = base / "data"
    vocab = {
        kind: _read_names(data / NAME_FILES[kind], required=kind == "variant") for kind in KINDS
    }
    family_of: dict[str, tuple[str, Path, int]] = {}
    maker_of: dict[str, tuple[str, Path, int]] = {}
    rows: list[tuple[str, str, str]] = []  # (image id, split, variant)
    split_of: dict[str, tuple[str, Path, int]] = {}
    for split in SPLITS:
        variant_file = data / f"images_variant_{split}.txt"
        if split == "val" and not variant_file.is_file():
            continue
        per_kind = {kind: _read_labels(data / f"images_{kind}_{split}.txt", kind) for kind in KINDS}
        variants = per_kind["variant"]
        for kind in ("family", "manufacturer"):
            extra = [i for i in per_kind[kind] if i not in variants]
            if extra:
                _, path, line = per_kind[kind][extra[0]]
                raise DataFormatError(
                    path, f"image {extra[0]} is not in {variant_file.name}", line=line
                )
        for image_id, (variant, vpath, vline) in variants.items():
            if image_id in split_of:
                prev_split, ppath, pline = split_of[image_id]
                raise DataFormatError(
                    vpath,
                    f"duplicate image id {image_id} (already in {ppath.name}:{pline})",
                    line=vline,
                )
            split_of[image_id] = (split, vpath, vline)
            labels = {"variant": variant}
            for kind in ("family", "manufacturer"):
                if image_id not in per_kind[kind]:
                    raise DataFormatError(
                        data / f"images_{kind}_{split}.txt",
                        f"image {image_id} ({variant_file.name}:{vline}) has no {kind} here",
                    )
                labels[kind] = per_kind[kind][image_id][0]
            for kind in KINDS:
                names = vocab[kind]
                if names is not None and labels[kind] not in names:
                    _, path, line = per_kind[kind][image_id]
                    raise DataFormatError(
                        path,
                        f"unknown {kind} {labels[kind]!r}",
                        line=line,
                        hint=f"it is not listed in {NAME_FILES[kind]}",
                    )
            _same(family_of, variant, labels["family"], "variant", per_kind["family"][image_id])
            _same(maker_of, labels["family"], labels["manufacturer"], "family",
                  per_kind["manufacturer"][image_id])  # fmt: skip
            rows.append((image_id, split, variant))

    order = vocab["variant"] or []
    seen_variants = {v for _, _, v in rows}
    categories: list[Category] = []
    index_of: dict[str, int] = {}
    skipped = tuple(
        f"variant {v!r} of variants.txt has no image in any split" for v in order
        if v not in seen_variants
    )  # fmt: skip
    for variant in order:
        if variant not in seen_variants:
            continue
        family = family_of[variant][0]
        maker = maker_of[family][0]
        shown = display_name(maker, variant)
        shown_family = display_name(maker, family)
        index_of[variant] = len(categories)
        categories.append(
            Category(
                len(categories),
                shown,
                (maker, shown_family, shown),
                synonyms=(variant,) if shown != variant else (),
                taxonomy_synonyms=((), (family,)) if shown_family != family else (),
            )
        )
    categories_checked, dropped = checked_synonyms(categories, LEVELS)
    samples = []
    for image_id, split, variant in rows:
        cat = categories[index_of[variant]]
        _s, vpath, vline = split_of[image_id]
        rel = safe_relpath(data / "images", f"{image_id}.jpg", source=vpath, line=vline)
        samples.append(layout.category_sample(cat, image_id, f"data/images/{rel}", split, META))
    return Dataset(
        name=NAME,
        root=base,
        meta_category=META,
        levels=LEVELS,
        categories=categories_checked,
        samples=tuple(samples),
        layout="FGVC-Aircraft 2013b",
        skipped=skipped + dropped,
    )


def _read_names(path: Path, *, required: bool) -> list[str] | None:
    """One name a line (``variants.txt`` …), in file order; ``None`` if optional and absent."""
    if not path.is_file():
        if required:
            require_file(path, "FGVC-Aircraft's list of names, one a line")
        return None
    names: dict[str, int] = {}
    for lineno, line in read_lines(path):
        if line in names:
            raise DataFormatError(
                path, f"duplicate name {line!r} (first on line {names[line]})", line=lineno
            )
        names[line] = lineno
    return list(names)


def _read_labels(path: Path, kind: str) -> dict[str, tuple[str, Path, int]]:
    """``images_<kind>_<split>.txt`` → image id → (name, file, line)."""
    require_file(path, f"FGVC-Aircraft's <image_id> <{kind}> lines")
    out: dict[str, tuple[str, Path, int]] = {}
    for lineno, line in read_lines(path):
        image_id, name = split_fields(path, lineno, line, 2, f"<image_id> <{kind}>")
        if image_id in out:
            raise DataFormatError(
                path,
                f"duplicate image id {image_id} (first on line {out[image_id][2]})",
                line=lineno,
            )
        out[image_id] = (name.strip(), path, lineno)
    return out


def _same(
    parent_of: dict[str, tuple[str, Path, int]],
    child: str,
    parent: str,
    what: str,
    where: tuple[str, Path, int],
) -> None:
    """Record ``child → parent``; refuse a child that two lines give different parents."""
    _name, path, line = where
    prev = parent_of.setdefault(child, (parent, path, line))
    if prev[0] != parent:
        raise DataFormatError(
            path,
            f"{what} {child!r} is under {parent!r} here but under {prev[0]!r} "
            f"at {prev[1].name}:{prev[2]}",
            line=line,
        )
