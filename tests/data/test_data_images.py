"""data/images.py: every Pillow mode a dataset ships becomes 8-bit RGB; broken files name
themselves; the decompression-bomb guard stays on."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from pytest_fgbmk.data.images import load_rgb, to_rgb
from pytest_fgbmk.errors import DataFormatError

PILLOW_DEFAULT_LIMIT = (
    89_478_485  # Pillow's MAX_IMAGE_PIXELS (a 1024×1024×3×4 / 3 × 4 … bomb limit)
)


def _over_white(rgb: tuple[int, int, int], alpha: int) -> np.ndarray:
    a = alpha / 255.0
    return np.array([c * a + 255 * (1 - a) for c in rgb])


def test_rgb_is_returned_as_is() -> None:
    img = Image.new("RGB", (3, 2), (1, 2, 3))
    assert to_rgb(img) is img


def test_grayscale_file(tmp_path: Path) -> None:
    path = tmp_path / "g.png"
    Image.new("L", (5, 4), 77).save(path)
    img = load_rgb(path)
    assert (img.mode, img.size) == ("RGB", (5, 4))
    assert np.all(np.asarray(img) == 77)


def test_palette_with_transparency_is_composited_on_white(tmp_path: Path) -> None:
    pal = Image.new("P", (2, 1))
    pal.putpalette([255, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 6))
    pal.putpixel((0, 0), 0)
    pal.putpixel((1, 0), 1)
    path = tmp_path / "p.png"
    pal.save(path, transparency=0)
    with Image.open(path) as raw:
        assert raw.mode == "P" and raw.info.get("transparency") == 0
    img = load_rgb(path)
    assert img.mode == "RGB"
    assert img.getpixel((0, 0)) == (255, 255, 255)  # transparent red → white
    assert img.getpixel((1, 0)) == (0, 0, 255)


def test_palette_without_transparency(tmp_path: Path) -> None:
    pal = Image.new("P", (1, 1))
    pal.putpalette([10, 20, 30] + [0] * 765)
    path = tmp_path / "p.gif"
    pal.save(path)
    assert load_rgb(path).getpixel((0, 0)) == (10, 20, 30)


def test_cmyk_file(tmp_path: Path) -> None:
    path = tmp_path / "c.tif"
    Image.new("CMYK", (3, 3), (0, 255, 255, 0)).save(path)
    img = load_rgb(path)
    assert img.mode == "RGB"
    assert img.getpixel((1, 1)) == (255, 0, 0)


def test_cmyk_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "c.jpg"
    Image.new("CMYK", (8, 8), (0, 0, 0, 0)).save(path, quality=95)
    img = load_rgb(path)
    assert img.mode == "RGB"
    assert np.abs(np.asarray(img, dtype=int) - 255).max() <= 2  # no ink → white


@pytest.mark.parametrize("alpha", [0, 128, 255])
def test_rgba_is_composited_on_white(tmp_path: Path, alpha: int) -> None:
    path = tmp_path / "a.png"
    Image.new("RGBA", (2, 2), (200, 0, 40, alpha)).save(path)
    img = load_rgb(path)
    assert img.mode == "RGB"
    got = np.asarray(img, dtype=float)[0, 0]
    assert np.abs(got - _over_white((200, 0, 40), alpha)).max() <= 1


def test_la_is_composited_on_white(tmp_path: Path) -> None:
    path = tmp_path / "la.png"
    Image.new("LA", (1, 1), (0, 0)).save(path)
    assert load_rgb(path).getpixel((0, 0)) == (255, 255, 255)


def test_16_bit_grayscale_is_rescaled(tmp_path: Path) -> None:
    arr = np.array([[0, 32896, 65535]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(arr).save(path)
    with Image.open(path) as raw:
        assert raw.mode.startswith("I")
    got = np.asarray(load_rgb(path))
    assert got.shape == (1, 3, 3)
    np.testing.assert_array_equal(got[0, :, 0], [0, 128, 255])
    np.testing.assert_array_equal(got[..., 0], got[..., 2])


def test_float_image_is_rescaled_by_its_maximum(tmp_path: Path) -> None:
    path = tmp_path / "f.tif"
    Image.fromarray(np.array([[0.0, 2.0, 4.0]], dtype=np.float32)).save(path)
    np.testing.assert_array_equal(np.asarray(load_rgb(path))[0, :, 1], [0, 127, 255])


def test_truncated_file_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "cut.jpg"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path, quality=90)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match="cannot be read as an image") as err:
        load_rgb(path)
    assert err.value.path == path


def test_not_an_image_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("this is text")
    with pytest.raises(DataFormatError, match="cannot be read as an image") as err:
        load_rgb(path)
    assert err.value.path == path


def test_missing_file_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "gone" / "x.jpg"
    with pytest.raises(DataFormatError, match="image file is missing") as err:
        load_rgb(path)
    assert err.value.path == path
    assert str(path) in str(err.value)


def test_decompression_bomb_guard_is_left_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pytest_fgbmk.data  # noqa: F401  (importing the package must not lower the guard)

    assert Image.MAX_IMAGE_PIXELS == PILLOW_DEFAULT_LIMIT
    path = tmp_path / "big.png"
    Image.new("RGB", (64, 64)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 4096 px > 2 × limit: a "bomb"
    with pytest.raises(DataFormatError, match="decompression bomb") as err:
        load_rgb(path)
    assert err.value.path == path


def open_descriptors(path: Path) -> list[str]:
    """This process's open file descriptors on ``path`` (Linux's /proc/self/fd)."""
    fds = Path("/proc/self/fd")
    out = []
    for fd in fds.iterdir():
        try:
            if Path(os.readlink(fd)) == path:
                out.append(fd.name)
        except OSError:  # the descriptor listdir itself used, closed since
            pass
    return out


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc")
def test_file_handle_is_closed(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    Image.new("RGB", (2, 2), (10, 20, 30)).save(path)
    img = load_rgb(path)  # held: a lazily read image would keep its file open
    assert open_descriptors(path.resolve()) == []
    path.unlink()  # would fail on some platforms if still open; the image must be in memory
    assert not path.exists()
    assert img.getpixel((1, 1)) == (10, 20, 30)


@settings(max_examples=20, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 6), st.integers(1, 6), st.just(3))))
def test_rgb_png_round_trips_exactly(arr: np.ndarray) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "x.png"
        Image.fromarray(arr).save(path)
        np.testing.assert_array_equal(np.asarray(load_rgb(path)), arr)


@settings(max_examples=20, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 6), st.integers(1, 6))))
def test_grayscale_becomes_three_equal_channels(arr: np.ndarray) -> None:
    out = np.asarray(to_rgb(Image.fromarray(arr)))
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], arr)


# -- EXIF orientation ---------------------------------------------------------------------

#: The EXIF tag of the orientation; 6: the stored pixels are to be turned 90° clockwise.
ORIENTATION = 0x0112


def sideways_jpeg(path: Path) -> Path:
    """A JPEG stored 40 wide × 20 high, left half red and right half blue, with EXIF
    orientation 6 (as a phone writes a portrait photo): upright it is 20 × 40."""
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    img.paste((0, 0, 255), (20, 0, 40, 20))
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    img.save(path, quality=95, exif=exif.tobytes())
    return path


def test_exif_orientation_is_applied_by_default_as_transformers_does(tmp_path):
    path = sideways_jpeg(tmp_path / "portrait.jpg")
    with Image.open(path) as raw:
        assert raw.size == (40, 20) and raw.getexif()[ORIENTATION] == 6
    upright = load_rgb(path)
    assert upright.size == (20, 40) and upright.mode == "RGB"
    arr = np.asarray(upright).astype(int)
    # turned clockwise: the stored left (red) half is now the top, the right (blue) the bottom
    assert arr[5, 10].tolist() == pytest.approx([255, 0, 0], abs=8)
    assert arr[35, 10].tolist() == pytest.approx([0, 0, 255], abs=8)
    # the reference: Pillow's exif_transpose, which transformers' load_image applies
    from PIL import ImageOps

    with Image.open(path) as raw:
        reference = np.asarray(ImageOps.exif_transpose(raw).convert("RGB"))
    assert np.array_equal(np.asarray(upright), reference)


def test_exif_orientation_ignored_keeps_the_stored_pixels(tmp_path):
    path = sideways_jpeg(tmp_path / "portrait.jpg")
    assert load_rgb(path, exif_orientation="ignore").size == (40, 20)
    with Image.open(path) as raw:
        assert np.array_equal(np.asarray(load_rgb(path, exif_orientation="ignore")), raw)


def test_a_dataset_opens_its_images_by_its_exif_rule(tmp_path):
    from dataclasses import replace

    from pytest_fgbmk.data.records import Category, Dataset, Sample

    sideways_jpeg(tmp_path / "p.jpg")
    cat = Category(0, "robin", ("robin",))
    ds = Dataset(
        "toy",
        tmp_path,
        "bird",
        ("category",),
        (cat,),
        (Sample("1", "p.jpg", 0, "robin", "test", ("robin",)),),
    )
    assert ds.exif_orientation == "apply" and ds.open_image(ds.samples[0]).size == (20, 40)
    kept = replace(ds, exif_orientation="ignore")
    assert kept.open_image(kept.samples[0]).size == (40, 20)
    assert kept.index_hash == ds.index_hash  # the index is the same; baselines record the rule
