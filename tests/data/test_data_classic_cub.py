"""CUB-200-2011 loader on a tiny faithful replica, and on broken variants of it."""

from __future__ import annotations

from pathlib import Path

import pytest
from replicas_classic import CUB_IMAGES, write_cub, write_text

from pytest_fgbmk.data import cub
from pytest_fgbmk.data.records import Annotation, AttributeGroup
from pytest_fgbmk.errors import DataFormatError


def test_module_contract() -> None:
    assert (cub.NAME, cub.META, cub.FOLDERS) == ("cub", "bird", ("CUB_200_2011", "cub"))


@pytest.mark.parametrize("use_parent", [False, True])
def test_loads_exact_index(tmp_path: Path, use_parent: bool) -> None:
    base = write_cub(tmp_path)
    ds = cub.load(tmp_path if use_parent else base)
    assert ds.root == base
    assert (ds.name, ds.meta_category, ds.levels) == ("cub", "bird", ("class", "genus", "species"))
    assert [(c.index, c.name, c.taxonomy) for c in ds.categories] == [
        (0, "black footed albatross", ("aves", "albatross", "black footed albatross")),
        (1, "laysan albatross", ("aves", "albatross", "laysan albatross")),
        (2, "northern flicker", ("aves", "flicker", "northern flicker")),
    ]
    got = [(s.id, s.path, s.category, s.category_name, s.split, s.meta) for s in ds.samples]
    assert got == [
        (
            "1",
            "images/001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg",
            0,
            "black footed albatross",
            "test",
            "bird",
        ),
        (
            "2",
            "images/001.Black_footed_Albatross/Black_Footed_Albatross_0009_34.jpg",
            0,
            "black footed albatross",
            "train",
            "bird",
        ),
        (
            "3",
            "images/002.Laysan_Albatross/Laysan_Albatross_0002_1027.jpg",
            1,
            "laysan albatross",
            "train",
            "bird",
        ),
        (
            "4",
            "images/002.Laysan_Albatross/Laysan_Albatross_0003_1033.jpg",
            1,
            "laysan albatross",
            "test",
            "bird",
        ),
        (
            "5",
            "images/036.Northern_Flicker/Northern_Flicker_0001_28,5.jpg",
            2,
            "northern flicker",
            "train",
            "bird",
        ),
    ]
    assert ds.samples[4].taxonomy == ("aves", "flicker", "northern flicker")
    assert [s.id for s in ds.split("train")] == ["2", "3", "5"]
    assert [s.id for s in ds.split("test")] == ["1", "4"]
    assert ds.splits == ("train", "test")
    assert ds.skipped == ()


def test_attributes_groups_kinds_and_certainty(tmp_path: Path) -> None:
    ds = cub.load(write_cub(tmp_path))
    assert ds.attribute_groups == (
        AttributeGroup("bill shape", ("curved (up or down)", "dagger"), kind="shape", multi=False),
        AttributeGroup("wing color", ("blue", "brown", "black"), kind="colour", multi=True),
        AttributeGroup("size", ("large (16 - 32 in)",), kind="size", multi=False),
        AttributeGroup("breast pattern", ("solid",), kind="pattern", multi=False),
    )
    by_id = {s.id: s for s in ds.samples}
    assert by_id["1"].annotations == (
        Annotation("bill shape", "curved (up or down)", 4),
        Annotation("wing color", "brown", 3),
        Annotation("wing color", "black", 2),
        Annotation("size", "large (16 - 32 in)", 4),
    )
    assert by_id["2"].annotations == (
        Annotation("bill shape", "dagger", 3),
        Annotation("wing color", "brown", 1),
    )
    assert by_id["3"].annotations == (Annotation("wing color", "black", 4),)
    assert by_id["4"].annotations == ()
    assert by_id["5"].annotations == (Annotation("breast pattern", "solid", 3),)
    assert by_id["1"].attribute_values(min_certainty=3) == {
        "bill shape": frozenset({"curved (up or down)"}),
        "wing color": frozenset({"brown"}),
        "size": frozenset({"large (16 - 32 in)"}),
    }


