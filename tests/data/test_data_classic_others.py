"""FGVC-Aircraft, Flowers102, Food-101 and CIFAR-100 loaders on tiny faithful replicas."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from replicas_classic import (
    AIRCRAFT_IMAGES,
    CIFAR_ROWS,
    cifar_pixels,
    write_aircraft,
    write_cifar,
    write_flowers,
    write_food,
    write_text,
)

from pytest_fgbmk.data import aircraft, cifar100, flowers102, food101
from pytest_fgbmk.errors import DataFormatError


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


# --- FGVC-Aircraft ----------------------------------------------------------------


def test_aircraft_exact_index(tmp_path: Path) -> None:
    top = write_aircraft(tmp_path / "fgvc-aircraft-2013b")
    ds = aircraft.load(tmp_path)
    assert ds.root == top
    assert (ds.name, ds.meta_category, ds.levels) == (
        "fgvc_aircraft",
        "aircraft",
        ("manufacturer", "family", "variant"),
    )
    assert [(c.index, c.name, c.taxonomy, c.synonyms) for c in ds.categories] == [
        (0, "Boeing 707-320", ("Boeing", "Boeing 707", "Boeing 707-320"), ("707-320",)),
        (1, "Boeing 737-800", ("Boeing", "Boeing 737", "Boeing 737-800"), ("737-800",)),
        (2, "BAE 146-200", ("British Aerospace", "BAE 146", "BAE 146-200"), ()),
        (3, "Cessna 172", ("Cessna", "Cessna 172", "Cessna 172"), ()),
        (
            4,
            "Douglas DC-3",
            ("Douglas Aircraft Company", "Douglas DC-3", "Douglas DC-3"),
            ("DC-3",),
        ),
        (5, "Tupolev Tu-134", ("Tupolev", "Tupolev Tu-134", "Tupolev Tu-134"), ("Tu-134",)),
    ]
    assert [(s.id, s.path, s.category, s.split) for s in ds.samples] == [
        ("1025794", "data/images/1025794.jpg", 0, "train"),
        ("1340192", "data/images/1340192.jpg", 1, "train"),
        ("2074539", "data/images/2074539.jpg", 5, "train"),
        ("0056978", "data/images/0056978.jpg", 1, "val"),
        ("1514522", "data/images/1514522.jpg", 3, "test"),
        ("0913587", "data/images/0913587.jpg", 4, "test"),
        ("0062835", "data/images/0062835.jpg", 2, "test"),
    ]
    assert ds.splits == ("train", "val", "test")
    assert all(s.meta == "aircraft" for s in ds.samples)
    assert ds.skipped == ()


@pytest.mark.parametrize(
    ("maker", "name", "shown"),
    [
        ("Boeing", "737-800", "Boeing 737-800"),
        ("Boeing", "Boeing 717", "Boeing 717"),
        ("Airbus", "A300B4", "Airbus A300B4"),
        ("Gulfstream Aerospace", "Gulfstream IV", "Gulfstream IV"),
        ("Bombardier Aerospace", "Global Express", "Bombardier Global Express"),
        ("British Aerospace", "BAE-125", "BAE-125"),
        ("British Aerospace", "Hawk T1", "British Aerospace Hawk T1"),
        ("ATR", "ATR-42", "ATR-42"),
        ("Lockheed Martin", "F-16A/B", "Lockheed Martin F-16A/B"),
        ("Ilyushin", "Il-76", "Ilyushin Il-76"),
        ("de Havilland", "DHC-8-100", "de Havilland DHC-8-100"),
        ("Supermarine", "Spitfire", "Supermarine Spitfire"),
    ],
)
def test_aircraft_display_name(maker: str, name: str, shown: str) -> None:
    assert aircraft.display_name(maker, name) == shown


def test_aircraft_variant_with_no_image_is_reported(tmp_path: Path) -> None:
    top = write_aircraft(tmp_path, images=[r for r in AIRCRAFT_IMAGES if r[2] != "Tu-134"])
    ds = aircraft.load(top)
    assert [c.name for c in ds.categories][-1] == "Douglas DC-3"
    assert ds.skipped == ("variant 'Tu-134' of variants.txt has no image in any split",)


def test_aircraft_without_val_split(tmp_path: Path) -> None:
    top = write_aircraft(tmp_path)
    for kind in ("variant", "family", "manufacturer"):
        (top / "data" / f"images_{kind}_val.txt").unlink()
    assert aircraft.load(top).splits == ("train", "test")


def test_aircraft_probe_and_missing_image(tmp_path: Path) -> None:
    top = write_aircraft(tmp_path)
    assert aircraft.probe(top) is None
    assert "variants.txt" in (aircraft.probe(tmp_path / "none") or "")
    (top / "data" / "images" / "1514522.jpg").unlink()
    ds = aircraft.load(top)
    with pytest.raises(DataFormatError, match="missing") as err:
        ds.open_image(ds.split("test")[0])
    assert err.value.path == top / "data" / "images" / "1514522.jpg"


#: (file, old text, new text, line, message, also rename the id in the split's other files)
AIRCRAFT_BAD = [
    (
        "images_variant_train.txt",
        "1340192 737-800",
        "1340192",
        2,
        "expected <image_id> <variant>",
        False,
    ),
    (
        "images_variant_train.txt",
        "1340192 737-800",
        "1025794 737-800",
        2,
        "duplicate image id 1025794 \\(first on line 1\\)",
        False,
    ),
    (
        "images_variant_train.txt",
        "1340192 737-800",
        "1340192 737-900",
        2,
        "unknown variant '737-900'",
        False,
    ),
    (
        "images_family_test.txt",
        "1514522 Cessna 172",
        "1514522 Boeing 9",
        1,
        "unknown family 'Boeing 9'",
        False,
    ),
    (
        "images_family_val.txt",
        "0056978 Boeing 737",
        "0056978 Boeing 707",
        1,
        "variant '737-800' is under 'Boeing 707' here but under 'Boeing 737' at images_family_train.txt:2",
        False,
    ),
    (
        "images_manufacturer_val.txt",
        "0056978 Boeing",
        "0056978 Cessna",
        1,
        "family 'Boeing 737' is under 'Cessna' here but under 'Boeing' at images_manufacturer_train.txt:2",
        False,
    ),
    (
        "images_variant_val.txt",
        "0056978 737-800",
        "1025794 737-800",
        1,
        "duplicate image id 1025794 \\(already in images_variant_train.txt:1\\)",
        True,
    ),
    (
        "images_family_train.txt",
        "1340192 Boeing 737",
        "9999999 Boeing 737",
        2,
        "image 9999999 is not in images_variant_train.txt",
        False,
    ),
    (
        "images_variant_test.txt",
        "1514522 Cessna 172",
        "../1514522 Cessna 172",
        1,
        "escapes the dataset root",
        True,
    ),
]


@pytest.mark.parametrize(("file", "old", "new", "line", "message", "sync"), AIRCRAFT_BAD)
def test_aircraft_bad_lines(
    tmp_path: Path, file: str, old: str, new: str, line: int, message: str, sync: bool
) -> None:
    top = write_aircraft(tmp_path)
    _replace(top / "data" / file, old, new)
    if sync:
        split = file.rsplit("_", 1)[1]
        for kind in ("family", "manufacturer"):
            _replace(top / "data" / f"images_{kind}_{split}", old.split()[0], new.split()[0])
    with pytest.raises(DataFormatError, match=message) as err:
        aircraft.load(top)
    assert (err.value.path, err.value.line) == (top / "data" / file, line)


def test_aircraft_image_without_family(tmp_path: Path) -> None:
    top = write_aircraft(tmp_path)
    write_text(top / "data" / "images_family_test.txt", ["1514522 Cessna 172", "0913587 DC-3"])
    with pytest.raises(DataFormatError, match="image 0062835 .* has no family here") as err:
        aircraft.load(top)
    assert err.value.path == top / "data" / "images_family_test.txt"


# --- Flowers102 -------------------------------------------------------------------


def test_flowers_exact_index(tmp_path: Path) -> None:
    top = write_flowers(tmp_path / "flowers102")
    ds = flowers102.load(tmp_path)
    assert ds.root == top
    assert len(ds.categories) == 102
    assert (ds.categories[0].name, ds.categories[76].name, ds.categories[101].name) == (
        "pink primrose",
        "passion flower",
        "blackberry lily",
    )
    assert [(s.id, s.path, s.category, s.category_name, s.split) for s in ds.samples] == [
        ("image_00001", "jpg/image_00001.jpg", 76, "passion flower", "train"),
        ("image_00003", "jpg/image_00003.jpg", 0, "pink primrose", "train"),
        ("image_00006", "jpg/image_00006.jpg", 49, "common dandelion", "train"),
        ("image_00004", "jpg/image_00004.jpg", 101, "blackberry lily", "val"),
        ("image_00002", "jpg/image_00002.jpg", 76, "passion flower", "test"),
        ("image_00005", "jpg/image_00005.jpg", 0, "pink primrose", "test"),
        ("image_00007", "jpg/image_00007.jpg", 76, "passion flower", "test"),
    ]
    assert all(s.meta == "flower" and s.taxonomy == (s.category_name,) for s in ds.samples)
    assert ds.skipped == ()
    assert ds.open_image(ds.samples[3]).size == (8, 8)


def test_flowers_unassigned_images_are_counted(tmp_path: Path) -> None:
    top = write_flowers(tmp_path, setid={"trnid": [1], "valid": [2], "tstid": [3]})
    ds = flowers102.load(top)
    assert len(ds.samples) == 3
    assert ds.skipped == ("4 image(s) of imagelabels.mat are in no split of setid.mat",)


@pytest.mark.parametrize(
    ("labels", "setid", "file", "message"),
    [
        ([1, 103], None, "imagelabels.mat", "labels entry 2 \\(image_00002.jpg\\) is 103"),
        (
            [1, 2],
            {"trnid": [1], "valid": [3], "tstid": [2]},
            "setid.mat",
            "valid entry 1 is image 3",
        ),
        (
            [1, 2],
            {"trnid": [1, 2], "valid": [], "tstid": [2]},
            "setid.mat",
            "tstid entry 1: image 2 is already in the train split",
        ),
    ],
)
def test_flowers_bad_input(tmp_path: Path, labels, setid, file: str, message: str) -> None:
    top = write_flowers(tmp_path, labels=labels, setid=setid)
    with pytest.raises(DataFormatError, match=message) as err:
        flowers102.load(top)
    assert err.value.path == top / file


def test_flowers_probe(tmp_path: Path) -> None:
    assert flowers102.probe(write_flowers(tmp_path / "f")) is None
    assert "imagelabels.mat" in (flowers102.probe(tmp_path / "none") or "")


# --- Food-101 ---------------------------------------------------------------------


def test_food_exact_index(tmp_path: Path) -> None:
    top = write_food(tmp_path / "food-101")
    ds = food101.load(tmp_path)
    assert ds.root == top
    assert (ds.name, ds.meta_category, ds.levels) == ("food101", "food", ("dish",))
    assert [(c.index, c.name, c.synonyms) for c in ds.categories] == [
        (0, "Apple pie", ("apple pie",)),
        (1, "Eggs benedict", ("eggs benedict",)),
        (2, "Pho", ("pho",)),
    ]
    assert [(s.id, s.path, s.category, s.split) for s in ds.samples] == [
        ("apple_pie/1005649", "images/apple_pie/1005649.jpg", 0, "train"),
        ("apple_pie/1014775", "images/apple_pie/1014775.jpg", 0, "train"),
        ("eggs_benedict/100,25", "images/eggs_benedict/100,25.jpg", 1, "train"),
        ("pho/1004763", "images/pho/1004763.jpg", 2, "train"),
        ("apple_pie/1011328", "images/apple_pie/1011328.jpg", 0, "test"),
        ("eggs_benedict/1044601", "images/eggs_benedict/1044601.jpg", 1, "test"),
    ]
    assert ds.open_image(ds.samples[2]).mode == "RGB"


@pytest.mark.parametrize(
    ("test", "line", "message"),
    [
        (["apple_pie/1011328", "ramen/1"], 2, "unknown class 'ramen'"),
        (
            ["apple_pie/1011328", "apple_pie/1005649"],
            2,
            "duplicate image 'apple_pie/1005649' \\(first at train.txt:1\\)",
        ),
        (["apple_pie"], 1, "expected <class>/<image id>"),
        (["apple_pie/a/b"], 1, "expected <class>/<image id>"),
        (["../apple_pie/1"], 1, "escapes the dataset root"),
        (["/apple_pie/1"], 1, "escapes the dataset root"),
    ],
)
def test_food_bad_lines(tmp_path: Path, test: list[str], line: int, message: str) -> None:
    top = write_food(tmp_path, test=test)
    with pytest.raises(DataFormatError, match=message) as err:
        food101.load(top)
    assert (err.value.path, err.value.line) == (top / "meta" / "test.txt", line)


def test_food_misaligned_labels_and_probe(tmp_path: Path) -> None:
    top = write_food(tmp_path)
    assert food101.probe(top) is None
    write_text(top / "meta" / "labels.txt", ["Apple pie"])
    with pytest.raises(DataFormatError, match="has 1 names but classes.txt has 3"):
        food101.load(top)
    (top / "meta" / "test.txt").unlink()
    assert "test.txt" in (food101.probe(top) or "")


# --- CIFAR-100 --------------------------------------------------------------------


def test_cifar_exact_index_and_lazy_pixels(tmp_path: Path) -> None:
    base = write_cifar(tmp_path)
    ds = cifar100.load(tmp_path)
    assert ds.root == base
    assert (ds.name, ds.meta_category, ds.levels) == (
        "cifar100",
        "generic",
        ("superclass", "class"),
    )
    assert [(c.name, c.taxonomy) for c in ds.categories] == [
        ("apple", ("fruit and vegetables", "apple")),
        ("aquarium fish", ("fish", "aquarium fish")),
        ("otter", ("aquatic mammals", "otter")),
        ("maple tree", ("trees", "maple tree")),
    ]
    assert [(s.id, s.path, s.category, s.split, s.meta) for s in ds.samples] == [
        ("train/0", "train/apple_s_000022.png", 0, "train", "generic"),
        ("train/1", "train/otter_s_000307.png", 2, "train", "generic"),
        ("train/2", "train/maple_s_00001.png", 3, "train", "generic"),
        ("test/0", "test/aquarium_fish_s_000126.png", 1, "test", "generic"),
        ("test/1", "test/apple_s_001235.png", 0, "test", "generic"),
    ]
    img = ds.open_image(ds.samples[4])
    assert (img.mode, img.size) == ("RGB", (32, 32))
    row = cifar_pixels(2, 1)[1]
    expected = np.stack([row[:1024], row[1024:2048], row[2048:]], axis=-1).reshape(32, 32, 3)
    np.testing.assert_array_equal(np.asarray(img), expected)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 31), st.integers(0, 31), st.integers(0, 2))
def test_cifar_pixel_layout_is_channel_planes(y: int, x: int, channel: int) -> None:
    """Pixel (y, x) channel c of the image is data[c * 1024 + y * 32 + x] (property)."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        ds = cifar100.load(write_cifar(Path(d)))
        img = np.asarray(ds.open_image(ds.samples[0]))
    assert img[y, x, channel] == cifar_pixels(3, 0)[0][channel * 1024 + y * 32 + x]


