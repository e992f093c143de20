"""DeepFashion's Category and Attribute Prediction Benchmark in its published layout.

``Anno/list_category_cloth.txt`` (``category_name category_type``),
``Anno/list_category_img.txt`` (``image_name category_label``, 1-based),
``Anno/list_attr_cloth.txt`` (``attribute_name attribute_type``; names may hold spaces),
``Anno/list_attr_img.txt`` (``image_name`` then one of 1 / -1 / 0 per attribute) and
``Eval/list_eval_partition.txt`` (``image_name evaluation_status``: train / val / test).
Every list file starts with a count line and a header line. Attribute types 1–5 become
the attribute groups texture, fabric, shape, part, style; a sample is annotated with
every attribute marked 1 (-1 is absent, 0 unknown). ``Anno_coarse/`` is read when
``Anno/`` is absent. The attribute file is optional (categories only without it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pytest_fgbmk.data import layout
from pytest_fgbmk.data.records import (
    Annotation,
    AttributeGroup,
    Category,
    Dataset,
    safe_relpath,
)
from pytest_fgbmk.data.textio import parse_int, read_lines, require_file
from pytest_fgbmk.errors import DataFormatError

NAME = "deepfashion"
META = "clothing"
FOLDERS = ("deepfashion", "DeepFashion", "Category and Attribute Prediction Benchmark")
LEVELS = ("category",)
ATTRIBUTE_TYPES = {1: "texture", 2: "fabric", 3: "shape", 4: "part", 5: "style"}
#: The paper's attribute kinds for each DeepFashion attribute type.
KIND_OF_TYPE = {1: "pattern", 2: "other", 3: "shape", 4: "other", 5: "other"}
SPLITS = ("train", "val", "test")


def _anno(root: Path) -> Path:
    return root / "Anno" if (root / "Anno").is_dir() else root / "Anno_coarse"


def probe(root: Path) -> str | None:
    """``None`` when the category list and the partition file are at ``root``."""
    root = Path(root)
    if (_anno(root) / "list_category_img.txt").is_file() and (
        root / "Eval" / "list_eval_partition.txt"
    ).is_file():
        return None
    return f"Anno/list_category_img.txt and Eval/list_eval_partition.txt in {root}"


def _entries(path: Path, header: str) -> Iterator[tuple[int, str]]:
    """The lines after the count and header lines; the count must match."""
    lines = read_lines(require_file(path, f"a count line, a header '{header}', then entries"))
    first = next(lines, None)
    if first is None:
        raise DataFormatError(path, "is empty: expected a count line")
    count = parse_int(path, first[0], first[1], "the first line (entry count)")
    if next(lines, None) is None:
        raise DataFormatError(path, f"lacks the header line '{header}'", line=first[0] + 1)
    n = 0
    last = first[0] + 1
    for lineno, line in lines:
        n += 1
        last = lineno
        yield lineno, line
    if n != count:
        raise DataFormatError(
            path, f"first line says {count} entries but the file holds {n}", line=last
        )


def _name_and_int(path: Path, lineno: int, line: str, what: str) -> tuple[str, int]:
    parts = line.rsplit(maxsplit=1)
    if len(parts) != 2:
        raise DataFormatError(path, f"expected '<name> <{what}>', got {line!r}", line=lineno)
    return parts[0].strip(), parse_int(path, lineno, parts[1], what)


def load(root: Path) -> Dataset:
    """Read the benchmark's annotation files under ``root``."""
    root = Path(root)
    anno = _anno(root)
    cloth = anno / "list_category_cloth.txt"
    names = [
        _name_and_int(cloth, n, ln, "category_type")[0]
        for n, ln in _entries(cloth, "category_name category_type")
    ]
    categories = tuple(Category(i, n, (n,)) for i, n in enumerate(names))

    part_path = root / "Eval" / "list_eval_partition.txt"
    split_of: dict[str, str] = {}
    for lineno, line in _entries(part_path, "image_name evaluation_status"):
        rel, status = _split_path(part_path, lineno, line, "evaluation_status")
        if status not in SPLITS:
            raise DataFormatError(
                part_path,
                f"evaluation_status must be train, val or test, got {status!r}",
                line=lineno,
            )
        split_of[rel] = status

    groups: tuple[AttributeGroup, ...] = ()
    positives: dict[str, tuple[Annotation, ...]] = {}
    attr_img = anno / "list_attr_img.txt"
    if attr_img.is_file():
        groups, positives = _attributes(root, anno, attr_img)

    cat_img = anno / "list_category_img.txt"
    samples = []
    seen: dict[str, int] = {}
    for lineno, line in _entries(cat_img, "image_name category_label"):
        rel, label_text = _split_path(cat_img, lineno, line, "category_label")
        rel = safe_relpath(root, rel, source=cat_img, line=lineno)
        if rel in seen:
            raise DataFormatError(
                cat_img, f"duplicate image {rel!r} (first at line {seen[rel]})", line=lineno
            )
        seen[rel] = lineno
        label = parse_int(cat_img, lineno, label_text, "category_label")
        if not 1 <= label <= len(categories):
            raise DataFormatError(
                cat_img,
                f"unknown category_label {label} (list_category_cloth.txt has 1..{len(categories)})",
                line=lineno,
            )
        split = split_of.get(rel)
        if split is None:
            raise DataFormatError(part_path, f"lacks {rel!r} (listed at {cat_img.name}:{lineno})")
        cat = categories[label - 1]
        samples.append(layout.category_sample(cat, rel, rel, split, META, positives.get(rel, ())))
    return Dataset(
        name=NAME,
        root=root,
        meta_category=META,
        levels=LEVELS,
        categories=categories,
        samples=tuple(samples),
        attribute_groups=groups,
        layout="deepfashion-category-attribute",
    )


