"""The id of a question: a content hash of everything that defines what is asked.

The hashing itself (BLAKE2b over parts joined by :data:`~pytest_fgbmk.hashing.SEP`) lives in
:mod:`pytest_fgbmk.hashing`; the question generators inline the same computation on their
hot path (``questions/generate.py``), and ``tests/test_hashing.py`` checks both agree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from pytest_fgbmk.hashing import SEP, stable_hash


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


def content_digest(questions: Iterable) -> str:
    """SHA-256 (hex) of what a case's questions say: each question's id, prompt, options,
    truth, accepted names and options' synonyms, in id order. Two runs with the same ids but
    other wording, options, option order or synonyms differ here (the id hashes the image,
    truth, asked name and template, not the text a model reads nor what counts as right).
    A question without option synonyms hashes as it did before they existed."""
    h = hashlib.sha256()
    for q in sorted(questions, key=lambda q: q.id):
        parts: tuple[str, ...] = (q.id, q.prompt, *q.options, "\x1e", q.truth, *q.accepted)
        if q.option_synonyms:
            for syn in q.option_synonyms:
                parts += ("\x1d", *syn)
        h.update((SEP.join(parts) + "\n").encode("utf-8", "surrogatepass"))
    return h.hexdigest()
