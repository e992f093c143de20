"""CUB-200-2011 in its published layout, with its 312 attributes and their certainties.

``root`` is the folder that holds ``images.txt`` (``CUB_200_2011/``) or its parent.
Files read::

    images.txt                          1 001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg
    image_class_labels.txt              1 1
    train_test_split.txt                1 0            (1 = train, 0 = test)
    classes.txt                         1 001.Black_footed_Albatross
    attributes.txt                      1 has_bill_shape::curved_(up_or_down)
                                        (beside images.txt, or in its parent as the tarball has it)
    attributes/image_attribute_labels.txt  image_id attribute_id is_present certainty_id time [extras]
    attributes/certainties.txt          1 not visible … 4 definitely

The hierarchy is the one the FG-BMK release asks about: class ``aves`` for every bird,
genus = the last word of the common name, species = the common name
(``001.Black_footed_Albatross`` → ``aves`` / ``albatross`` / ``black footed albatross``).
Only ``is_present = 1`` attribute lines become annotations, with their certainty.

Images are not checked at load time (CUB is small, but the same rule holds for every
loader so 2.7M-image indexes stay fast): a missing image surfaces when it is opened, as a
:class:`~pytest_fgbmk.errors.DataFormatError` naming the file.
"""

from __future__ import annotations

import re
from pathlib import Path

from pytest_fgbmk.data import layout
from pytest_fgbmk.data.records import (
    ATTRIBUTE_KINDS,
    Annotation,
    AttributeGroup,
    Category,
    Dataset,
    safe_relpath,
)
from pytest_fgbmk.data.textio import parse_int, read_lines, require_file, split_fields
from pytest_fgbmk.errors import DataFormatError

NAME = "cub"
META = "bird"
FOLDERS = ("CUB_200_2011", "cub")
LEVELS = ("class", "genus", "species")
#: The taxonomic class of every CUB category, as the release's questions name it.
BIRD_CLASS = "aves"

REQUIRED = ("images.txt", "image_class_labels.txt", "train_test_split.txt", "classes.txt")
_PREFIX = re.compile(r"^\d+\.")


def species_name(class_folder: str) -> str:
    """``001.Black_footed_Albatross`` → ``black footed albatross``."""
    return " ".join(_PREFIX.sub("", class_folder.strip()).replace("_", " ").split()).lower()


def genus_name(species: str) -> str:
    """The last word of the common name: ``black footed albatross`` → ``albatross``."""
    return species.split()[-1]


def attribute_group_name(raw: str) -> str:
    """``has_wing_color`` → ``wing color``."""
    name = raw.strip()
    if name.startswith("has_"):
        name = name[len("has_") :]
    return name.replace("_", " ").strip()


def attribute_value_name(raw: str) -> str:
    """``curved_(up_or_down)`` → ``curved (up or down)``."""
    return " ".join(raw.replace("_", " ").split())


def attribute_kind(group: str) -> str:
    """The paper's attribute kind of a group, read from its name (``wing color`` → colour)."""
    words = group.split()
    if "color" in words or "colour" in words:
        return "colour"
    for kind in ATTRIBUTE_KINDS[1:-1]:
        if kind in words:
            return kind
    return "other"


def resolve_root(root: Path) -> Path:
    """The folder holding ``images.txt``: ``root`` itself or ``root/CUB_200_2011``."""
    return layout.resolve_root(root, "images.txt", FOLDERS)


def probe(root: Path) -> str | None:
    """``None`` when CUB's index files are at ``root`` (or ``root/CUB_200_2011``)."""
    base = resolve_root(root)
    return layout.missing_file(base, REQUIRED, "CUB-200-2011")


def load(root: Path) -> Dataset:
    """Read CUB-200-2011's index (no image is opened)."""
    base = resolve_root(root)
    for name in REQUIRED:
        require_file(base / name, f"CUB-200-2011's {name}")

    class_ids, categories = _read_classes(base / "classes.txt")
    paths = _read_images(base)
    labels = _read_id_map(base / "image_class_labels.txt", paths, "<image_id> <class_id>")
    is_train = _read_id_map(base / "train_test_split.txt", paths, "<image_id> <is_training_image>")

    groups, attr_of_id = _read_attribute_names(base)
    annotations = _read_annotations(base, paths, attr_of_id) if attr_of_id else {}
    if groups:
        groups = _mark_multi(groups, annotations)

    samples = []
    labels_path = base / "image_class_labels.txt"
    split_path = base / "train_test_split.txt"
    for image_id, (rel, _line) in paths.items():
        class_id, cline = labels[image_id]
        if class_id not in class_ids:
            raise DataFormatError(
                labels_path,
                f"class id {class_id} is not in classes.txt",
                line=cline,
                hint=f"classes.txt defines ids {min(class_ids)}..{max(class_ids)}",
            )
        flag, sline = is_train[image_id]
        if flag not in (0, 1):
            raise DataFormatError(
                split_path, f"is_training_image must be 0 or 1, got {flag}", line=sline
            )
        cat = categories[class_ids[class_id]]
        samples.append(
            layout.category_sample(
                cat,
                str(image_id),
                rel,
                "train" if flag == 1 else "test",
                META,
                annotations.get(image_id, ()),
            )
        )
    return Dataset(
        name=NAME,
        root=base,
        meta_category=META,
        levels=LEVELS,
        categories=categories,
        samples=tuple(samples),
        attribute_groups=groups,
        layout="CUB-200-2011",
    )


