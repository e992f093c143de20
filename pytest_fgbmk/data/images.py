"""Opening images safely: any mode Pillow reads becomes 8-bit RGB; the bomb guard stays on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from pytest_fgbmk.errors import DataFormatError


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow image (L, P, CMYK, RGBA, LA, I;16, I, F …) to 8-bit RGB.

    Transparency is composited on white; 16-bit and float images are rescaled to 0–255.
    """
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") else max(float(arr.max()), 1.0)
        arr = np.clip(arr / hi * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, mode="L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def pixel_limit() -> int | None:
    """The largest image (width × height, pixels) opened; beyond it Pillow refuses the file.

    Pillow's own decompression-bomb limit, read when asked: ``2 × Image.MAX_IMAGE_PIXELS``
    (178,956,970 pixels by default; between 1× and 2× Pillow only warns). ``None`` when a
    user switched the guard off (``Image.MAX_IMAGE_PIXELS = None``). :func:`load_rgb` and
    the run's image check (:mod:`pytest_fgbmk.data.verify`) refuse exactly the same files.
    """
    limit = Image.MAX_IMAGE_PIXELS
    return None if limit is None else 2 * int(limit)


def load_rgb(path: Path) -> Image.Image:
    """Read an image file fully into memory as RGB; a broken file names itself."""
    try:
        with Image.open(path) as img:
            img.load()
            return to_rgb(img)
    except FileNotFoundError:
        raise DataFormatError(
            path, "image file is missing", hint="check the dataset root"
        ) from None
    except Image.DecompressionBombError as e:
        raise DataFormatError(path, f"refused as a decompression bomb: {e}") from None
    except OSError as e:
        raise DataFormatError(path, f"cannot be read as an image: {e}") from None
