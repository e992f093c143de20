"""Text normalisation for question generation and scoring: see :mod:`pytest_fgbmk.text`.

The functions live there so the dataset loaders (which come before questions in the flow)
check their synonyms with the same rule; this module keeps the questions' import path.
"""

from __future__ import annotations

from pytest_fgbmk.text import clashes, contains_words, normalize

__all__ = ["clashes", "contains_words", "normalize"]