def test_cifar_bytes_keys_are_accepted(tmp_path: Path) -> None:
    base = write_cifar(tmp_path)
    for name in ("train", "test", "meta"):
        with (base / name).open("rb") as fh:
            obj = pickle.load(fh)
        raw = {
            k.encode(): ([x.encode() for x in v] if k.endswith("names") else v)
            for k, v in obj.items()
        }
        with (base / name).open("wb") as fh:
            pickle.dump(raw, fh, protocol=2)
    ds = cifar100.load(base)
    assert ds.samples[0].path == "train/apple_s_000022.png"
    assert ds.categories[1].taxonomy == ("fish", "aquarium fish")


class _Evil:
    def __reduce__(self):
        return (print, ("owned",))


def test_cifar_refuses_code_in_pickles(tmp_path: Path) -> None:
    base = write_cifar(tmp_path)
    with (base / "meta").open("wb") as fh:
        pickle.dump({"fine_label_names": _Evil()}, fh)
    with pytest.raises(DataFormatError, match="refusing to load builtins.print") as err:
        cifar100.load(base)
    assert err.value.path == base / "meta"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ({"train": [(4, 0, "a.png")], "test": []}, "row 0: fine label 4 is not in 0..3"),
        (
            {"train": [(0, 2, "a.png"), (0, 1, "b.png")], "test": []},
            "class 'apple' is under 'fish' here but under 'fruit_and_vegetables'",
        ),
        ({"train": [(0, 2, "a.png")], "test": []}, "class 'aquarium_fish' has no image"),
        (
            {"train": [(0, 2, "../a.png"), *CIFAR_ROWS["train"][1:]], "test": CIFAR_ROWS["test"]},
            "escapes the dataset root",
        ),
    ],
)
def test_cifar_bad_input(tmp_path: Path, rows, message: str) -> None:
    base = write_cifar(tmp_path, rows=rows)
    with pytest.raises(DataFormatError, match=message):
        cifar100.load(base)


