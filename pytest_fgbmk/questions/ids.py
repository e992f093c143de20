"""The id of a question: a content hash of everything that defines what is asked.

The hashing itself (BLAKE2b over parts joined by :data:`~pytest_fgbmk.hashing.SEP`) lives in
:mod:`pytest_fgbmk.hashing`; the question generators inline the same computation on their
hot path (``questions/generate.py``), and ``tests/test_hashing.py`` checks both agree.
"""

from __future__ import annotations

from pytest_fgbmk.hashing import stable_hash


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
    return stable_hash(dataset, image, task, facet, qtype, truth, asked, template_id)
