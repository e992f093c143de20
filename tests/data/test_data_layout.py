"""The loaders' shared helpers: root resolution, first missing file, samples of a class."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_fgbmk.data import layout
from pytest_fgbmk.data.records import Annotation, Category, Sample


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")


def test_resolve_root_prefers_root_itself(tmp_path: Path) -> None:
    _touch(tmp_path / "meta" / "classes.txt")
    _touch(tmp_path / "food-101" / "meta" / "classes.txt")
    assert layout.resolve_root(tmp_path, "meta/classes.txt", ("food-101",)) == tmp_path


def test_resolve_root_takes_first_listed_folder_holding_marker(tmp_path: Path) -> None:
    _touch(tmp_path / "b" / "images.txt")
    _touch(tmp_path / "c" / "images.txt")
    assert layout.resolve_root(tmp_path, "images.txt", ("a", "c", "b")) == tmp_path / "c"


def test_resolve_root_ignores_a_folder_named_like_the_marker(tmp_path: Path) -> None:
    (tmp_path / "sub" / "meta").mkdir(parents=True)
    assert layout.resolve_root(tmp_path, "meta", ("sub",)) == tmp_path


def test_resolve_root_falls_back_to_root_as_path(tmp_path: Path) -> None:
    resolved = layout.resolve_root(str(tmp_path), "images.txt", ("x",))
    assert isinstance(resolved, Path)
    assert resolved == tmp_path


def test_missing_file_none_when_all_present(tmp_path: Path) -> None:
    _touch(tmp_path / "a.txt")
    _touch(tmp_path / "d" / "b.mat")
    assert layout.missing_file(tmp_path, ("a.txt", "d/b.mat", Path("d") / "b.mat"), "X") is None


def test_missing_file_names_the_first_missing_in_order(tmp_path: Path) -> None:
    _touch(tmp_path / "a.txt")
    (tmp_path / "c.txt").mkdir()
    got = layout.missing_file(tmp_path, ("a.txt", "c.txt", "b.txt"), "Food-101")
    assert got == f"Food-101: {tmp_path / 'c.txt'} not found"


def test_category_sample_copies_class_fields() -> None:
    cat = Category(3, "Rosa majalis", ("Rosa", "Rosa majalis"))
    ann = (Annotation("color", "red"),)
    assert layout.category_sample(cat, "i1", "img/1.jpg", "train", "flower", ann) == Sample(
        "i1", "img/1.jpg", 3, "Rosa majalis", "train", ("Rosa", "Rosa majalis"), ann, "flower"
    )


def test_category_sample_keeps_labels_of_a_multilabel_sample() -> None:
    cat = Category(0, "cap", ("cap",))
    s = layout.category_sample(cat, "7", "images/7.jpg", "test", "wine", labels=(0, 2))
    assert (s.category, s.labels, s.annotations) == (0, (0, 2), ())


def _reference_relpath(relpath: str) -> str | None:
    """safe_relpath's rule written out with PurePosixPath alone (None: refused)."""
    from pathlib import PurePosixPath

    rel = relpath.strip().replace("\\", "/")
    p = PurePosixPath(rel)
    if not rel or p.is_absolute() or ".." in p.parts:
        return None
    return str(p)


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet="ab./\\ ", max_size=12))
def test_safe_relpath_equals_the_purepath_rule_on_any_path(relpath):
    from pytest_fgbmk.data.records import safe_relpath
    from pytest_fgbmk.errors import DataFormatError

    want = _reference_relpath(relpath)
    if want is None:
        with pytest.raises(DataFormatError, match="escapes the dataset root"):
            safe_relpath(Path("/r"), relpath, source="f")
    else:
        assert safe_relpath(Path("/r"), relpath, source="f") == want


def test_safe_relpath_keeps_a_normal_path_and_normalises_the_rest():
    from pytest_fgbmk.data.records import safe_relpath

    assert safe_relpath(Path("/r"), "images/a b/x.jpg", source="f") == "images/a b/x.jpg"
    assert safe_relpath(Path("/r"), " images\\.\\a//x.jpg/ ", source="f") == "images/a/x.jpg"
