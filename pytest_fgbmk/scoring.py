"""Answer scoring: what a response says, whether it is right, and how that was decided.

``strict`` (the default) reads answers the way a person would:

* text is normalised (:func:`questions.text.normalize`: case, NFKC, punctuation and
  ``_``/``-`` as spaces) after a leading ``<think>…</think>`` block is removed;
* true/false: the first decisive "yes"/"no" word, whole words only ("not", "know",
  "nothing" are not "no"); a response with both or neither is *unparsed*;
* multiple-choice: a response that is exactly one option's text; else, when options were
  lettered, a letter in its usual forms ("B", "(B)", "B.", "B) …", "**B**", "Answer: B",
  "The answer is B", "option B"); else exactly one option's text as whole words (a
  response naming two or more options is wrong);
* short answer: the truth as whole words, or one of its accepted synonyms.

``official`` reproduces the release's ``answer_acc.py``: runs of ``_``, ``-`` and ``,``
become one space, both sides are lower-cased and trimmed, and the answer is right when the
truth is a substring of the response. It is for comparing with the paper only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_fgbmk.questions.records import Question
from pytest_fgbmk.questions.text import contains_words, normalize
from pytest_fgbmk.stats import Z95, wilson_interval

MODES = ("strict", "official")
HOWS = ("letter", "text", "yesno", "synonym", "unparsed", "official", "error")
_YES = frozenset({"yes", "yeah", "yep", "yup"})
_NO = frozenset({"no", "nope"})
_WHOLE_TF = {"true": "yes", "false": "no", "y": "yes", "n": "no"}
_THINK = re.compile(r"\A\s*<think>.*?</think>", re.S | re.I)
_OFFICIAL = re.compile(r"[_\-,]+")
_MARKUP = re.compile(r"[*_`#>\s]+")
_LETTER_LEAD = re.compile(
    r"\A[\s*_`#>]*[\(\[]?([A-Z])(?:[\)\]](?:\s|[.:]|\Z)|[.:](?:\s|\Z)|\*|\s*\Z)"
)
_LETTER_SAID = re.compile(
    r"(?:answer(?:\s+is)?|option|choice|(?:i\s+)?(?:choose|pick|select)|it\s+is|it's)"
    r"\s*[:\-]?\s*[*_`]*[\(\[]?([A-Z])(?=[\)\].:,*]|\s*\Z|\s+(?:because|since|as)\b)",
    re.I,
)


@dataclass(frozen=True)
class Scored:
    """One scored response: right or not, what was read from it, and how."""

    correct: bool
    parsed: str | None
    how: str


def strip_reasoning(response: str) -> str:
    """The response without a leading ``<think>…</think>`` block."""
    if "<think>" not in response[:200].lower():
        return response
    m = _THINK.match(response)
    if m:
        return response[m.end() :]
    return "" if response.lstrip().lower().startswith("<think>") else response


def official_correct(truth: str, response: str) -> bool:
    """The release's rule, exactly: normalised truth is a substring of the response."""
    t = _OFFICIAL.sub(" ", truth).lower().strip()
    r = _OFFICIAL.sub(" ", response).lower().strip()
    return t in r


def score(question: Question, response: str, mode: str = "strict") -> Scored:
    """Score one response; never raises on any string (a failure is ``how="error"``)."""
    if mode not in MODES:
        raise ValueError(f"unknown scoring mode {mode!r}; choose one of {', '.join(MODES)}")
    try:
        if mode == "official":
            return Scored(official_correct(question.truth, response), None, "official")
        text = normalize(strip_reasoning(response))
        if question.qtype == "tf":
            return _score_tf(question, text)
        if question.qtype == "mc":
            return _score_mc(question, response, text)
        return _score_sa(question, text)
    except Exception:  # a scorer bug must not kill a run; it is counted and reported
        return Scored(False, None, "error")


def _score_tf(q: Question, text: str) -> Scored:
    whole = _WHOLE_TF.get(text)
    if whole is not None:
        return Scored(whole == q.truth, whole, "yesno")
    words = text.split()
    first = None
    for w in words:
        if w in _YES or w in _NO:
            first = "yes" if w in _YES else "no"
            break
    if first is None:
        return Scored(False, None, "unparsed")
    other = _NO if first == "yes" else _YES
    if not other.isdisjoint(words):
        return Scored(False, None, "unparsed")
    return Scored(first == q.truth, first, "yesno")


