"""Reading MATLAB .mat index files (Stanford Dogs, Stanford Cars, Flowers102) with errors
that name the file, the variable and the entry (a .mat file has no lines)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from pytest_fgbmk.errors import DataFormatError


def load_mat(path: Path) -> dict:
    """``scipy.io.loadmat`` with a :class:`DataFormatError` naming a file it cannot read."""
    try:
        return scipy.io.loadmat(str(path))
    except FileNotFoundError:
        raise DataFormatError(path, "file is missing") from None
    except (ValueError, TypeError, OSError, scipy.io.matlab.MatReadError) as e:
        raise DataFormatError(path, f"cannot be read as a MATLAB .mat file: {e}") from None


def mat_text(path: Path, key: str, i: int, value: object) -> str:
    """One string of a MATLAB cell array (``array(['x'])`` or nested object arrays)."""
    while isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
        value = value.reshape(-1)[0]
    if isinstance(value, np.ndarray) and value.dtype.kind == "U" and value.size == 1:
        value = str(value.reshape(-1)[0])
    if not isinstance(value, str) or not value.strip():
        raise DataFormatError(path, f"{key} entry {i + 1} is not a non-empty string: {value!r}")
    return value.strip()


def mat_int(path: Path, key: str, i: int, value: object) -> int:
    """One integer of a MATLAB numeric array (stored as double, uint8 …)."""
    arr = np.asarray(value)
    if arr.size != 1 or arr.dtype.kind not in "iuf":
        raise DataFormatError(path, f"{key} entry {i + 1} is not a number: {value!r}")
    v = float(arr.reshape(-1)[0])
    if not v.is_integer():
        raise DataFormatError(path, f"{key} entry {i + 1} is not an integer: {v}")
    return int(v)


def mat_vars(path: Path, *names: str, what: str) -> dict:
    """Load ``path`` and check it defines every variable in ``names``."""
    mat = load_mat(path)
    for key in names:
        if key not in mat:
            raise DataFormatError(path, f"has no {key!r} variable", hint=f"expected {what}")
    return mat
