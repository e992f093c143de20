"""Broken inputs the tests build (shared by ``tests/data/test_data_bad_inputs.py`` and
``tests/plugin/test_plugin_bad_inputs.py``)."""

from __future__ import annotations

import os
import pathlib
from pathlib import Path

from PIL import Image


def latin1_image_folder(root: Path) -> Path:
    """``root/café/`` with ``é`` as the one Latin-1 byte 0xe9 (not UTF-8), and ``root/tea/``,
    three 8×8 PNGs each."""
    for name in (b"caf\xe9", b"tea"):
        folder = os.path.join(os.fsencode(root), name)
        os.makedirs(folder, exist_ok=True)
        for i in range(3):
            Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(os.path.join(folder, b"%d.png" % i))
    return root


def unreadable(monkeypatch, target: Path) -> None:
    """Reading ``target`` fails as a file without read permission does.

    The tests run as root, for whom ``chmod 000`` blocks nothing, so the OS's refusal is
    simulated: ``Path.read_bytes`` (how every index file is read, ``data/textio.py``)
    raises the ``PermissionError`` a real refusal raises, for that one file only.
    """
    real = pathlib.Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if Path(self) == target:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(pathlib.Path, "read_bytes", read_bytes)