def test_attributes_beside_images_txt(tmp_path: Path) -> None:
    ds = cub.load(write_cub(tmp_path, attributes_in_parent=False))
    assert [g.name for g in ds.attribute_groups] == [
        "bill shape",
        "wing color",
        "size",
        "breast pattern",
    ]


def test_without_attributes_folder(tmp_path: Path) -> None:
    base = write_cub(tmp_path)
    for f in (base / "attributes").iterdir():
        f.unlink()
    (tmp_path / "attributes.txt").unlink()
    ds = cub.load(base)
    assert ds.attribute_groups == ()
    assert all(s.annotations == () for s in ds.samples)


def test_labels_without_attribute_names_is_an_error(tmp_path: Path) -> None:
    base = write_cub(tmp_path)
    (tmp_path / "attributes.txt").unlink()
    with pytest.raises(DataFormatError, match="attributes.txt.*missing"):
        cub.load(base)


@pytest.mark.parametrize("names_beside", [False, True])
def test_attribute_names_without_their_labels_is_an_error(tmp_path: Path, names_beside) -> None:
    """The attribute part is there but its labels are not: an error naming the file, not a
    CUB whose attribute cases silently drop out of the run."""
    base = write_cub(tmp_path, attributes_in_parent=not names_beside)
    (base / "attributes" / "image_attribute_labels.txt").unlink()
    with pytest.raises(DataFormatError) as e:
        cub.load(base)
    assert "image_attribute_labels.txt" in str(e.value) and "missing" in str(e.value)


def test_images_open_lazily_and_missing_image_names_file(tmp_path: Path) -> None:
    base = write_cub(tmp_path)
    missing = base / "images" / CUB_IMAGES[2][1]
    missing.unlink()
    ds = cub.load(base)  # load does not stat images
    assert len(ds.samples) == 5
    img = ds.open_image(ds.samples[0])
    assert img.mode == "RGB" and img.size == (8, 8)
    with pytest.raises(DataFormatError) as err:
        ds.open_image(ds.samples[2])
    assert err.value.path == missing
    assert "missing" in str(err.value)


def test_class_with_one_image(tmp_path: Path) -> None:
    ds = cub.load(write_cub(tmp_path))
    assert sum(s.category == 2 for s in ds.samples) == 1


def test_probe(tmp_path: Path) -> None:
    base = write_cub(tmp_path)
    assert cub.probe(base) is None
    assert cub.probe(tmp_path) is None
    empty = tmp_path / "empty"
    empty.mkdir()
    msg = cub.probe(empty)
    assert msg is not None and "images.txt" in msg


def _replace(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new, 1))