def _split_path(path: Path, lineno: int, line: str, what: str) -> tuple[str, str]:
    parts = line.split(maxsplit=1)
    if len(parts) != 2:
        raise DataFormatError(path, f"expected '<image_name> <{what}>', got {line!r}", line=lineno)
    return parts[0], parts[1].strip()


def _attributes(
    root: Path, anno: Path, attr_img: Path
) -> tuple[tuple[AttributeGroup, ...], dict[str, tuple[Annotation, ...]]]:
    attr_cloth = anno / "list_attr_cloth.txt"
    attrs: list[tuple[str, str]] = []
    for lineno, line in _entries(attr_cloth, "attribute_name attribute_type"):
        name, kind = _name_and_int(attr_cloth, lineno, line, "attribute_type")
        if kind not in ATTRIBUTE_TYPES:
            raise DataFormatError(
                attr_cloth, f"attribute_type must be 1..5, got {kind}", line=lineno
            )
        attrs.append((ATTRIBUTE_TYPES[kind], name))
    groups = tuple(
        AttributeGroup(g, tuple(n for gg, n in attrs if gg == g), KIND_OF_TYPE[t], True)
        for t, g in ATTRIBUTE_TYPES.items()
    )
    annotation = [Annotation(g, n) for g, n in attrs]
    positives: dict[str, tuple[Annotation, ...]] = {}
    for lineno, line in _entries(attr_img, "image_name attribute_labels"):
        parts = line.split()
        if len(parts) != len(attrs) + 1:
            raise DataFormatError(
                attr_img,
                f"expected an image name and {len(attrs)} values of 1/-1/0, got {len(parts) - 1}",
                line=lineno,
            )
        values = parts[1:]
        bad = next((v for v in values if v not in ("1", "-1", "0")), None)
        if bad is not None:
            raise DataFormatError(
                attr_img, f"attribute values are 1, -1 or 0, got {bad!r}", line=lineno
            )
        rel = safe_relpath(root, parts[0], source=attr_img, line=lineno)
        positives[rel] = tuple(annotation[i] for i, v in enumerate(values) if v == "1")
    return groups, positives