def _read_classes(path: Path) -> tuple[dict[int, int], tuple[Category, ...]]:
    """classes.txt → (class id → category index, categories in id order)."""
    rows: dict[int, tuple[str, int]] = {}
    for lineno, line in read_lines(path):
        sid, folder = split_fields(path, lineno, line, 2, "<class_id> <class_name>")
        cid = parse_int(path, lineno, sid, "class_id")
        if cid in rows:
            raise DataFormatError(
                path, f"duplicate class id {cid} (first on line {rows[cid][1]})", line=lineno
            )
        rows[cid] = (folder, lineno)
    if not rows:
        raise DataFormatError(path, "defines no classes")
    ids = sorted(rows)
    categories = []
    for index, cid in enumerate(ids):
        species = species_name(rows[cid][0])
        if not species:
            raise DataFormatError(path, "empty class name", line=rows[cid][1])
        categories.append(Category(index, species, (BIRD_CLASS, genus_name(species), species)))
    return {cid: i for i, cid in enumerate(ids)}, tuple(categories)


def _read_images(base: Path) -> dict[int, tuple[str, int]]:
    """images.txt → image id → (path relative to ``base``, line)."""
    path = base / "images.txt"
    out: dict[int, tuple[str, int]] = {}
    by_path: dict[str, tuple[int, int]] = {}  # file → (first image id, its line)
    for lineno, line in read_lines(path):
        sid, rel = split_fields(path, lineno, line, 2, "<image_id> <image_name>")
        image_id = parse_int(path, lineno, sid, "image_id")
        if image_id in out:
            raise DataFormatError(
                path,
                f"duplicate image id {image_id} (first on line {out[image_id][1]})",
                line=lineno,
            )
        inner = safe_relpath(base / "images", rel, source=path, line=lineno)
        first = by_path.setdefault(inner, (image_id, lineno))
        if first[0] != image_id:
            raise DataFormatError(
                path,
                f"image id {image_id} points at the same file {inner!r} as image id "
                f"{first[0]} (line {first[1]}): its questions would repeat the other's",
                line=lineno,
                hint="list each image file once, under one id",
            )
        out[image_id] = (f"images/{inner}", lineno)
    if not out:
        raise DataFormatError(path, "lists no images")
    return out


def _read_id_map(
    path: Path, images: dict[int, tuple[str, int]], expected: str
) -> dict[int, tuple[int, int]]:
    """A two-integer-column file keyed by image id → image id → (value, line)."""
    out: dict[int, tuple[int, int]] = {}
    for lineno, line in read_lines(path):
        parts = line.split()
        if len(parts) != 2:
            raise DataFormatError(path, f"expected {expected}, got {line!r}", line=lineno)
        image_id = parse_int(path, lineno, parts[0], "image_id")
        value = parse_int(path, lineno, parts[1], expected.split()[1].strip("<>"))
        if image_id in out:
            raise DataFormatError(
                path,
                f"duplicate image id {image_id} (first on line {out[image_id][1]})",
                line=lineno,
            )
        if image_id not in images:
            raise DataFormatError(path, f"image id {image_id} is not in images.txt", line=lineno)
        out[image_id] = (value, lineno)
    missing = [i for i in images if i not in out]
    if missing:
        first = missing[0]
        raise DataFormatError(
            path,
            f"{len(missing)} image id(s) of images.txt are missing here, "
            f"the first is {first} (images.txt line {images[first][1]})",
        )
    return out


def _attributes_file(base: Path) -> Path | None:
    for candidate in (base / "attributes.txt", base.parent / "attributes.txt"):
        if candidate.is_file():
            return candidate
    return None