@pytest.mark.parametrize(
    ("file", "old", "new", "line", "message"),
    [
        ("images.txt", "2 001.", "2x 001.", 2, "image_id must be an integer"),
        ("images.txt", "3 002.", "1 002.", 3, "duplicate image id 1 \\(first on line 1\\)"),
        ("image_class_labels.txt", "3 2", "3 9", 3, "class id 9 is not in classes.txt"),
        ("image_class_labels.txt", "4 2", "4 2 7", 4, "expected <image_id> <class_id>"),
        ("image_class_labels.txt", "5 3", "6 3", 5, "image id 6 is not in images.txt"),
        ("train_test_split.txt", "2 1", "2 2", 2, "must be 0 or 1"),
        ("train_test_split.txt", "2 1", "1 1", 2, "duplicate image id 1"),
        ("classes.txt", "2 002.", "1 002.", 2, "duplicate class id 1"),
        (
            "attributes/image_attribute_labels.txt",
            "1 2 0 3 27.7080",
            "1 2 0",
            2,
            "expected <image_id>",
        ),
        ("attributes/image_attribute_labels.txt", "1 3 0 3", "1 x 0 3", 3, "integer ids"),
        (
            "attributes/image_attribute_labels.txt",
            "1 7 0 1",
            "1 7 2 1",
            7,
            "is_present must be 0 or 1",
        ),
        ("attributes/image_attribute_labels.txt", "2 2 1 3", "2 99 1 3", 8, "attribute id 99"),
        ("attributes/image_attribute_labels.txt", "2 2 1 3", "9 2 1 3", 8, "image id 9"),
        ("attributes/image_attribute_labels.txt", "2 2 1 3", "2 2 1 7", 8, "certainty id 7"),
        (
            "attributes/image_attribute_labels.txt",
            "2 2 1 3",
            "1 1 1 3",
            8,
            "image 1 attribute 1 is given twice \\(first on line 1\\)",
        ),
    ],
)
def test_malformed_lines_name_file_and_line(
    tmp_path: Path, file: str, old: str, new: str, line: int, message: str
) -> None:
    base = write_cub(tmp_path)
    _replace(base / file, old, new)
    with pytest.raises(DataFormatError, match=message) as err:
        cub.load(base)
    assert err.value.path == base / file
    assert err.value.line == line


def test_malformed_attribute_name_line(tmp_path: Path) -> None:
    base = write_cub(tmp_path)
    _replace(tmp_path / "attributes.txt", "2 has_bill_shape::dagger", "2 has_bill_shape_dagger")
    with pytest.raises(DataFormatError, match="<group>::<value>") as err:
        cub.load(base)
    assert (err.value.path, err.value.line) == (tmp_path / "attributes.txt", 2)


def test_image_missing_from_labels_file(tmp_path: Path) -> None:
    base = write_cub(tmp_path)
    write_text(base / "image_class_labels.txt", ["1 1", "2 1", "3 2", "5 3"])
    with pytest.raises(DataFormatError, match="the first is 4 \\(images.txt line 4\\)") as err:
        cub.load(base)
    assert err.value.path == base / "image_class_labels.txt"


@pytest.mark.parametrize("bad", ["../outside.jpg", "/etc/passwd", "a/../../x.jpg"])
def test_path_escaping_root_is_refused(tmp_path: Path, bad: str) -> None:
    rows = [*CUB_IMAGES[:2], (3, bad, 2, 1)]
    base = write_cub(tmp_path, images=rows, write_images=False)
    write_text(base / "attributes" / "image_attribute_labels.txt", ["1 1 1 4 1.0"])
    with pytest.raises(DataFormatError, match="escapes the dataset root") as err:
        cub.load(base)
    assert (err.value.path, err.value.line) == (base / "images.txt", 3)


def test_missing_index_file_is_named(tmp_path: Path) -> None:
    base = write_cub(tmp_path)
    (base / "train_test_split.txt").unlink()
    with pytest.raises(DataFormatError, match="train_test_split.txt"):
        cub.load(base)


@pytest.mark.parametrize(
    ("folder", "species", "genus"),
    [
        ("001.Black_footed_Albatross", "black footed albatross", "albatross"),
        ("098.Scott_Oriole", "scott oriole", "oriole"),
        ("110.Geococcyx", "geococcyx", "geococcyx"),
        ("022.Chuck_will_Widow", "chuck will widow", "widow"),
    ],
)
def test_names_match_release(folder: str, species: str, genus: str) -> None:
    assert cub.species_name(folder) == species
    assert cub.genus_name(species) == genus


def test_index_hash_changes_with_annotation(tmp_path: Path) -> None:
    a = cub.load(write_cub(tmp_path / "a"))
    b_base = write_cub(tmp_path / "b")
    _replace(b_base / "attributes/image_attribute_labels.txt", "1 4 1 3", "1 4 1 2")
    b = cub.load(b_base)
    assert a.index_hash != b.index_hash
