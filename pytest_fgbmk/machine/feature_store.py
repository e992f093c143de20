"""The on-disk feature cache: chunks of encode views, resumable, never served stale.

An entry is keyed by (model fingerprint, dataset index hash, split, preprocessing key) and
lives in ``<cache_dir>/features/<hash of the key>/``::

    manifest.json        the key in clear (for people; written once, atomically)
    chunk-00000.npz      rows [0, chunk_rows) of the split: every view, plus the chunk's
    chunk-00001.npz      input signature; each written to a temporary file and renamed

A chunk is served only when its stored signature equals the signature of its inputs now
(each sample's id, path, and its image file's size and modification time), so an image
replaced on disk under the same name is recomputed, not served stale (a "file exists"
marker, as in CLIP_benchmark, gets this wrong). A run that dies keeps every finished chunk;
the next run computes only the missing or stale ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pytest_fgbmk.data.records import Dataset, Sample
from pytest_fgbmk.hashing import sha256_hex

STORE_VERSION = "features-1"
DEFAULT_CHUNK_ROWS = 1024
SIGNATURE = "__signature__"


@dataclass(frozen=True)
class FeatureKey:
    """What identifies a split's features."""

    model: str
    dataset_hash: str
    split: str
    preprocessing: str

    def digest(self) -> str:
        text = f"{STORE_VERSION}\0{self.model}\0{self.dataset_hash}\0{self.split}\0{self.preprocessing}"
        return sha256_hex(text, 24)


def input_signature(dataset: Dataset, samples: Sequence[Sample]) -> str:
    """A hash of the inputs of ``samples``: ids, paths, and file size + mtime where files exist."""
    h = hashlib.sha256()
    for s in samples:
        h.update(f"{s.id}\0{s.path}\0".encode())
        if dataset.image_reader is None:
            try:
                st = dataset.image_path(s).stat()
                h.update(f"{st.st_size}:{st.st_mtime_ns}\n".encode())
            except OSError:
                h.update(b"missing\n")
    return h.hexdigest()


class FeatureStore:
    """Chunked feature entries under ``<root>/features``."""

    def __init__(self, root: str | Path, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> None:
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
        self.root = Path(root) / "features"
        self.chunk_rows = chunk_rows

    def entry(self, key: FeatureKey) -> Path:
        return self.root / f"{key.digest()}-r{self.chunk_rows}"

    def write_manifest(self, key: FeatureKey, n_rows: int) -> None:
        d = self.entry(key)
        if (d / "manifest.json").exists():
            return
        body = {
            "version": STORE_VERSION,
            "model": key.model,
            "dataset_hash": key.dataset_hash,
            "split": key.split,
            "preprocessing": key.preprocessing,
            "rows": n_rows,
            "chunk_rows": self.chunk_rows,
        }
        _atomic_write(d / "manifest.json", json.dumps(body, indent=1).encode())

    def chunk_path(self, key: FeatureKey, index: int) -> Path:
        return self.entry(key) / f"chunk-{index:05d}.npz"

    def load_chunk(
        self, key: FeatureKey, index: int, signature: str
    ) -> dict[str, np.ndarray] | None:
        """The chunk's views if it exists, is readable and matches ``signature``; else None."""
        path = self.chunk_path(key, index)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z[SIGNATURE]) != signature:
                    return None
                return {k: z[k] for k in z.files if k != SIGNATURE}
        except (OSError, ValueError, KeyError):
            return None  # a damaged chunk is recomputed

    def save_chunk(
        self, key: FeatureKey, index: int, signature: str, views: dict[str, np.ndarray]
    ) -> None:
        path = self.chunk_path(key, index)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **views, **{SIGNATURE: np.array(signature)})
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
