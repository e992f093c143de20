"""Stanford Dogs and Stanford Cars loaders on tiny replicas written with scipy.io.savemat."""

from __future__ import annotations

from pathlib import Path

import pytest
from replicas_classic import CARS_IMAGES, DOGS_FILES, write_cars, write_dogs, write_dogs_list

from pytest_fgbmk.data import stanford_cars, stanford_dogs
from pytest_fgbmk.errors import DataFormatError

# --- Stanford Dogs ----------------------------------------------------------------


def test_dogs_contract() -> None:
    assert (stanford_dogs.NAME, stanford_dogs.META, stanford_dogs.LEVELS) == (
        "stanford_dogs",
        "dog",
        ("species",),
    )


@pytest.mark.parametrize("via_parent", [False, True])
def test_dogs_exact_index(tmp_path: Path, via_parent: bool) -> None:
    top = write_dogs(tmp_path / "stanford_dogs")
    ds = stanford_dogs.load(tmp_path if via_parent else top)
    assert ds.root == top
    assert [(c.index, c.name, c.taxonomy) for c in ds.categories] == [
        (0, "Chihuahua", ("Chihuahua",)),
        (1, "toy terrier", ("toy terrier",)),
        (2, "basenji", ("basenji",)),
    ]
    assert [(s.id, s.path, s.category, s.category_name, s.split, s.meta) for s in ds.samples] == [
        (
            "n02085620-Chihuahua/n02085620_5927",
            "Images/n02085620-Chihuahua/n02085620_5927.jpg",
            0,
            "Chihuahua",
            "train",
            "dog",
        ),
        (
            "n02087046-toy_terrier/n02087046_1206",
            "Images/n02087046-toy_terrier/n02087046_1206.jpg",
            1,
            "toy terrier",
            "train",
            "dog",
        ),
        (
            "n02087046-toy_terrier/n02087046_3,4",
            "Images/n02087046-toy_terrier/n02087046_3,4.jpg",
            1,
            "toy terrier",
            "train",
            "dog",
        ),
        (
            "n02085620-Chihuahua/n02085620_10074",
            "Images/n02085620-Chihuahua/n02085620_10074.jpg",
            0,
            "Chihuahua",
            "test",
            "dog",
        ),
        (
            "n02110806-basenji/n02110806_1013",
            "Images/n02110806-basenji/n02110806_1013.jpg",
            2,
            "basenji",
            "test",
            "dog",
        ),
    ]
    assert ds.open_image(ds.samples[2]).size == (8, 8)


def test_dogs_missing_image_named_on_open(tmp_path: Path) -> None:
    top = write_dogs(tmp_path)
    (top / "Images" / DOGS_FILES[4][0]).unlink()
    ds = stanford_dogs.load(top)
    with pytest.raises(DataFormatError, match="missing") as err:
        ds.open_image(ds.split("test")[1])
    assert err.value.path == top / "Images" / DOGS_FILES[4][0]


def test_dogs_probe(tmp_path: Path) -> None:
    assert stanford_dogs.probe(write_dogs(tmp_path / "d")) is None
    msg = stanford_dogs.probe(tmp_path / "nothing")
    assert msg is not None and "train_list.mat" in msg


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [("n02085620-Chihuahua/a.jpg", 1), ("n02087046-toy_terrier/b.jpg", 1)],
            "label 1 is given to both",
        ),
        ([("n02085620-Chihuahua/a.jpg", 0)], "labels entry 1 is 0; labels are 1-based"),
        ([("n02085620-Chihuahua/a.jpg", 1), ("n02085620-Chihuahua/a.jpg", 1)], "duplicate image"),
        (
            [("n02085620-Chihuahua/a.jpg", 1), ("n02110806-basenji/b.jpg", 3)],
            "label 2 has no image",
        ),
        ([("../escape.jpg", 1)], "escapes the dataset root"),
        ([("/abs/n02085620-Chihuahua/a.jpg", 1)], "escapes the dataset root"),
        ([("a.jpg", 1)], "has no breed folder"),
    ],
)
def test_dogs_bad_lists(tmp_path: Path, rows: list[tuple[str, int]], message: str) -> None:
    write_dogs_list(tmp_path / "lists" / "train_list.mat", rows)
    write_dogs_list(tmp_path / "lists" / "test_list.mat", [])
    with pytest.raises(DataFormatError, match=message):
        stanford_dogs.load(tmp_path)


def test_dogs_not_a_mat_file(tmp_path: Path) -> None:
    write_dogs(tmp_path)
    (tmp_path / "lists" / "test_list.mat").write_text("not matlab")
    with pytest.raises(DataFormatError, match="MATLAB") as err:
        stanford_dogs.load(tmp_path)
    assert err.value.path == tmp_path / "lists" / "test_list.mat"


def test_dogs_mat_without_labels(tmp_path: Path) -> None:
    import scipy.io

    write_dogs(tmp_path)
    scipy.io.savemat(str(tmp_path / "lists" / "train_list.mat"), {"file_list": [["x"]]})
    with pytest.raises(DataFormatError, match="has no 'labels' variable"):
        stanford_dogs.load(tmp_path)


