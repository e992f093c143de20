"""Stable ids and seeds: content hashes that are the same on every machine and Python run.

Python's ``hash()`` of a string changes per process; these use BLAKE2b instead.
"""

from __future__ import annotations

from hashlib import blake2b

#: Joins the parts of a hash input (a control character no name holds).
SEP = "\x1f"


def stable_hash(*parts: object, size: int = 8) -> str:
    """A hex digest (``2 * size`` characters) of the parts, joined unambiguously."""
    text = SEP.join(str(p) for p in parts)
    return blake2b(text.encode("utf-8", "surrogatepass"), digest_size=size).hexdigest()


def question_id(
    dataset: str,
    image: str,
    task: str,
    facet: str,
    qtype: str,
    truth: str,
    asked: str,
    template_id: str,
) -> str:
    """The id of a question: 16 hex characters from everything that defines what is asked."""
    text = SEP.join((dataset, image, task, facet, qtype, truth, asked, template_id))
    return blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def derive_seed(*parts: object) -> int:
    """A 64-bit seed from (dataset, task, split, facet …) and a user seed."""
    return int(stable_hash("seed", *parts), 16)
