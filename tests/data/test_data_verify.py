"""data/verify.py: each kind of broken image is found and named, the record spares a warm
rerun from reopening files, and a changed file is checked again."""

from __future__ import annotations

import io
import os
import sqlite3
import struct
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pytest_fgbmk.data import verify
from pytest_fgbmk.data.images import load_rgb, pixel_limit
from pytest_fgbmk.data.verify import (
    CORRUPT,
    EMPTY,
    MISSING,
    NOT_AN_IMAGE,
    OUTSIDE,
    OVERSIZE,
    TRUNCATED,
    UNREADABLE,
    ImageRef,
    VerifiedRecord,
    broken_images_error,
    check_image,
    verify_images,
)
from pytest_fgbmk.errors import ConfigError, DataError, DataFormatError


def _noise(size: tuple[int, int] = (64, 48), seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def _encoded(fmt: str, seed: int = 0) -> bytes:
    buf = io.BytesIO()
    _noise(seed=seed).save(buf, fmt)
    return buf.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _tiny_png(seed: int = 0) -> bytes:
    buf = io.BytesIO()
    _noise((4, 4), seed).save(buf, "PNG")
    return buf.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` × ``height`` (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + _chunk(b"IEND", b"")
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "data"
    r.mkdir()
    return r


def _write(root: Path, name: str, data: bytes) -> Path:
    p = root / name
    p.write_bytes(data)
    return p


# -- one fault at a time ------------------------------------------------------------------


@pytest.mark.parametrize("fmt,suffix", [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp")])
def test_a_good_image_passes(root, fmt, suffix):
    assert check_image(_write(root, f"ok.{suffix}", _encoded(fmt)), root) is None


def test_a_missing_file(root):
    p = check_image(root / "gone.jpg", root)
    assert (p.kind, p.path, p.line()) == (
        MISSING,
        root / "gone.jpg",
        f"{root / 'gone.jpg'}: missing",
    )


def test_a_dangling_symlink_is_missing_and_says_so(root):
    (root / "link.jpg").symlink_to(root / "target.jpg")
    p = check_image(root / "link.jpg", root)
    assert (p.kind, p.detail) == (MISSING, "a symlink whose target is gone")


def test_zero_bytes(root):
    p = check_image(_write(root, "z.jpg", b""), root)
    assert (p.kind, p.line()) == (EMPTY, f"{root / 'z.jpg'}: empty (0 bytes)")


def test_random_bytes_are_not_an_image(root):
    data = np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    p = check_image(_write(root, "r.jpg", data), root)
    assert p.kind == NOT_AN_IMAGE


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_a_truncated_jpeg_passes_verify_but_not_the_full_load(root, keep):
    data = _encoded("JPEG")
    path = _write(root, "t.jpg", data[: int(len(data) * keep)])
    with Image.open(path) as img:
        img.verify()  # what verify() alone would let through
    p = check_image(path, root)
    assert p.kind == TRUNCATED and "truncated" in p.detail


def test_a_png_without_its_tail_passes_load_but_not_verify(root):
    data = _encoded("PNG")
    path = _write(root, "t.png", data[:-20])  # the end of IDAT and IEND are gone
    with Image.open(path) as img:
        img.load()  # what load() alone would let through
    p = check_image(path, root)
    assert (p.kind, p.detail) == (TRUNCATED, "Truncated File Read")


def test_a_png_cut_in_half(root):
    data = _encoded("PNG")
    p = check_image(_write(root, "h.png", data[: len(data) // 2]), root)
    assert p.kind == TRUNCATED


def test_a_flipped_byte_in_png_data_is_corrupt(root):
    data = bytearray(_encoded("PNG"))
    data[100] ^= 0xFF
    p = check_image(_write(root, "c.png", bytes(data)), root)
    assert p.kind == CORRUPT and "IDAT" in p.detail


def test_a_header_claiming_a_huge_size_is_oversize(root):
    path = _write(root, "bomb.png", _png_claiming(50_000, 50_000))
    assert path.stat().st_size < 200
    p = check_image(path, root)
    assert p.kind == OVERSIZE and "2500000000 pixels" in p.detail


def _gray_png(root: Path, name: str, size: tuple[int, int]) -> Path:
    path = root / name
    Image.new("L", size, 128).save(path)
    return path


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_the_pixel_limit_is_the_one_load_rgb_refuses(root, monkeypatch):
    # with the guard lowered to 4,000, Pillow refuses beyond 2 × 4,000 = 8,000 pixels
    big = _gray_png(root, "big.png", (81, 100))
    ok = _gray_png(root, "ok.png", (80, 100))  # 8,000 pixels: at the limit, allowed
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4_000)
    assert pixel_limit() == 8_000
    p = check_image(big, root)
    assert p.kind == OVERSIZE and "8100 pixels" in p.detail and "8000" in p.detail
    with pytest.raises(DataFormatError, match="decompression bomb"):
        load_rgb(big)
    assert check_image(ok, root) is None
    assert load_rgb(ok).size == (80, 100)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # the guard switched off
    assert pixel_limit() is None and check_image(big, root) is None


def test_a_symlink_outside_the_root(root, tmp_path):
    outside = _write(tmp_path, "elsewhere.jpg", _encoded("JPEG"))
    (root / "in.jpg").symlink_to(outside)
    p = check_image(root / "in.jpg", root)
    assert p.kind == OUTSIDE
    assert p.detail == f"a symlink to {outside}, outside {root}" and p.via is None


def test_a_symlinked_folder_outside_the_root(root, tmp_path):
    (tmp_path / "other").mkdir()
    _write(tmp_path / "other", "a.jpg", _encoded("JPEG"))
    (root / "sub").symlink_to(tmp_path / "other")
    p = check_image(root / "sub" / "a.jpg", root)
    assert p.kind == OUTSIDE and p.via == (str(root / "sub"), str(tmp_path / "other"))
    assert (
        p.detail
        == f"in the symlinked folder {root / 'sub'} -> {tmp_path / 'other'}, outside {root}"
    )


def test_a_symlinked_images_folder_names_the_link_and_says_to_link_the_whole_dataset(tmp_path):
    """The common ``CUB_200_2011/images -> /fast/disk/images`` setup: refused (the real path
    must stay inside the dataset root), but the message names the link, where it points,
    and what to do instead; the link is found once for the files of a folder."""
    fast = tmp_path / "fast" / "disk" / "images"
    for sub in ("001.Albatross", "002.Auklet"):
        (fast / sub).mkdir(parents=True)
        for i in range(3):
            _write(fast / sub, f"{i}.jpg", _encoded("JPEG", seed=i))
    root = tmp_path / "datasets" / "CUB_200_2011"
    root.mkdir(parents=True)
    (root / "images").symlink_to(fast)
    _write(root, "inside.jpg", _encoded("JPEG"))
    refs = [
        ImageRef(root / "images" / s / f"{i}.jpg", root)
        for s in ("001.Albatross", "002.Auklet")
        for i in range(3)
    ]
    found = verify_images([*refs, ImageRef(root / "inside.jpg", root)], workers=2)
    assert {p.kind for p in found.problems} == {OUTSIDE} and len(found.problems) == 6
    assert {p.via for p in found.problems} == {(str(root / "images"), str(fast))}
    lines = str(broken_images_error(found.problems, found.checked)).splitlines()
    assert lines[1] == (
        f"  {root / 'images' / '001.Albatross' / '0.jpg'}: outside the dataset root (in the "
        f"symlinked folder {root / 'images'} -> {fast}, outside {root})"
    )
    assert lines[-1] == (
        f"{root / 'images'} is a symlinked folder inside the dataset that points outside it, "
        f"to {fast} (6 images): an image must stay inside the dataset's real folder, so "
        "symlink the whole dataset folder instead (keep the dataset folder itself on the "
        f"other disk, with images/ inside it, and link to it), or copy {fast} in place of "
        "the link; then rerun"
    )
    assert "restore or replace" not in "\n".join(lines)
    # the fix the message gives: the whole dataset folder linked from the other disk
    (root / "images").unlink()
    real = tmp_path / "fast" / "disk" / "CUB_200_2011"
    real.mkdir()
    fast.rename(real / "images")
    linked = tmp_path / "datasets" / "CUB_linked"
    linked.symlink_to(real)
    refs = [ImageRef(linked / r.path.relative_to(root), linked) for r in refs]
    assert verify_images(refs, workers=2).ok


def test_a_symlinked_folder_among_other_problems_keeps_the_general_hint(root, tmp_path):
    (tmp_path / "other").mkdir()
    _write(tmp_path / "other", "a.jpg", _encoded("JPEG"))
    (root / "sub").symlink_to(tmp_path / "other")
    problems = [check_image(root / "sub" / "a.jpg", root), check_image(root / "gone.jpg", root)]
    assert [p.kind for p in problems] == [OUTSIDE, MISSING]
    lines = str(broken_images_error(problems, 2)).splitlines()
    assert lines[-2].startswith(f"{root / 'sub'} is a symlinked folder inside the dataset")
    assert lines[-1].startswith("for the other files: restore or replace these files")


def test_leaving_link_is_none_when_no_symlink_leads_out(root, tmp_path):
    (root / "plain").mkdir()
    assert verify.leaving_link(str(root / "plain"), str(root)) is None
    assert verify.leaving_link(str(tmp_path / "elsewhere"), str(root)) is None


def test_a_symlink_that_stays_inside_the_root_passes(root):
    _write(root, "real.jpg", _encoded("JPEG"))
    (root / "alias.jpg").symlink_to(root / "real.jpg")
    assert check_image(root / "alias.jpg", root) is None


def test_a_root_that_is_itself_a_symlink(tmp_path):
    real = tmp_path / "real_root"
    real.mkdir()
    _write(real, "a.jpg", _encoded("JPEG"))
    (tmp_path / "link_root").symlink_to(real)
    assert check_image(tmp_path / "link_root" / "a.jpg", tmp_path / "link_root") is None


def test_a_prefix_sibling_of_the_root_is_outside(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data2").mkdir()
    _write(tmp_path / "data2", "a.jpg", _encoded("JPEG"))
    (tmp_path / "data" / "a.jpg").symlink_to(tmp_path / "data2" / "a.jpg")
    assert check_image(tmp_path / "data" / "a.jpg", tmp_path / "data").kind == OUTSIDE


def test_a_folder_where_an_image_should_be_is_unreadable(root):
    (root / "dir.jpg").mkdir()
    p = check_image(root / "dir.jpg", root)
    assert (p.kind, p.detail) == (UNREADABLE, "a folder, not a file")


def test_a_fifo_where_an_image_should_be_is_not_a_regular_file(root):
    os.mkfifo(root / "pipe.jpg")  # opening it would block: refused from stat alone
    p = check_image(root / "pipe.jpg", root)
    assert (p.kind, p.detail) == (UNREADABLE, "not a regular file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_a_file_without_read_permission_is_unreadable(root):
    path = _write(root, "locked.jpg", _encoded("JPEG"))
    path.chmod(0)
    try:
        assert check_image(path, root).kind == UNREADABLE
    finally:
        path.chmod(0o644)


# -- many files, the message --------------------------------------------------------------


def _broken_set(root: Path, tmp_path: Path) -> dict[str, str]:
    """One file of each kind (and two good ones); name → expected kind (None: good)."""
    good = {f"good{i}.jpg": None for i in range(2)}
    for name in good:
        _write(root, name, _encoded("JPEG"))
    _write(root, "empty.jpg", b"")
    _write(root, "random.jpg", b"not an image at all" * 50)
    _write(root, "cut.jpg", _encoded("JPEG")[:500])
    _write(root, "bomb.png", _png_claiming(50_000, 50_000))
    _write(tmp_path, "outside.jpg", _encoded("JPEG"))
    (root / "link.jpg").symlink_to(tmp_path / "outside.jpg")
    return {
        **good,
        "empty.jpg": EMPTY,
        "random.jpg": NOT_AN_IMAGE,
        "cut.jpg": TRUNCATED,
        "bomb.png": OVERSIZE,
        "link.jpg": OUTSIDE,
        "missing.jpg": MISSING,
    }


def test_verify_images_finds_every_kind_sorted_by_path(root, tmp_path):
    expected = _broken_set(root, tmp_path)
    refs = [ImageRef(root / n, root) for n in expected]
    found = verify_images(refs + refs[:3], workers=4)  # duplicates are checked once
    got = {p.path.name: p.kind for p in found.problems}
    assert got == {n: k for n, k in expected.items() if k is not None}
    assert [p.path for p in found.problems] == sorted(p.path for p in found.problems)
    # decoded: the two good files, the random bytes, the cut JPEG, the bomb's header
    assert (found.checked, found.decoded, found.recorded) == (8, 5, 0)
    assert not found.ok


def test_the_data_error_lists_ten_files_counts_the_rest_and_each_reason(root):
    problems = [verify.ImageProblem(root / f"{i:02d}.jpg", MISSING) for i in range(12)]
    problems.append(verify.ImageProblem(root / "z.jpg", TRUNCATED, "image file is truncated"))
    err = broken_images_error(problems, 500)
    assert isinstance(err, DataError)
    lines = str(err).splitlines()
    assert lines[0] == (
        "13 of 500 images the selected cases need cannot be used (12 missing, 1 truncated); "
        "no case was scored:"
    )
    assert lines[1:11] == [f"  {root / f'{i:02d}.jpg'}: missing" for i in range(10)]
    assert lines[11] == "  … and 3 more"
    assert lines[12].startswith("restore or replace these files")
    assert len(lines) == 13 and err.summary == lines[0][:-1]
    assert (
        len(err.items) == 13
        and err.items[-1] == f"{root / 'z.jpg'}: truncated (image file is truncated)"
    )


# -- the record ---------------------------------------------------------------------------


@pytest.fixture
def opens(monkeypatch):
    """Paths Pillow's ``Image.open`` was called with, in this test (thread-safe)."""
    seen: list[str] = []
    lock = threading.Lock()
    real = Image.open

    def counting(fp, *args, **kwargs):
        with lock:
            seen.append(str(fp))
        return real(fp, *args, **kwargs)

    monkeypatch.setattr(verify.Image, "open", counting)
    return seen


def test_a_warm_rerun_reopens_no_verified_file(root, tmp_path, opens):
    paths = [_write(root, f"{i}.jpg", _encoded("JPEG", seed=i)) for i in range(6)]
    refs = [ImageRef(p, root) for p in paths]
    record = VerifiedRecord(tmp_path / "cache")
    first = verify_images(refs, record=record)
    assert first.ok and (first.decoded, first.recorded) == (6, 0)
    assert len(opens) == 12  # open + verify, open + load
    assert record.count() == 6
    opens.clear()
    second = verify_images(refs, record=VerifiedRecord(tmp_path / "cache"))
    assert second.ok and (second.decoded, second.recorded) == (0, 6)
    assert opens == []


def test_a_changed_file_is_checked_again(root, tmp_path, opens):
    paths = [_write(root, f"{i}.png", _encoded("PNG", seed=i)) for i in range(3)]
    refs = [ImageRef(p, root) for p in paths]
    record = VerifiedRecord(tmp_path / "cache")
    assert verify_images(refs, record=record).ok
    opens.clear()
    # same size, later mtime: checked again, and found broken (one flipped byte)
    data = bytearray(paths[1].read_bytes())
    data[100] ^= 0xFF
    st1 = paths[1].stat()
    paths[1].write_bytes(bytes(data))
    os.utime(paths[1], ns=(st1.st_atime_ns, st1.st_mtime_ns + 5_000_000_000))
    assert paths[1].stat().st_size == st1.st_size
    # another size, the same mtime: checked again (and fine)
    st2 = paths[2].stat()
    paths[2].write_bytes(_encoded("JPEG", seed=9))
    os.utime(paths[2], ns=(st2.st_atime_ns, st2.st_mtime_ns))
    assert paths[2].stat().st_size != st2.st_size
    found = verify_images(refs, record=record)
    assert (found.decoded, found.recorded) == (2, 1)
    assert sorted({Path(p).name for p in opens}) == ["1.png", "2.png"]
    assert [(p.path.name, p.kind) for p in found.problems] == [("1.png", CORRUPT)]


@pytest.mark.parametrize("how", ["in place", "by rename"])
def test_a_file_replaced_by_a_broken_one_of_the_same_size_and_mtime_is_checked_again(
    root, tmp_path, opens, how
):
    """``cp -p`` / ``rsync -t`` / ``touch -r``: the bytes change, size and mtime do not.
    The record must not vouch for the new bytes."""
    path = _write(root, "a.png", _encoded("PNG", seed=1))
    record = VerifiedRecord(tmp_path / "cache")
    assert verify_images([ImageRef(path, root)], record=record).ok
    before = path.stat()
    broken = bytearray(path.read_bytes())
    broken[100] ^= 0xFF  # same size, a flipped byte in the image data (CRC fails)
    if how == "in place":
        path.write_bytes(bytes(broken))
    else:
        spare = root / "a.png.new"
        spare.write_bytes(bytes(broken))
        os.replace(spare, path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    opens.clear()
    found = verify_images([ImageRef(path, root)], record=record)
    assert (found.decoded, found.recorded) == (1, 0)
    assert [(p.path, p.kind) for p in found.problems] == [(path, CORRUPT)]


def test_a_file_fixed_after_a_failure_passes_and_is_then_recorded(root, tmp_path, opens):
    good = _encoded("JPEG", seed=3)
    path = _write(root, "a.jpg", good[:400])
    record = VerifiedRecord(tmp_path / "cache")
    assert [p.kind for p in verify_images([ImageRef(path, root)], record=record).problems] == [
        TRUNCATED
    ]
    path.write_bytes(good)  # restored from the original
    fixed = verify_images([ImageRef(path, root)], record=record)
    assert fixed.ok and fixed.decoded == 1 and record.count() == 1
    again = verify_images([ImageRef(path, root)], record=record)
    assert again.ok and (again.decoded, again.recorded) == (0, 1)


def test_a_broken_file_is_never_recorded(root, tmp_path, opens):
    path = _write(root, "cut.jpg", _encoded("JPEG")[:400])
    record = VerifiedRecord(tmp_path / "cache")
    for _ in range(2):
        found = verify_images([ImageRef(path, root)], record=record)
        assert [p.kind for p in found.problems] == [TRUNCATED] and found.decoded == 1
    assert record.count() == 0


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_record_of_another_check_rule_is_ignored(root, tmp_path, monkeypatch):
    path = _gray_png(root, "a.png", (100, 100))
    record = VerifiedRecord(tmp_path / "cache")
    assert verify_images([ImageRef(path, root)], record=record).ok
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4_000)  # the limit is part of the rule
    found = verify_images([ImageRef(path, root)], record=record)
    assert [p.kind for p in found.problems] == [OVERSIZE] and found.recorded == 0


def test_the_record_survives_processes_writing_at_once(root, tmp_path):
    """Two threads with their own connections (as two xdist workers) add rows at once."""
    paths = [_write(root, f"{i}.png", _tiny_png(i)) for i in range(40)]
    errors: list[BaseException] = []

    def worker(part: list[Path]) -> None:
        try:
            rec = VerifiedRecord(tmp_path / "cache")
            for p in part:
                verify_images([ImageRef(p, root)], record=rec, workers=1)
            rec.close()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(paths[i::2],)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert VerifiedRecord(tmp_path / "cache").count() == 40


def test_a_file_that_is_no_database_names_itself(tmp_path):
    (tmp_path / verify.RECORD_FILE).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ConfigError) as info:
        VerifiedRecord(tmp_path)
    assert str(info.value) == (
        f"--fgbmk-cache: {tmp_path / verify.RECORD_FILE} is damaged (file is not a database), "
        "so it is not a usable record of checked images; delete the file (the images are "
        "checked again on the next run) or pass --fgbmk-no-cache"
    )


def test_the_record_is_sqlite_in_the_cache_folder(tmp_path, root):
    path = _write(root, "a.png", _tiny_png())
    verify_images([ImageRef(path, root)], record=verify.open_record(tmp_path))
    rows = sqlite3.connect(tmp_path / verify.RECORD_FILE).execute(
        "SELECT path, size, mtime_ns, ctime_ns, inode FROM verified_files"
    )
    st = path.stat()
    assert rows.fetchall() == [(str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)]
    assert verify.open_record(None) is None


def test_locating_through_known_folders_finds_what_the_full_path_finds(tmp_path):
    from pytest_fgbmk.data.verify import locate

    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "a").mkdir(parents=True)
    outside.mkdir()
    (root / "a" / "x.jpg").write_bytes(b"jpeg")
    (root / "a" / "empty.jpg").write_bytes(b"")
    (outside / "o.jpg").write_bytes(b"jpeg")
    (root / "linked").symlink_to(root / "a")  # a folder symlink inside the root
    (root / "out").symlink_to(outside)  # a folder symlink leaving it
    (root / "a" / "esc.jpg").symlink_to(outside / "o.jpg")  # a file symlink leaving it
    (root / "a" / "gone.jpg").symlink_to(root / "nothing.jpg")
    real_root = os.path.realpath(root)
    dirs: dict[str, str] = {}
    names = ["a/x.jpg", "linked/x.jpg", "a/empty.jpg", "out/o.jpg", "a/esc.jpg",
             "a/gone.jpg", "a/missing.jpg", "a/../a/x.jpg", "a", "linked/../a/x.jpg"]  # fmt: skip
    for _ in range(2):  # the second time every folder is known
        for name in names:
            assert locate(root / name, real_root, dirs) == locate(root / name, real_root), name
    assert dirs[str(root / "linked")] == os.path.realpath(root / "a")
    key = locate(root / "linked" / "x.jpg", real_root, dirs)
    assert key[:2] == (os.path.realpath(root / "a" / "x.jpg"), 4)