def test_cifar_probe_and_wrong_shape(tmp_path: Path) -> None:
    base = write_cifar(tmp_path)
    assert cifar100.probe(base) is None and cifar100.probe(tmp_path) is None
    assert "meta" in (cifar100.probe(tmp_path / "none") or "")
    with (base / "test").open("wb") as fh:
        pickle.dump(
            {
                "data": np.zeros((1, 10), np.uint8),
                "fine_labels": [0],
                "coarse_labels": [2],
                "filenames": ["x"],
            },
            fh,
        )
    with pytest.raises(DataFormatError, match="expected uint8 \\(N, 3072\\)"):
        cifar100.load(base)


@pytest.mark.parametrize(
    ("write", "module", "rel"),
    [
        (write_food, food101, "images/pho/1004763.jpg"),
        (write_flowers, flowers102, "jpg/image_00006.jpg"),
    ],
)
def test_missing_image_is_named_when_opened(tmp_path: Path, write, module, rel: str) -> None:
    top = write(tmp_path)
    (top / rel).unlink()
    ds = module.load(top)  # the index loads without statting images
    sample = next(s for s in ds.samples if s.path == rel)
    with pytest.raises(DataFormatError, match="image file is missing") as err:
        ds.open_image(sample)
    assert err.value.path == top / rel
