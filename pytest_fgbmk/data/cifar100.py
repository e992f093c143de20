"""CIFAR-100 in its published python layout: ``cifar-100-python/{train,test,meta}`` pickles.

``root`` holds the three pickles (``cifar-100-python/``) or is their parent. ``train`` and
``test`` are dicts with ``data`` (N×3072 uint8 rows: the red, green then blue 32×32
planes), ``fine_labels``, ``coarse_labels`` and ``filenames``; ``meta`` has
``fine_label_names`` and ``coarse_label_names``. Levels are superclass → class (names
with spaces: ``aquatic mammals`` → ``otter``).

There are no image files: :attr:`Dataset.image_reader` turns a sample's row into a 32×32
RGB image when it is opened (nothing is decoded at load). Sample paths are
``train/<filename>`` (for display and caching keys) and ids ``train/<row>``.

The pickles are read with an unpickler that admits numpy arrays and plain Python values
only, so a crafted file cannot run code.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pytest_fgbmk.data import layout
from pytest_fgbmk.data.records import Category, Dataset, Sample, safe_relpath
from pytest_fgbmk.data.textio import require_file
from pytest_fgbmk.errors import DataFormatError

NAME = "cifar100"
META = "generic"
FOLDERS = ("cifar-100-python", "cifar100", "cifar-100")
LEVELS = ("superclass", "class")
SPLITS = ("train", "test")
SIDE = 32

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
    ("__builtin__", "bytes"),
    ("builtins", "bytes"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_pickle(path: Path) -> dict[str, Any]:
    """A CIFAR pickle as a dict with ``str`` keys (Python 2 ``bytes`` keys decoded)."""
    require_file(path, "a CIFAR-100 python pickle")
    try:
        with path.open("rb") as fh:
            obj = _SafeUnpickler(fh, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise DataFormatError(path, f"is not a CIFAR-100 pickle: {e}") from None
    if not isinstance(obj, dict):
        raise DataFormatError(path, f"holds a {type(obj).__name__}, expected a dict")
    return {_text(k): v for k, v in obj.items()}


def _text(value: Any) -> str:
    return value.decode("latin1") if isinstance(value, bytes) else str(value)


def display(name: str) -> str:
    """``aquatic_mammals`` → ``aquatic mammals``."""
    return " ".join(name.replace("_", " ").split())


def resolve_root(root: Path) -> Path:
    """The folder holding the ``meta`` pickle: ``root`` or one of :data:`FOLDERS` under it."""
    return layout.resolve_root(root, "meta", FOLDERS)


def probe(root: Path) -> str | None:
    """``None`` when the ``train``, ``test`` and ``meta`` pickles are present."""
    base = resolve_root(root)
    return layout.missing_file(base, ("meta", *SPLITS), "CIFAR-100")


def load(root: Path) -> Dataset:
    """Read CIFAR-100's index; pixels stay in memory as rows, decoded one image at a time."""
    base = resolve_root(root)
    meta_path = base / "meta"
    meta = read_pickle(meta_path)
    fine = _names(meta_path, meta, "fine_label_names")
    coarse = _names(meta_path, meta, "coarse_label_names")
    parent: dict[int, int] = {}
    samples: list[Sample] = []
    rows: dict[str, tuple[np.ndarray, int]] = {}
    pending: list[tuple[str, int, str, int]] = []  # (split, row, filename, fine label)
    for split in SPLITS:
        path = base / split
        batch = read_pickle(path)
        for key in ("data", "fine_labels", "coarse_labels", "filenames"):
            if key not in batch:
                raise DataFormatError(path, f"has no {key!r} entry")
        data = np.asarray(batch["data"])
        if data.ndim != 2 or data.shape[1] != 3 * SIDE * SIDE or data.dtype != np.uint8:
            raise DataFormatError(
                path,
                f"data is {data.dtype} {data.shape}, expected uint8 (N, {3 * SIDE * SIDE})",
            )
        fl, cl, names = batch["fine_labels"], batch["coarse_labels"], batch["filenames"]
        if not len(fl) == len(cl) == len(names) == len(data):
            raise DataFormatError(
                path,
                f"data has {len(data)} rows but fine_labels {len(fl)}, "
                f"coarse_labels {len(cl)}, filenames {len(names)}",
            )
        for row in range(len(data)):
            f, c = int(fl[row]), int(cl[row])
            if not 0 <= f < len(fine):
                raise DataFormatError(
                    path, f"row {row}: fine label {f} is not in 0..{len(fine) - 1}"
                )
            if not 0 <= c < len(coarse):
                raise DataFormatError(
                    path, f"row {row}: coarse label {c} is not in 0..{len(coarse) - 1}"
                )
            if parent.setdefault(f, c) != c:
                raise DataFormatError(
                    path,
                    f"row {row}: class {fine[f]!r} is under {coarse[c]!r} here but under "
                    f"{coarse[parent[f]]!r} elsewhere",
                )
            pending.append((split, row, _text(names[row]), f))
        for row in range(len(data)):
            rows[f"{split}/{row}"] = (data, row)

    missing = [n for i, n in enumerate(fine) if i not in parent]
    if missing:
        raise DataFormatError(
            meta_path,
            f"class {missing[0]!r} has no image in train or test, so its superclass is unknown",
        )
    categories = tuple(
        Category(i, display(n), (display(coarse[parent[i]]), display(n)))
        for i, n in enumerate(fine)
    )
    for split, row, filename, f in pending:
        path = safe_relpath(base / split, filename, source=base / split)
        cat = categories[f]
        samples.append(
            layout.category_sample(cat, f"{split}/{row}", f"{split}/{path}", split, META)
        )
    return Dataset(
        name=NAME,
        root=base,
        meta_category=META,
        levels=LEVELS,
        categories=categories,
        samples=tuple(samples),
        layout="CIFAR-100 python",
        image_reader=_reader(rows),
    )


def _names(path: Path, meta: dict[str, Any], key: str) -> list[str]:
    if key not in meta:
        raise DataFormatError(path, f"has no {key!r} entry")
    names = [_text(n) for n in meta[key]]
    if not names or len(set(names)) != len(names):
        raise DataFormatError(path, f"{key} is empty or repeats a name")
    return names


def _reader(rows: dict[str, tuple[np.ndarray, int]]) -> Callable[[Sample], object]:
    def read(sample: Sample) -> object:
        from PIL import Image

        if sample.id not in rows:
            raise DataFormatError(sample.path, "is not a row of this CIFAR-100 index")
        data, row = rows[sample.id]
        pixels = data[row].reshape(3, SIDE, SIDE).transpose(1, 2, 0)
        return Image.fromarray(np.ascontiguousarray(pixels))

    return read