def _score_mc(q: Question, response: str, text: str) -> Scored:
    norms = [normalize(o) for o in q.options]
    if text in norms and norms.count(text) == 1:
        opt = q.options[norms.index(text)]
        return Scored(opt == q.truth, opt, "text")
    if q.lettered and q.options:
        letter = _find_letter(strip_reasoning(response), len(q.options))
        if letter is not None:
            opt = q.options[letter]
            return Scored(opt == q.truth, opt, "letter")
    hits = _options_named(text, norms)
    if len(hits) == 1:
        opt = q.options[hits[0]]
        return Scored(opt == q.truth, opt, "text")
    if hits:
        return Scored(False, None, "text")
    return Scored(False, None, "unparsed")


def _find_letter(response: str, n: int) -> int | None:
    head = response.strip()
    m = _LETTER_LEAD.match(head)
    if m and ord(m.group(1)) - 65 < n:
        return ord(m.group(1)) - 65
    for m in _LETTER_SAID.finditer(head[:2000]):
        if m.group(1).isupper() and ord(m.group(1)) - 65 < n:
            return ord(m.group(1)) - 65
    bare = _MARKUP.sub("", head).rstrip(".:)")
    if len(bare) == 1 and "A" <= bare <= "Z" and ord(bare) - 65 < n:
        return ord(bare) - 65
    return None


def _options_named(text: str, norms: list[str]) -> list[int]:
    """Options whose normalised text occurs as whole words, longer names masking shorter."""
    padded = f" {text} "
    hits = []
    for i in sorted(range(len(norms)), key=lambda i: -len(norms[i])):
        needle = f" {norms[i]} "
        if norms[i] and needle in padded:
            hits.append(i)
            padded = padded.replace(needle, " \x00 ")
    return sorted(hits)


def _score_sa(q: Question, text: str) -> Scored:
    if not text:
        return Scored(False, None, "unparsed")
    truth = normalize(q.truth)
    if contains_words(text, truth):
        return Scored(True, q.truth, "text")
    for syn in q.accepted:
        if contains_words(text, normalize(syn)):
            return Scored(True, syn, "synonym")
    return Scored(False, text[:200], "text")


# --- aggregation -------------------------------------------------------------------------

_Z95 = Z95


def wilson(correct: int, n: int, z: float = _Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion, as percentages; (0, 100) when n is 0.

    :func:`pytest_fgbmk.stats.wilson_interval` scaled by 100.
    """
    low, high = wilson_interval(correct, n, z=z)
    return low * 100, high * 100


@dataclass(frozen=True)
class Summary:
    """Accuracy of a set of scored answers, in percent, with its 95% Wilson interval.

    ``unparsed_rate`` is the percentage of responses nothing could be read from (errors
    included); ``per_category`` maps the image category to (correct, total);
    ``all_correct_accuracy`` is the release's figure: the percentage of images whose
    questions were all answered right.
    """

    accuracy: float
    n: int
    low: float
    high: float
    unparsed_rate: float
    per_category: dict[str, tuple[int, int]]
    all_correct_accuracy: float


def summarize(questions: Sequence[Question], scored: Sequence[Scored]) -> Summary:
    """Aggregate scored answers (``scored[i]`` answers ``questions[i]``)."""
    if len(questions) != len(scored):
        raise ValueError(f"{len(questions)} questions but {len(scored)} scored answers")
    if not questions:
        raise ValueError("no questions to summarise")
    n = len(questions)
    right = 0
    unparsed = 0
    per_cat: dict[str, list[int]] = {}
    per_image: dict[tuple[str, str], bool] = {}
    for q, s in zip(questions, scored, strict=True):
        right += s.correct
        unparsed += s.how in ("unparsed", "error")
        c = per_cat.setdefault(q.category, [0, 0])
        c[0] += s.correct
        c[1] += 1
        key = (q.dataset, q.image)
        per_image[key] = per_image.get(key, True) and s.correct
    low, high = wilson(right, n)
    return Summary(
        accuracy=100.0 * right / n,
        n=n,
        low=low,
        high=high,
        unparsed_rate=100.0 * unparsed / n,
        per_category={k: (v[0], v[1]) for k, v in per_cat.items()},
        all_correct_accuracy=100.0 * sum(per_image.values()) / len(per_image),
    )
