"""Broken dataset inputs a user can bring, each refused with one message naming the file (and
line) and what to do: a class folder named in Latin-1, a Latin-1 manifest, an index file the
OS will not let us read, two CUB image ids pointing at one file. (The same inputs through
pytest, printed once with no traceback: ``tests/plugin/test_plugin_bad_inputs.py``.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from replicas_classic import CUB_IMAGES, write_cub, write_image

from pytest_fgbmk.data import cub, generic
from pytest_fgbmk.data.textio import read_lines
from pytest_fgbmk.errors import DataFormatError, shown_path
from tests.bad_inputs import latin1_image_folder, unreadable

CONVERT = "save it as UTF-8, e.g. iconv -f latin1 -t utf-8 FILE > NEW, and rerun"


def test_a_class_folder_named_in_latin1_names_the_folder_and_how_to_rename(tmp_path):
    root = latin1_image_folder(tmp_path / "generic")
    with pytest.raises(DataFormatError) as info:
        generic.load(root)
    assert str(info.value) == (
        f"{root}/caf\\xe9: the class folder name is not UTF-8 (shown with its raw bytes as "
        "\\xNN) (rename it in UTF-8, e.g. convmv -f latin1 -t utf-8 --notest -r on the dataset "
        "folder, and rerun)"
    )
    str(info.value).encode("utf-8")  # printable: no lone surrogate left in the message


def test_an_image_file_named_in_latin1_is_refused_too(tmp_path):
    root = tmp_path / "generic"
    write_image(root / "tea" / "a.png")
    bad = os.path.join(os.fsencode(root / "tea"), b"caf\xe9.png")
    write_image(Path(os.fsdecode(bad)))
    with pytest.raises(DataFormatError, match=r"tea/caf\\xe9\.png: the image file name is not"):
        generic.load(root)


def test_shown_path_keeps_utf8_and_escapes_other_bytes():
    assert shown_path("/data/café/x.png") == "/data/café/x.png"
    assert shown_path(os.fsdecode(b"/data/caf\xe9")) == "/data/caf\\xe9"


def test_a_latin1_manifest_names_the_file_line_and_column(tmp_path):
    for i in range(4):
        write_image(tmp_path / "img" / f"{i}.png")
    rows = ["path,label,split", "img/0.png,tea,test", "img/1.png,café,test", "img/2.png,tea,train"]
    (tmp_path / "manifest.csv").write_bytes("\n".join(rows).encode("latin-1"))
    with pytest.raises(DataFormatError) as info:
        generic.load(tmp_path)
    assert str(info.value) == (
        f"{tmp_path / 'manifest.csv'}:3: is not UTF-8 text: byte 0xe9 at column 14 cannot be "
        f"decoded (Latin-1 or another legacy encoding?) ({CONVERT})"
    )
    assert info.value.line == 3


def test_a_utf8_manifest_with_a_byte_order_mark_still_loads(tmp_path):
    write_image(tmp_path / "img" / "0.png")
    text = "path,label,split\nimg/0.png,café,test\n"
    (tmp_path / "manifest.csv").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert [c.name for c in generic.load(tmp_path).categories] == ["café"]


def test_a_latin1_index_file_names_its_line(tmp_path):
    path = tmp_path / "classes.txt"
    path.write_bytes("1 a\n2 b\n3 Pic épeiche\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match=r"classes\.txt:3: is not UTF-8 text: byte 0xe9 at"):
        list(read_lines(path))


def test_an_unreadable_images_txt_names_the_file_and_the_fix(tmp_path, monkeypatch):
    base = write_cub(tmp_path)
    unreadable(monkeypatch, base / "images.txt")
    with pytest.raises(DataFormatError) as info:
        cub.load(tmp_path)
    assert str(info.value) == (
        f"{base / 'images.txt'}: cannot be read: Permission denied (make it a file the user "
        "running the tests can read (check its permissions and owner), then rerun)"
    )


def test_a_folder_in_place_of_an_index_file_says_so(tmp_path):
    (tmp_path / "images.txt").mkdir()
    with pytest.raises(DataFormatError, match=r"images\.txt: cannot be read: Is a directory"):
        list(read_lines(tmp_path / "images.txt"))


def test_two_cub_image_ids_pointing_at_one_file_are_refused_with_both_lines(tmp_path):
    rows = [*CUB_IMAGES, (6, CUB_IMAGES[2][1], 2, 0)]  # id 6 repeats id 3's file
    base = write_cub(tmp_path, images=rows)
    with pytest.raises(DataFormatError) as info:
        cub.load(tmp_path)
    assert str(info.value) == (
        f"{base / 'images.txt'}:6: image id 6 points at the same file "
        f"'{CUB_IMAGES[2][1]}' as image id 3 (line 3): its questions would repeat the "
        "other's (list each image file once, under one id)"
    )


def test_the_same_cub_file_written_two_ways_is_one_file(tmp_path):
    rows = [*CUB_IMAGES, (6, "./" + CUB_IMAGES[0][1], 1, 0)]
    write_cub(tmp_path, images=rows)
    with pytest.raises(DataFormatError, match=r"images\.txt:6: image id 6 .* as image id 1 "):
        cub.load(tmp_path)


class _Loader:
    """A stand-in loader module whose probe and load fail as the OS or a decoder would."""

    FOLDERS = ("toy",)

    def __init__(self, error: Exception) -> None:
        self.error = error

    def probe(self, root: Path) -> str | None:
        raise self.error

    def load(self, root: Path):
        raise self.error


def test_what_a_loader_does_not_catch_is_still_one_line_naming_the_file(tmp_path, monkeypatch):
    from pytest_fgbmk.data import discovery

    denied = PermissionError(13, "Permission denied", str(tmp_path / "annotations.json"))
    monkeypatch.setitem(discovery.LOADERS, "toy", _Loader(denied))
    with pytest.raises(DataFormatError) as info:
        discovery.load_found("toy", tmp_path)
    assert str(info.value) == (
        f"{tmp_path / 'annotations.json'}: dataset toy: cannot be read: Permission denied "
        "(make it readable by the user running the tests, then rerun)"
    )
    bad = UnicodeDecodeError("utf-8", b"caf\xe9", 3, 4, "invalid continuation byte")
    monkeypatch.setitem(discovery.LOADERS, "toy", _Loader(bad))
    with pytest.raises(DataFormatError, match=r"dataset toy: a file or file name is not UTF-8"):
        discovery.load_found("toy", tmp_path)
    # probing under a data root: what could not be read is the reason it was not found
    (tmp_path / "toy").mkdir()
    found = discovery.discover(tmp_path, ("toy",))
    assert "toy" not in found.found
    assert found.incomplete["toy"] == (
        tmp_path / "toy",
        f"a readable layout in {tmp_path / 'toy'} ('utf-8' codec can't decode byte 0xe9 in "
        "position 3: invalid continuation byte)",
    )
