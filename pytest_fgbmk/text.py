"""Text normalisation shared by the dataset loaders (synonym clashes), question generation
(option clashes) and scoring.

``normalize`` folds case and unicode forms (NFKC), turns ``_``, ``-`` and punctuation into
spaces and collapses whitespace, so "Black-footed_Albatross!" and "black footed albatross"
compare equal. Two names *clash* when they are equal after normalisation or one contains
the other as whole words ("dress" inside "sundress" does not; "dress" inside "wrap dress"
does).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_NON_WORD = re.compile(r"[\W_]+")


#: Latin, Greek and Cyrillic diacritics (U+0300–U+036F) once decomposed: "Phở" reads as
#: "pho", "crème brûlée" as "creme brulee". Marks of other scripts (the Japanese voicing
#: marks U+3099/U+309A) are kept, and Hangul recomposes.
_DIACRITICS = re.compile("[\u0300-\u036f]")


_CJK = "\u2e80-\u9fff\u3040-\u30ff\uac00-\ud7af\uf900-\ufaff"
#: Where a CJK character meets a Latin letter or digit (no space between them in CJK text).
_CJK_LATIN = re.compile(f"(?<=[{_CJK}])(?=[A-Za-z0-9])|(?<=[A-Za-z0-9])(?=[{_CJK}])")


def _normalize(text: str) -> str:
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
        if not text.isascii():
            decomposed = unicodedata.normalize("NFD", text)
            if _DIACRITICS.search(decomposed):
                text = unicodedata.normalize("NFC", _DIACRITICS.sub("", decomposed))
        if _CJK_LATIN.search(text):
            text = _CJK_LATIN.sub(" ", text)  # "这是balloon flower" → "这是 balloon flower"
    return _NON_WORD.sub(" ", text.casefold()).strip()


@lru_cache(maxsize=1 << 16)
def _normalize_cached(text: str) -> str:
    return _normalize(text)


def normalize(text: str) -> str:
    """Case-folded, NFKC, Latin diacritics dropped, punctuation and ``_``/``-`` as single
    spaces, trimmed."""
    if len(text) <= 200:
        return _normalize_cached(text)
    return _normalize(text)


def contains_words(haystack: str, needle: str) -> bool:
    """Whether normalised ``needle`` occurs in normalised ``haystack`` as whole words."""
    if not needle:
        return False
    return f" {needle} " in f" {haystack} "


def clashes(a: str, b: str) -> bool:
    """Whether two names are the same or one holds the other as whole words."""
    na, nb = normalize(a), normalize(b)
    return na == nb or contains_words(na, nb) or contains_words(nb, na)
