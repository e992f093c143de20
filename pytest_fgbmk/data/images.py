"""Opening images safely: any mode Pillow reads becomes 8-bit RGB; the bomb guard stays on.

EXIF orientation is applied by default (:data:`EXIF_APPLY`): a photo stored sideways with
an orientation tag (a phone's portrait JPEG: stored 40×20, tag 6) is turned upright, as
transformers' ``load_image`` does (``PIL.ImageOps.exif_transpose``), so a model sees
what a person sees. ``--fgbmk-exif-orientation=ignore`` (:data:`EXIF_IGNORE`) keeps the
stored pixels; the choice is part of what a baseline records (``Asked.exif_orientation``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from pytest_fgbmk.errors import DataFormatError

#: Turn an image upright by its EXIF orientation tag (the default).
EXIF_APPLY = "apply"
#: Keep the stored pixels, whatever the tag says.
EXIF_IGNORE = "ignore"
EXIF_MODES = (EXIF_APPLY, EXIF_IGNORE)


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


def load_rgb(path: Path, *, exif_orientation: str = EXIF_APPLY) -> Image.Image:
    """Read an image file fully into memory as RGB; a broken file names itself.

    ``exif_orientation``: :data:`EXIF_APPLY` turns the pixels upright by the file's EXIF
    orientation tag (``PIL.ImageOps.exif_transpose``; a file without the tag is unchanged),
    :data:`EXIF_IGNORE` keeps them as stored.
    """
    try:
        with Image.open(path) as img:
            img.load()
            if exif_orientation == EXIF_APPLY:
                ImageOps.exif_transpose(img, in_place=True)  # no copy when there is no tag
            return to_rgb(img)
    except FileNotFoundError:
        raise DataFormatError(
            path, "image file is missing", hint="check the dataset root"
        ) from None
    except Image.DecompressionBombError as e:
        raise DataFormatError(path, f"refused as a decompression bomb: {e}") from None
    except OSError as e:
        raise DataFormatError(path, f"cannot be read as an image: {e}") from None
