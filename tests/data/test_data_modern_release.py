"""The FG-BMK release split layout, on the release's own files and on awkward replicas."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pytest_fgbmk.data import release
from pytest_fgbmk.errors import DataFormatError

# The FG-BMK release sample lies in shared/ beside the checkout (FGBMK_OFFICIAL_SAMPLE overrides).
OFFICIAL = (
    Path(
        os.environ.get("FGBMK_OFFICIAL_SAMPLE")
        or next(
            (
                p / "shared" / "fgbmk-official-sample"
                for p in Path(__file__).resolve().parents
                if (p / "shared" / "fgbmk-official-sample").is_dir()
            ),
            Path("shared/fgbmk-official-sample"),
        )
    )
    / "machine-oriented"
)
needs_official = pytest.mark.skipif(
    not OFFICIAL.is_dir(), reason=f"the FG-BMK release sample is not at {OFFICIAL}"
)


def _copy(name: str, tmp_path: Path) -> Path:
    dst = tmp_path / name
    shutil.copytree(OFFICIAL / name, dst)
    for f in dst.iterdir():
        f.chmod(0o644)
    return dst


@needs_official
def test_official_cub_split_files(tmp_path):
    root = _copy("cub", tmp_path)
    ds = release.load(root)
    assert ds.name == "cub" and ds.meta_category == "bird" and not ds.multilabel
    assert len(ds.categories) == 200
    assert ds.categories[0].name == "black footed albatross"
    assert [len(ds.split("train")), len(ds.split("test"))] == [60, 60]
    s = ds.split("test")[0]
    assert s.path == "images/001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg"
    assert (s.category, s.category_name, s.labels) == (0, "black footed albatross", ())
    assert release.probe(root) is None


@needs_official
def test_official_skincon_is_multilabel(tmp_path):
    root = _copy("skincon", tmp_path)
    ds = release.load(root)
    assert ds.name == "skincon" and ds.meta_category == "skin" and ds.multilabel
    assert len(ds.categories) == 48 and ds.categories[15].name == "purpura/petechiae"
    s = ds.split("test")[0]
    assert s.path == "fitzpatrick17k/63a6b1136f9d27d8a2cdb4c88e3bf99d.jpg"
    assert s.labels == (3, 10, 11, 35) and s.category == 3
    assert [ds.categories[i].name for i in s.labels] == ["plaque", "crust", "erosion", "erythema"]


def _write(root: Path, classes: str, train: str, test: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "classes.txt").write_text(classes)
    (root / "train.csv").write_text(train)
    if test is not None:
        (root / "test.csv").write_text(test)
    return root


def test_comma_in_path_single_image_class_and_image_root(tmp_path):
    root = _write(
        tmp_path / "mine",
        "red fox\narctic fox\n",
        'a/fox, red.jpg,0\n"b/quoted,x.jpg",0\n',
        "c/one.jpg,1\n",
    )
    ds = release.load(root, image_root=tmp_path / "imgs", meta="mammal")
    assert ds.root == tmp_path / "imgs" and ds.meta_category == "mammal"
    assert [(s.path, s.category, s.split) for s in ds.samples] == [
        ("a/fox, red.jpg", 0, "train"),
        ("b/quoted,x.jpg", 0, "train"),
        ("c/one.jpg", 1, "test"),
    ]
    # a missing image is reported when opened, naming the file
    with pytest.raises(DataFormatError, match="image file is missing") as e:
        ds.open_image(ds.samples[2])
    assert e.value.path == tmp_path / "imgs" / "c" / "one.jpg"


@pytest.mark.parametrize(
    ("train", "line", "message"),
    [
        ("a.jpg,0\nb.jpg\n", 2, "expected 'relpath,label'"),
        ("a.jpg,0\nb.jpg,x\n", 2, "expected 'relpath,label'"),
        ("a.jpg,0\nb.jpg,2\n", 2, r"class index 2 is not in classes.txt \(0..1\)"),
        ("a.jpg,0\n\na.jpg,1\n", 3, r"duplicate image 'a.jpg' \(first listed at train.csv:1\)"),
        ("../../etc/passwd,0\n", 1, "escapes the dataset root"),
        ("/abs/x.jpg,0\n", 1, "escapes the dataset root"),
        ("a.jpg,0 0\n", 1, "repeated class index"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path, train, line, message):
    root = _write(tmp_path / "d", "a\nb\n", train)
    with pytest.raises(DataFormatError, match=message) as e:
        release.load(root)
    assert e.value.path == root / "train.csv" and e.value.line == line


def test_duplicate_across_splits(tmp_path):
    root = _write(tmp_path / "d", "a\nb\n", "x.jpg,0\n", "x.jpg,1\n")
    with pytest.raises(DataFormatError, match="duplicate image") as e:
        release.load(root)
    assert e.value.path.name == "test.csv"


def test_classes_file_problems(tmp_path):
    with pytest.raises(DataFormatError, match="blank line") as e:
        release.load(_write(tmp_path / "a", "a\n\nb\n", "x.jpg,0\n"))
    assert e.value.line == 2
    with pytest.raises(DataFormatError, match="repeats line 1"):
        release.load(_write(tmp_path / "b", "a\na\n", "x.jpg,0\n"))
    (tmp_path / "c").mkdir()
    with pytest.raises(DataFormatError, match="missing: expected one class name per line"):
        release.load(tmp_path / "c")
    assert "classes.txt" in release.probe(tmp_path / "c")