# --- Stanford Cars ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("AM General Hummer SUV 2000", ("AM General", "Hummer SUV", "2000")),
        (
            "Aston Martin V8 Vantage Convertible 2012",
            ("Aston Martin", "V8 Vantage Convertible", "2012"),
        ),
        ("Land Rover Range Rover SUV 2012", ("Land Rover", "Range Rover SUV", "2012")),
        ("Rolls-Royce Ghost Sedan 2012", ("Rolls-Royce", "Ghost Sedan", "2012")),
        ("Mercedes-Benz S-Class Sedan 2012", ("Mercedes-Benz", "S-Class Sedan", "2012")),
        ("smart fortwo Convertible 2012", ("smart", "fortwo Convertible", "2012")),
        ("Ram C/V Cargo Van Minivan 2012", ("Ram", "C/V Cargo Van Minivan", "2012")),
    ],
)
def test_cars_parse_class_name(name: str, parts: tuple[str, str, str]) -> None:
    assert stanford_cars.parse_class_name(name) == parts


@pytest.mark.parametrize("bad", ["Hummer 2000", "Audi S4 Sedan", "Aston Martin 2012", "Audi A5 12"])
def test_cars_parse_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        stanford_cars.parse_class_name(bad)


@pytest.mark.parametrize("test_in_devkit", [False, True])
def test_cars_exact_index(tmp_path: Path, test_in_devkit: bool) -> None:
    top = write_cars(tmp_path / "stanford_cars", test_in_devkit=test_in_devkit)
    ds = stanford_cars.load(tmp_path)
    assert ds.root == top
    assert (ds.name, ds.meta_category, ds.levels) == (
        "stanford_cars",
        "car",
        ("make", "model", "year"),
    )
    assert [c.taxonomy for c in ds.categories] == [
        ("AM General", "AM General Hummer SUV", "AM General Hummer SUV 2000"),
        (
            "Aston Martin",
            "Aston Martin V8 Vantage Convertible",
            "Aston Martin V8 Vantage Convertible 2012",
        ),
        (
            "Rolls-Royce",
            "Rolls-Royce Phantom Drophead Coupe Convertible",
            "Rolls-Royce Phantom Drophead Coupe Convertible 2012",
        ),
        ("Ram", "Ram C/V Cargo Van Minivan", "Ram C/V Cargo Van Minivan 2012"),
    ]
    assert [c.name for c in ds.categories] == [c.taxonomy[-1] for c in ds.categories]
    assert [(s.id, s.path, s.category, s.split) for s in ds.samples] == [
        ("train/00001", "cars_train/00001.jpg", 0, "train"),
        ("train/00002", "cars_train/00002.jpg", 1, "train"),
        ("train/00003", "cars_train/00003.jpg", 3, "train"),
        ("test/00001", "cars_test/00001.jpg", 0, "test"),
        ("test/00002,b", "cars_test/00002,b.jpg", 2, "test"),
    ]
    assert all(
        s.meta == "car" and s.taxonomy == ds.categories[s.category].taxonomy for s in ds.samples
    )
    pixel = ds.open_image(ds.samples[4]).getpixel((0, 0))
    assert max(abs(a - b) for a, b in zip(pixel, (10, 10, 150), strict=True)) <= 3  # JPEG


def test_cars_probe_and_unlabelled_test(tmp_path: Path) -> None:
    top = write_cars(tmp_path)
    assert stanford_cars.probe(top) is None
    (top / "cars_test_annos_withlabels.mat").unlink()
    msg = stanford_cars.probe(top)
    assert msg is not None and "cars_test_annos_withlabels.mat" in msg
    with pytest.raises(DataFormatError, match="cars_test_annos.mat has no labels"):
        stanford_cars.load(top)
    assert "cars_meta.mat" in (stanford_cars.probe(tmp_path / "empty") or "")


def test_cars_missing_image_named_on_open(tmp_path: Path) -> None:
    top = write_cars(tmp_path)
    (top / "cars_train" / CARS_IMAGES[1][1]).unlink()
    ds = stanford_cars.load(top)
    with pytest.raises(DataFormatError) as err:
        ds.open_image(ds.samples[1])
    assert err.value.path == top / "cars_train" / "00002.jpg"


@pytest.mark.parametrize(
    ("images", "classes", "message"),
    [
        (
            [("train", "00001.jpg", 5), ("test", "00001.jpg", 1)],
            None,
            "entry 1: class 5 is not in devkit/cars_meta.mat \\(1..4\\)",
        ),
        (
            [("train", "00001.jpg", 1), ("train", "00001.jpg", 2)],
            None,
            "entry 2: duplicate fname '00001.jpg' \\(first at entry 1\\)",
        ),
        ([("train", "../x.jpg", 1)], None, "escapes the dataset root"),
        ([("train", "/tmp/x.jpg", 1)], None, "escapes the dataset root"),
        (None, ["Audi S4 Sedan"], "class_names entry 1: 'Audi S4 Sedan' is not"),
        (None, ["Audi S4 Sedan 2012", "Audi S4 Sedan 2012"], "class_names entry 2 repeats entry 1"),
    ],
)
def test_cars_bad_input(tmp_path: Path, images, classes, message: str) -> None:
    top = write_cars(tmp_path / "c", images=images, classes=classes)
    with pytest.raises(DataFormatError, match=message):
        stanford_cars.load(top)


def test_cars_annotations_without_class_field(tmp_path: Path) -> None:
    from replicas_classic import write_cars_annotations

    top = write_cars(tmp_path)
    write_cars_annotations(top / "cars_test_annos_withlabels.mat", [("00001.jpg", 1)], labels=False)
    with pytest.raises(DataFormatError, match="no 'class' field"):
        stanford_cars.load(top)


def test_dogs_lowercase_images_folder(tmp_path: Path) -> None:
    top = write_dogs(tmp_path)
    (top / "Images").rename(top / "images")
    ds = stanford_dogs.load(top)
    assert ds.samples[0].path == "images/n02085620-Chihuahua/n02085620_5927.jpg"
    assert ds.open_image(ds.samples[0]).size == (8, 8)