def _read_attribute_names(
    base: Path,
) -> tuple[tuple[AttributeGroup, ...], dict[int, tuple[str, str]]]:
    """attributes.txt → (groups with values in file order, attribute id → (group, value))."""
    labels = base / "attributes" / "image_attribute_labels.txt"
    path = _attributes_file(base)
    if path is None:
        if labels.is_file():
            raise DataFormatError(
                base / "attributes.txt",
                "missing: the attribute names for attributes/image_attribute_labels.txt",
                hint=f"looked beside images.txt and in {base.parent}",
            )
        return (), {}
    values: dict[str, list[str]] = {}
    by_id: dict[int, tuple[str, str]] = {}
    seen_line: dict[int, int] = {}
    for lineno, line in read_lines(path):
        sid, spec = split_fields(path, lineno, line, 2, "<attribute_id> <group>::<value>")
        aid = parse_int(path, lineno, sid, "attribute_id")
        raw_group, sep, raw_value = spec.partition("::")
        if not sep or not raw_group.strip() or not raw_value.strip():
            raise DataFormatError(
                path, f"expected <attribute_id> <group>::<value>, got {line!r}", line=lineno
            )
        if aid in by_id:
            raise DataFormatError(
                path, f"duplicate attribute id {aid} (first on line {seen_line[aid]})", line=lineno
            )
        group, value = attribute_group_name(raw_group), attribute_value_name(raw_value)
        values.setdefault(group, []).append(value)
        by_id[aid] = (group, value)
        seen_line[aid] = lineno
    groups = tuple(
        AttributeGroup(g, tuple(dict.fromkeys(v)), kind=attribute_kind(g))
        for g, v in values.items()
    )
    return groups, by_id


def _read_certainties(path: Path) -> frozenset[int]:
    if not path.is_file():
        return frozenset({1, 2, 3, 4})
    ids = set()
    for lineno, line in read_lines(path):
        sid, _name = split_fields(path, lineno, line, 2, "<certainty_id> <certainty_name>")
        ids.add(parse_int(path, lineno, sid, "certainty_id"))
    return frozenset(ids)


def _read_annotations(
    base: Path,
    images: dict[int, tuple[str, int]],
    attr_of_id: dict[int, tuple[str, str]],
) -> dict[int, tuple[Annotation, ...]]:
    """image_attribute_labels.txt → image id → its present attributes (extra fields ignored).

    The file has 3.7M lines, ~90% of them ``is_present = 0``: those are only checked for
    shape, the present ones are fully parsed.
    """
    path = base / "attributes" / "image_attribute_labels.txt"
    if not path.is_file():
        folder = base / "attributes"
        if (folder.is_dir() and any(folder.iterdir())) or (base / "attributes.txt").is_file():
            # the attribute part of the dataset is there but its labels are not: every
            # attribute case would silently drop out of the run
            raise DataFormatError(
                path,
                "missing: the per-image attribute labels (the attribute names are there)",
                hint="restore it from CUB_200_2011.tgz, or remove attributes.txt and "
                "attributes/ to run CUB without its attribute cases",
            )
        return {}
    certainties = _read_certainties(base / "attributes" / "certainties.txt")
    expected = "<image_id> <attribute_id> <is_present> <certainty_id> <time>"
    out: dict[int, list[Annotation]] = {}
    first_line: dict[tuple[int, int], int] = {}
    for lineno, line in read_lines(path):
        parts = line.split()
        if len(parts) < 4:
            raise DataFormatError(path, f"expected {expected}, got {line!r}", line=lineno)
        present = parts[2]
        if present == "0":
            if not (parts[0].isdigit() and parts[1].isdigit() and parts[3].isdigit()):
                raise DataFormatError(
                    path, f"expected integer ids in {expected}, got {line!r}", line=lineno
                )
            continue
        if present != "1":
            raise DataFormatError(path, f"is_present must be 0 or 1, got {present!r}", line=lineno)
        image_id = parse_int(path, lineno, parts[0], "image_id")
        aid = parse_int(path, lineno, parts[1], "attribute_id")
        certainty = parse_int(path, lineno, parts[3], "certainty_id")
        if image_id not in images:
            raise DataFormatError(path, f"image id {image_id} is not in images.txt", line=lineno)
        if aid not in attr_of_id:
            raise DataFormatError(path, f"attribute id {aid} is not in attributes.txt", line=lineno)
        if certainty not in certainties:
            raise DataFormatError(
                path,
                f"certainty id {certainty} is not one of {sorted(certainties)}",
                line=lineno,
            )
        if (image_id, aid) in first_line:
            raise DataFormatError(
                path,
                f"image {image_id} attribute {aid} is given twice "
                f"(first on line {first_line[image_id, aid]})",
                line=lineno,
            )
        first_line[image_id, aid] = lineno
        group, value = attr_of_id[aid]
        out.setdefault(image_id, []).append(Annotation(group, value, certainty))
    return {k: tuple(v) for k, v in out.items()}


def _mark_multi(
    groups: tuple[AttributeGroup, ...], annotations: dict[int, tuple[Annotation, ...]]
) -> tuple[AttributeGroup, ...]:
    """A group is multi-valued when some image has two of its values present."""
    multi: set[str] = set()
    for anns in annotations.values():
        seen: set[str] = set()
        for a in anns:
            if a.group in seen:
                multi.add(a.group)
            seen.add(a.group)
    return tuple(
        AttributeGroup(g.name, g.values, kind=g.kind, multi=g.name in multi) for g in groups
    )
