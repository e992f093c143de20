"""Stable hashes, ids and seeds: the same on every machine, Python run and process.

Python's ``hash()`` of a string changes per process, so every id, seed and cache key of
this project comes from here. Each function's output is part of a stored format (question
ids and seeds in baselines, cache folder names, feature-store entries), so none of them may
change what it returns; ``tests/test_hashing.py`` pins each one to literal values.

Two families, kept for compatibility with what is already stored:

* BLAKE2b over parts joined by :data:`SEP` — question ids (:func:`stable_hash`) and the
  seeds of question sampling (:func:`derive_seed`);
* SHA-256 over text — :func:`stable_seed` (the machine cases' bootstrap seeds, parts joined
  by NUL), :func:`sha256_hex` (cache keys and folder names), :func:`sha256_int` (a uniform
  integer drawn from a text: hash splits, the ``chance`` model's picks).
"""

from __future__ import annotations

import hashlib
from hashlib import blake2b

#: Joins the parts of a BLAKE2b hash input (a control character no name holds).
SEP = "\x1f"


def stable_hash(*parts: object, size: int = 8) -> str:
    """A hex digest (``2 * size`` characters) of ``str(part)`` for each part, joined by
    :data:`SEP`: BLAKE2b with ``digest_size=size``."""
    text = SEP.join(str(p) for p in parts)
    return blake2b(text.encode("utf-8", "surrogatepass"), digest_size=size).hexdigest()


def derive_seed(*parts: object) -> int:
    """A 64-bit seed (0 ≤ seed < 2**64) from (dataset, task, split, facet …) and a user seed."""
    return int(stable_hash("seed", *parts), 16)


def stable_seed(*parts: object) -> int:
    """A 32-bit seed (0 ≤ seed < 2**32): the first 4 bytes, big-endian, of SHA-256 over
    ``str(part)`` for each part joined by NUL."""
    return sha256_int("\0".join(map(str, parts)), 4)


def sha256_hex(text: str, chars: int | None = None) -> str:
    """The SHA-256 hex digest of ``text`` (UTF-8), cut to its first ``chars`` characters
    (all 64 when None)."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return digest if chars is None else digest[:chars]


def sha256_int(text: str, nbytes: int = 8) -> int:
    """The first ``nbytes`` bytes of SHA-256 over ``text`` (UTF-8) as a big-endian integer,
    uniform on ``[0, 2**(8 * nbytes))``."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:nbytes], "big")
