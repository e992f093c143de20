"""Answer scoring: what a response says, whether it is right, and how that was decided.

``strict`` (the default) reads an answer the way a careful grader does (the grading rules of
the shared answer corpus): refusals and hedges are wrong, the final stated answer counts,
letters map to options, and case, plural, hyphenation, spacing and punctuation do not matter.

* The response is cleaned first: ``<think>…</think>`` blocks (an unclosed leading one
  leaves nothing), end-of-turn tokens such as ``</s>``, markdown emphasis (``*``, `````,
  leading ``#``) and a leading ``A:`` that means "Answer:". A response that is one JSON
  object is read as its answer key's value (``{"answer": "B"}``), else as its other values
  in order (``{"make": "Jeep", "model": "Wrangler SUV", "year": 2012}``).
* It is cut into sentences and clauses (sentence ends, commas, semicolons, colons, dashes,
  "but", "however", …). A question the model asks itself ("A Laysan albatross? No, …") is
  deliberation and left out. A clause that refuses or declares ignorance ("No idea.", "I
  can't tell", "it is not clear", "There is no way to tell", "No, I can't tell", 不知道)
  answers nothing, even when it contains "no" or a name.
* A name is matched as whole words in singular form, spaces and hyphens optional between
  its letters ("German Shorthaired Pointer" = "German short-haired pointer", "Arctic terns"
  = "arctic tern", "Baird's sparrow" = "baird sparrow", "St. Bernard" = "Saint Bernard"); a
  name in Chinese needs no spaces. A whole answer one slip away from a name (a letter
  substituted, inserted, dropped or two swapped, in a word of at least 7 letters, numbers
  exact: "Weimeraner", "Chihuahau") is that name. A
  name is not put forward when ruled out ("not a X", "rather than X", "unlike X", "compared
  with X", "rules out X", "X is wrong", 不是X) or corrected later ("…, but it is actually a
  Y").
* true/false: a clause answers explicitly when it opens (after fillers such as "so", "the
  answer is") with yes/no words ("Yes", "No", "Nope", "True", "Absolutely", "Negative",
  "Not at all", "It is not.", "It isn't.", "I believe so", "I don't think so", "Unlikely",
  是, 否, 不是); "no" followed by a noun ("no doubt") is not an answer. Otherwise a clause that
  names the asked object (``Question.asked``, or the name in the prompt: "Is there a pair of
  skis in the image?") answers implicitly: no when a negation precedes it ("no", "not",
  "n't", "without", "rather than", …) or "is not"/"absent" follows it, yes otherwise ("The
  image shows a pair of skis."), also with its words in another order ("a convertible Ford
  Mustang") or, for a one-word name, derived ("No ulceration is visible"); a definition ("A
  pug is a small dog breed") is no statement about the image; an implicit yes that offers
  the name among others ("X or Y", "features of both X and Y") or tentatively while keeping
  the question open ("It could be X, but other conditions should be ruled out") is a hedge;
  else a sentence restating the whole question ("The red car is (not) larger than the blue
  truck."). For an identity question, another specific name is a no ("a Cessna 172" for
  "Cessna 208?"). The last explicit answer decides, else the last implicit one.
* multiple-choice: a response that is one option's text; else, for lettered options, the
  last answer statement ("Answer: b", "the answer is (D)", "I'd go with C", "It's B", "B is
  correct", 答案是B, 答えは B, "So B.", "The species in this image is C."), else a leading
  letter ("B", "(B)", "B)", "B.", "B\\n…"), else a single
  letter named as "option B" or "(B)" and not ruled out ("(A) is wrong"); a list of letters
  ("A, B", "(A) (B) (C)", one lettered line per option) is a hedge; a letter whose attached
  text names another option is unparsed. Else option texts named: after an answer marker
  ("Answer Choice: house") that segment decides; one option named is the answer; several in
  one sentence, or with "or"/"maybe", are a hedge; several in separate sentences are
  unparsed; none: the truth named by an accepted synonym (``synonym``). Options "Yes"/"No"
  are read as true/false.
* short answer: the truth or an accepted synonym (``Question.accepted``) put forward; right
  unless it is one of several candidates ("X or Y", "either X or Y", "X/Y", "X, Y, Z",
  "maybe X, maybe Y"). After a "Final answer:" line, only that line counts.

Each verdict's ``how``: ``yesno``, ``letter``, ``text``, ``synonym`` (decided), ``hedge``
(several candidates offered: wrong), ``refusal`` (declined to answer: wrong), ``unparsed``
(nothing could be read: wrong; what an optional judge may be asked about), ``official``,
``error`` (a scorer bug, counted and reported).

``official`` reproduces the release's ``answer_acc.py``: runs of ``_``, ``-`` and ``,``
become one space, both sides are lower-cased and trimmed, and the answer is right when the
truth is a substring of the response. It is for comparing with the paper only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from pytest_fgbmk.questions.records import Question, option_names
from pytest_fgbmk.questions.text import normalize
from pytest_fgbmk.stats import Z95, wilson_interval

MODES = ("strict", "official")
HOWS = (
    "letter", "text", "yesno", "synonym", "hedge", "refusal", "unparsed", "official", "error",
)  # fmt: skip
#: Outcomes nothing could be read from (an optional judge is asked about these only).
UNPARSED_HOWS = ("unparsed",)
#: Responses longer than this are read from their first and last parts only.
_MAX_CHARS = 12_000

_THINK = re.compile(r"\A\s*<think>.*?</think>", re.S | re.I)
_THINK_ANY = re.compile(r"<think>.*?</think>", re.S | re.I)
_TOKENS = re.compile(
    r"</s>|<s>|<\|[a-z_]+\|>|<eos>|<end_of_turn>|<start_of_turn>|</?answer>|</?p>", re.I
)
_EMPHASIS = re.compile(r"(?<![^\s(\[\"'])[*`]+|[*`]+(?![^\s.,:;!?)\]\"'])|^[ \t]*#+[ \t]*", re.M)
_ANSWER_PREFIX = re.compile(r"\A\s*A\s*[:：]\s*(?=\S)")
#: A chat role leaking from the template at the start ("ASSISTANT: B", "Assistant: Yes").
_ROLE = re.compile(
    r"\A\s*(?:<\|?assistant\|?>|\[/?INST\]|(?:assistant|gpt|model|bot|ai|response|output)"
    r"\s*[:：])\s*",
    re.I,
)
#: LaTeX answer wrappers: "$\boxed{D}$", "\(\text{B}\)", "\mathrm{C}".
_LATEX = re.compile(r"\\(?:boxed|text|textbf|mathrm|mathbf|fbox)\s*\{([^{}]*)\}|\$+|\\[()\[\]]")
_OFFICIAL = re.compile(r"[_\-,]+")

# -- clauses and refusals -----------------------------------------------------------------

_SENTENCE_SPLIT = re.compile(r"[.!?;。！？；]+(?=\s|$|[^\x00-\x7f])|\n+")
_CLAUSE_SPLIT = re.compile(
    r"[:：，、]+(?=\s|$|[^\x00-\x7f])|,\s*|[ \t]+[-–—]+[ \t]+|[–—]+"
    r"|\s+(?=(?:but|however|although|though|whereas|instead|yet)\b)",
    re.I,
)
_REFUSAL = re.compile(
    r"\b(?:(?:do|does|did) not know|(?:don|doesn|didn) t know|dunno|no (?:idea|clue)"
    r"|not (?:entirely |completely |quite |totally )?(?:sure|certain|clear)|unsure|uncertain"
    r"|unclear|(?:can t|cannot|can not|could not|couldn t|unable to|not able to|impossible to"
    r"|hard to|difficult to|no (?:way|means|method) (?:to|of)|not possible to|isn t possible to"
    r"|is not possible to)(?: \w+){0,3}? (?:(?:tell|determin|say|know|answer|identif|judg"
    r"|confirm|verif|decid|assess|discern|distinguish|choose|pick)\w*|be sure|be certain|make out)|(?:cannot|can t|can not|could not) be (?:determined|confirmed"
    r"|identified|known|seen)|undeterminable|indeterminate|as an ai|i m sorry|i am sorry"
    r"|(?:not enough|insufficient|no) (?:visual )?(?:information|details?|context|evidence|clues?)"
    r"|(?:can t|cannot|unable to|not able to) (?:view|see|access|process|analy[sz]e)"
    r" (?:the |this |any )?(?:image|picture|photo))\b|不知道|不确定|无法|不清楚|看不清|不能确定"
    r"|判断できません|わかりません|分かりません|判別できません|不明です|모르겠|알 수 없|판단할 수 없"
    r"|\bno lo se\b|\bno estoy seguro|\bje ne sais pas\b|\bje ne suis pas sur|\bweiss nicht\b"
    r"|\bweiß nicht\b|\bnicht sicher\b|\bnon lo so\b|\bnao sei\b|\bне знаю\b|\bне уверен",
)


Clause = tuple[str, bool, int]


def _clauses(text: str) -> list[Clause]:
    """(normalised clause, refuses?, sentence number) for each non-empty clause, in order."""
    return list(_clauses_cached(text)) if len(text) <= 300 else _clauses_uncached(text)


def _sentences(text: str) -> list[str]:
    """The sentences of a text; a question ("A Laysan albatross? No, …") is deliberation and
    left out when the text also states something."""
    out, questions, start = [], [], 0
    for m in _SENTENCE_SPLIT.finditer(text):
        (questions if "?" in m.group() or "？" in m.group() else out).append(
            text[start : m.start()]
        )
        start = m.end()
    out.append(text[start:])
    if not any(normalize(s) for s in out):
        return questions + out
    return out


def _clauses_uncached(text: str) -> list[Clause]:
    out = []
    for k, sentence in enumerate(_sentences(text)):
        if not sentence:
            continue
        for part in _CLAUSE_SPLIT.split(sentence):
            if part:
                n = normalize(part)
                if n:
                    out.append((n, _REFUSAL.search(n) is not None, k))
    return out


@lru_cache(maxsize=1 << 14)
def _clauses_cached(text: str) -> tuple[Clause, ...]:
    return tuple(_clauses_uncached(text))


@lru_cache(maxsize=1 << 14)
def _worded_like_refusal(option: str) -> bool:
    return _REFUSAL.search(normalize(option)) is not None


def _option_clauses(text: str, options: tuple[str, ...]) -> list[Clause]:
    """:func:`_clauses` for a multiple-choice response: when an option is itself worded like
    a refusal ("unclear", "cannot be determined"), naming it is no refusal; a clause
    refuses only if it still does without the options' words."""
    clauses = _clauses(text)
    if not any(r for _, r, _ in clauses):
        return clauses
    worded = [o for o in options if _worded_like_refusal(o)]
    if not worded:
        return clauses
    out = []
    for c, refuses, k in clauses:
        if refuses:
            rest = c
            for o in worded:
                rest = f" {rest} ".replace(f" {normalize(o)} ", " ").strip()
            refuses = _REFUSAL.search(rest) is not None
        out.append((c, refuses, k))
    return out


# -- names: plural, spacing and hyphen variants ---------------------------------------------

_IRREGULAR = {
    "people": "person", "men": "man", "women": "woman", "children": "child", "mice": "mouse",
    "geese": "goose", "feet": "foot", "teeth": "tooth", "oxen": "ox", "leaves": "leaf",
    "wolves": "wolf", "knives": "knife", "calves": "calf", "halves": "half", "lice": "louse",
    "shelves": "shelf", "loaves": "loaf", "wives": "wife", "cacti": "cactus", "fungi": "fungus",
}  # fmt: skip
_CJK = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\u3040-\u30ff\uf900-\ufaff]")


#: Abbreviations that stand for a whole word inside names ("St. Bernard", "Mt. Fuji cherry").
_ABBREVIATED = {"st": "saint", "mt": "mount"}
_NUMBERS = {
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
}  # fmt: skip


@lru_cache(maxsize=1 << 16)
def _stem_word(w: str) -> str:
    if w in _IRREGULAR:
        return _IRREGULAR[w]
    if w in _NUMBERS:
        return _NUMBERS[w]  # "seven spotted" = "7 spotted"
    if w in _ABBREVIATED:
        return _ABBREVIATED[w]  # "St. Bernard" = "Saint Bernard"
    if len(w) <= 3 or not w.isascii() or not w.isalpha():
        return w
    if w.endswith("sis") and len(w) > 4:  # keratosis / keratoses, diagnosis / diagnoses
        return w[:-2] + "e"
    if w.endswith("ies"):
        return w[:-3] + "y"
    if w.endswith(("sses", "shes", "ches", "xes", "zes")):
        return w[:-2]
    if w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


def _stem_uncached(normalized: str) -> str:
    return " ".join(_stem_word(w) for w in normalized.split() if w != "s")


_stem_cached = lru_cache(maxsize=1 << 16)(_stem_uncached)


def _stem(normalized: str) -> str:
    """Each word in singular form; a possessive's lone "s" dropped ("baird s" → "baird")."""
    return _stem_cached(normalized) if len(normalized) <= 200 else _stem_uncached(normalized)


@lru_cache(maxsize=1 << 14)
def _name_pattern(name: str) -> re.Pattern[str] | None:
    """Whole-word pattern of a name in stemmed text; spaces optional between letters."""
    stem = _stem(normalize(name))
    joined = stem.replace(" ", "")
    if not joined:
        return None
    body = " ?".join(re.escape(c) for c in joined)
    left = "" if _CJK.match(joined[0]) else r"(?<!\S)"
    right = "" if _CJK.match(joined[-1]) else r"(?!\S)"
    return re.compile(left + body + right)


_RULED_OUT_BEFORE = re.compile(
    r"(?:\bnot|\bn t|\bnor|\bneither|\bnever|rather than|instead of|\bunlike|\bthan"
    r"|other than|\bexcept|\bexcluding|\bnot even|\bisn t|\baren t|compared (?:to|with)"
    r"|comparing (?:it )?(?:to|with)|in contrast (?:to|with)|as opposed to|different from"
    r"|differs? from|distinguish(?:es|ed)? (?:it )?from|rul(?:e|es|ing|ed) out)"
    r"(?: (?:a|an|the|be|just|simply|really|actually|option|choice|necessarily|\w+ly))*\s*$"
    r"|(?:\bnot|\bn t|\bneither|\bnever|\brule out|\bruled out|\bexcluding|\bexcept)"
    r"(?: (?:a|an|the|be|just|simply|really|actually|option|choice|necessarily|\w+ly))*"
    r"(?: [\w]+){1,6} (?:or|nor|and) (?:a|an|the )?\s*$"  # "not a luna moth or a cabbage white"
    r"|(?:不是|并非|不|没有|非)\s*$"
)
_RULED_OUT_AFTER = re.compile(
    r"\A\s*(?:(?:is|are|was|would be|seems|option|choice)\s+)?(?:also\s+)?"
    r"(?:not\b|n t\b|incorrect|wrong|ruled out|eliminated|excluded|unlikely|false)"
)


@lru_cache(maxsize=1 << 16)
def _name_stem(name: str) -> str:
    return _stem(normalize(name))


@lru_cache(maxsize=1 << 16)
def _compact(name: str) -> str:
    return _name_stem(name).replace(" ", "")


def _one_edit(a: str, b: str) -> bool:
    """Whether two different words are one edit apart: a letter substituted, inserted or
    dropped, or two neighbours swapped (the Damerau–Levenshtein distance is 1)."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) < len(b):
        return a[i:] == b[i + 1 :]
    return a[i + 1 :] == b[i + 1 :] or (
        i + 1 < len(a) and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2 :] == b[i + 2 :]
    )


#: The shortest word in which one slip still reads as a misspelling, not another name.
_SLIP_MIN_LETTERS = 7


def _misspelt(said: str, name: str) -> bool:
    """Whether stemmed ``said`` is stemmed ``name`` with one slip ("weimeraner" for
    "weimaraner", "chihuahau" for "chihuahua", "californian poppy" for "california poppy"):
    the same words but one, which differs by one edit, has letters only and at least
    :data:`_SLIP_MIN_LETTERS` of them. Numbers and short words must match exactly ("Audi
    S4" is not "Audi S5")."""
    a, b = said.split(), name.split()
    if len(a) != len(b) or not a:
        return False
    diff = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
    if len(diff) != 1:
        return False
    x, y = diff[0]
    return (
        min(len(x), len(y)) >= _SLIP_MIN_LETTERS
        and x.isalpha()
        and y.isalpha()
        and x.isascii()
        and _one_edit(x, y)
    )


_ARTICLE = re.compile(r"\A(?:a|an|the) ")


def _misspelt_name(whole: str, names: Sequence[str]) -> int | None:
    """The index of the one name a whole response misspells by one slip (:func:`_misspelt`),
    else None (none, or several)."""
    said = _stem(_ARTICLE.sub("", whole))
    hits = [
        i
        for i, n in enumerate(names)
        if abs(len(said) - len(_name_stem(n))) <= 1 and _misspelt(said, _name_stem(n))
    ]
    return hits[0] if len(hits) == 1 else None


_CUES = frozenset(
    {"not", "t", "nor", "neither", "never", "than", "instead", "unlike", "except", "excluding",
     "compared", "comparing", "contrast", "opposed", "different", "differ", "differs",
     "distinguish", "distinguishes", "distinguished", "rule", "rules", "ruling", "ruled"}
)  # fmt: skip
#: A later clause that corrects an earlier identification ("…, but it is actually a gull",
#: "It resembles X, but the bill indicates a Y").
_CORRECTION = re.compile(
    r"\b(?:actually|in fact|on closer (?:inspection|look|examination)|on second thought"
    r"|looking closer|correction|indicates?|suggests?|points? to|makes? it|identifies it as"
    r"|shows? (?:it|that it) is)\b.*\b(?:a|an)\b(?! (?:\w+ )?one\b)"
)


def _corrected(clauses: Sequence[Clause], after: int, names: Sequence[str]) -> bool:
    """Whether a clause after ``after`` corrects it without naming any of ``names``."""
    for c, refuses, _ in clauses[after + 1 :]:
        if not refuses and _CORRECTION.search(c):
            stem = _stem(c)
            if not any(_mentions(stem, n) for n in names):
                return True
    return False


def _mentions(clause_stem: str, name: str) -> list[tuple[int, int]]:
    """Spans of a name in a stemmed clause: as written first, else with other spacing."""
    ns = _name_stem(name)
    if not ns:
        return []
    if ns.isascii():
        padded, needle = f" {clause_stem} ", f" {ns} "
        i = padded.find(needle)
        if i >= 0:
            spans = []
            while i >= 0:
                spans.append((i, i + len(ns)))
                i = padded.find(needle, i + len(ns))
            return spans
    compact = _compact(name)
    if compact not in clause_stem.replace(" ", ""):
        return []  # cheap test first: the name's letters in a row, spaces ignored
    p = _name_pattern(name)
    return [] if p is None else [m.span() for m in p.finditer(clause_stem)]


@lru_cache(maxsize=1 << 16)
def _mention_info(clause_stem: str, name: str) -> tuple[tuple[tuple[int, int], ...], bool]:
    """A name's spans in a stemmed clause, and whether any of them is put forward."""
    spans = tuple(_mentions(clause_stem, name))
    return spans, any(_affirmed(clause_stem, sp) for sp in spans)


def _affirmed(clause_stem: str, span: tuple[int, int]) -> bool:
    """Whether a mention is put forward, not ruled out ("not X", "rather than X", "X is wrong")."""
    before = clause_stem[max(0, span[0] - 60) : span[0]]
    cued = not _CUES.isdisjoint(before.split()[-8:]) or not before.isascii()
    if cued and _RULED_OUT_BEFORE.search(before):
        return False
    return not _RULED_OUT_AFTER.match(clause_stem[span[1] :])


# -- answer markers ------------------------------------------------------------------------

_MARKER = re.compile(
    r"(?:(?:\bfinal answer|\bcorrect answer|\bthe answer|\bmy answer|\banswer choice|\banswer"
    r"|\bcorrect (?:option|choice)(?: letter)?|\boption letter)\b|答案|答え)"
    r"(?:\s+(?:is|would be|should be|will be|to the question is|to this question is))?"
    r"\s*[:：=\-]?\s*",
    re.I,
)


def _final_segment(text: str) -> str | None:
    """The line after the last answer marker that is followed by something, or None."""
    if "nswer" not in text and "NSWER" not in text and "答案" not in text:
        return None
    last = None
    for m in _MARKER.finditer(text):
        rest = text[m.end() :].split("\n", 1)[0]
        if rest.strip(" .:*\"'"):
            last = rest
    return last


#: A relative clause comparing the answer with another name ("…, which is often confused
#: with chanterelles", "…, which resembles a great blue heron but …", "(not to be confused
#: with X)"): the name in it is context, never the answer; it is dropped before reading.
_COMPARED = re.compile(
    r",?\s*(?:which|that)\s+(?:is|are|was|were|can be|may be|could be)?\s*"
    r"(?:often|commonly|frequently|sometimes|easily|usually|also)?\s*"
    r"(?:(?:confused|mistaken)\s+(?:with|for)|resembles?|looks?\s+(?:like|similar\s+to)"
    r"|similar\s+to|related\s+to|distinguished\s+from|distinguishable\s+from"
    r"|differs?\s+from|different\s+from|distinct\s+from|unlike|in\s+contrast\s+to"
    r"|contrasts?\s+with|compared\s+(?:to|with))\b[^.;!?\n]*"
    r"|\(\s*not\s+to\s+be\s+confused\s+with[^)]*\)",
    re.I,
)


def _unwrapped(m: re.Match[str]) -> str:
    return m.group(1) or ""


#: A response that is one JSON object, fenced or not.
_JSON_OBJECT = re.compile(r"\A\s*(?:```(?:json)?\s*)?(\{.*\})\s*(?:```)?\s*\Z", re.S | re.I)
#: Keys whose value is the answer ({"answer": "B"}, {"final_answer": …}).
_ANSWER_KEYS = re.compile(
    r"\A(?:final[ _]?)?(?:answer|prediction|label|choice|option|result)\Z", re.I
)
#: Keys whose value is never part of the answer (reasoning, confidence).
_ASIDE_KEYS = re.compile(
    r"reason|explanation|rationale|thought|analysis|confidence|probability|score|evidence"
    r"|justification|description|notes?\b",
    re.I,
)


def _json_answer(text: str) -> str | None:
    """The answer in a response that is one JSON object: the value of an answer key
    ({"answer": "B"}), else its other values in order ({"make": "Jeep", "model": "Wrangler
    SUV", "year": 2012} reads "Jeep Wrangler SUV 2012"); None for any other response."""
    m = _JSON_OBJECT.match(text)
    if m is None:
        return None
    try:
        obj = json.loads(m.group(1))
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    values = [(str(k), v) for k, v in obj.items() if isinstance(v, (str, int, float))]
    values = [(k, v) for k, v in values if not isinstance(v, bool)]
    for k, v in values:
        if _ANSWER_KEYS.match(k.strip()):
            return str(v)
    kept = [str(v) for k, v in values if not _ASIDE_KEYS.search(k)]
    return " ".join(kept) if kept else None


def clean(response: str) -> str:
    """The response as read: reasoning blocks, end tokens and emphasis removed, trimmed,
    and cut to its first and last parts when longer than ``_MAX_CHARS``; a JSON object's
    answer (:func:`_json_answer`)."""
    text = strip_reasoning(response)
    if "{" in text[:12]:
        text = _json_answer(text) or text
    if "\\" in text or "$" in text:
        text = _LATEX.sub(_unwrapped, _LATEX.sub(_unwrapped, text))  # \boxed{\text{B}}
    if ":" in text or "：" in text or "[" in text or "<" in text:
        text = _ROLE.sub("", text)
    if "<" in text:
        text = _TOKENS.sub(" ", _THINK_ANY.sub(" ", text))
    if "*" in text or "`" in text or "#" in text:
        text = _EMPHASIS.sub("", text)
    if "which" in text or "that" in text or "confused" in text:
        text = _COMPARED.sub("", text)
    text = text.strip()
    if len(text) > _MAX_CHARS:
        text = text[: _MAX_CHARS // 3] + "\n" + text[-2 * _MAX_CHARS // 3 :]
    return text


@dataclass(frozen=True)
class Scored:
    """One scored response: right or not, what was read from it, and how."""

    correct: bool
    parsed: str | None
    how: str


def strip_reasoning(response: str) -> str:
    """The response without a leading ``<think>…</think>`` block (an unclosed one: "")."""
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
    """Score one response; never raises on any string (a failure is ``how="error"``).

    Raises :class:`ValueError` only for an unknown ``mode``.
    """
    if mode not in MODES:
        raise ValueError(f"unknown scoring mode {mode!r}; choose one of {', '.join(MODES)}")
    try:
        if mode == "official":
            return Scored(official_correct(question.truth, response), None, "official")
        if question.option_synonyms and question.truth in question.options:
            question = with_truth_synonyms(question)
        if len(response) > 300:
            return _strict(question, response)
        q = question
        if q.qtype == "tf":
            key = ("tf", q.truth, (), False, q.asked, q.prompt, ())
        elif q.qtype == "mc":
            prompt = q.prompt if _yes_no(q.options) else ""
            key = ("mc", q.truth, q.options, q.lettered, "", prompt, q.accepted)
        else:
            key = (q.qtype, q.truth, (), False, "", "", q.accepted)
        return _strict_memo(key, q, response)
    except Exception:  # a scorer bug must not kill a run; it is counted and reported
        return Scored(False, None, "error")


def with_truth_synonyms(q: Question) -> Question:
    """A multiple-choice question whose truth option's other names (from the dataset:
    :func:`~pytest_fgbmk.questions.records.option_names`) count as accepted names of the
    truth, like a short answer's synonyms. Another option named by one of its synonyms is
    not read as that option: the answer stays unparsed (or goes to the judge)."""
    names = option_names(q, q.options.index(q.truth))[1:]
    extra = tuple(n for n in names if n not in q.accepted)
    return replace(q, accepted=(*q.accepted, *extra)) if extra else q


def _strict(q: Question, response: str) -> Scored:
    text = clean(response)
    if q.qtype == "tf":
        return _score_tf(q, text)
    if q.qtype == "mc":
        return _score_mc(q, text)
    return _score_sa(q, text)


#: Verdicts of short responses by (the question fields that decide them, the response).
_MEMO: dict[tuple[tuple, str], Scored] = {}
_MEMO_SIZE = 1 << 15


def _strict_memo(key: tuple, q: Question, response: str) -> Scored:
    """:func:`_strict` of a short response, remembered by ``key``, the fields that decide it
    (answers repeat: the same words for many images of one category). :func:`_strict` reads
    no other field of ``q``; the memo is emptied when full (a plain dict: cheaper than an
    LRU's bookkeeping, and a new Question per miss, at 200,000 answers/s)."""
    k = (key, response)
    hit = _MEMO.get(k)
    if hit is None:
        hit = _strict(q, response)
        if len(_MEMO) >= _MEMO_SIZE:
            _MEMO.clear()
        _MEMO[k] = hit
    return hit


def _no_answer(clauses: list[Clause]) -> Scored:
    if any(refuses for _, refuses, _ in clauses):
        return Scored(False, None, "refusal")
    return Scored(False, None, "unparsed")


# -- true/false ----------------------------------------------------------------------------

_TF_WHOLE = {
    "yes": "yes", "y": "yes", "true": "yes", "yeah": "yes", "yep": "yes", "yup": "yes",
    "no": "no", "n": "no", "false": "no", "nope": "no", "nah": "no",
}  # fmt: skip
_FILLER = re.compile(
    r"\A(?:(?:so|thus|therefore|hence|well|actually|oh|ok|okay|then|and|just|simply|finally"
    r"|in conclusion|in short|in summary|overall|to conclude|to summarize|my final answer is"
    r"|final answer|the final answer is|the correct answer is|the answer is|my answer is"
    r"|the answer would be|answer|answer is|i would say|i d say|i say|i think|i believe"
    r"|i guess|i m confident|i am confident|one word|in one word|the answer to the question is"
    r"|short answer|答案是|答案)\s*)+"
)
_YES_WORDS = frozenset(
    {"yes", "yeah", "yep", "yup", "true", "correct", "absolutely", "certainly", "definitely",
     "indeed", "affirmative", "right", "exactly", "sure"}
)  # fmt: skip
_NO_WORDS = frozenset({"no", "nope", "nah", "false", "incorrect", "negative", "wrong"})
_FOLLOWERS = frozenset(
    {"it", "this", "that", "there", "the", "they", "i", "he", "she", "we", "its", "these",
     "those", "sir", "indeed", "definitely", "certainly", "absolutely", "of", "because",
     "as", "since", "not", "a", "an", "in", "from", "based", "looking", "according",
     "answer", "is"}
)  # fmt: skip
_SOFT_YES = frozenset({"correct", "right", "exactly", "sure", "true", "indeed"})
#: Words after "yes" that make it something other than an answer ("yes or no", "yes and no").
_NOT_AFTER_YES = frozenset({"or", "and", "no", "nor", "yes", "if", "but"})
#: "I'd answer in the affirmative", "The answer is negative."
_IN_THE = re.compile(
    r"\A(?:(?:i|we)\s+(?:would|d|will|must|can|have\s+to|shall)\s+)?(?:answer|respond|reply"
    r"|say)(?:\s+is)?\s+(?:in\s+the\s+)?(affirmative|negative)\Z"
    r"|\A(?:the\s+)?(?:answer|response|reply)\s+(?:is|would\s+be)\s+(?:in\s+the\s+)?"
    r"(affirmative|negative)\Z|\A(?:in\s+the\s+)(affirmative|negative)\Z"
)
#: Yes and no leading an answer in other languages models answer in (German, Dutch, French,
#: Spanish, Italian, Portuguese); "non" only before French words (not "non native").
_OTHER_YES = frozenset(
    {"ja", "jawohl", "oui", "si", "sim", "tak", "evet", "да", "ναι", "igen", "kyllä", "kylla"}
)
_OTHER_NO = frozenset(
    {"nein", "nee", "nao", "nej", "nei", "nie", "hayır", "hayir", "нет", "όχι", "οχι", "nem",
     "ei", "tidak", "bukan", "không", "khong"}
)  # fmt: skip
#: Yes and no in scripts written without spaces (Chinese, Japanese, Korean), at the start.
_CJK_NO = ("不是", "否", "不对", "没有", "不", "いいえ", "いえ", "違います", "아니", "아뇨")
_CJK_YES = ("是", "对", "有", "正确", "はい", "そうです", "네", "예", "맞")
_FRENCH_NEXT = frozenset({"ce", "c", "il", "elle", "pas", "ça", "ca", "je", "cela", "ceci"})
_IT_IS = re.compile(
    r"\A(?:(?:indeed|yes|sure|certainly|definitely|absolutely|yeah)\s+)?(?:it|this|that|they|there|he|she)\s+(?:(?:sure|definitely|certainly|indeed|really)\s+)?"
    r"(?:is|s|are|re|was|does|do|did|has|have|can)(?:\s+(?:indeed|definitely|certainly))?"
    r"(?:\s+(not|n t))?\Z"
)
_IT_ISNT = re.compile(
    r"\A(?:it|this|that|they|there|he|she)\s+(?:isn|aren|wasn|doesn|don|didn|hasn|can)\s+t\Z"
)
_NOT_AT_ALL = re.compile(
    r"\A(?:(?:absolutely|certainly|definitely|of course|surely|probably)\s+not|not at all"
    r"|not really|not quite|not likely|nothing of the sort|no way|not correct|not true"
    r"|that s not (?:correct|true|right|it|the case)|that is not (?:correct|true|right|it"
    r"|the case)|not the case|(?:very |highly |most )?unlikely)\Z"
)
_THAT_IS_RIGHT = re.compile(
    r"\A(?:(?:that s|that is|it s|it is|this is)\s+(?:correct|true|right|the case|it)"
    r"|of course|sure thing|yes indeed|indeed|(?:very |highly |most )?likely|probably)\Z"
)
#: "I believe so", "I don't think so", "I think not".
_PRO_FORM = re.compile(
    r"\A(?:i\s+)?(?:(don t|do not|didn t|did not)\s+)?(?:believe|think|guess|suppose|reckon"
    r"|expect|hope|would say|d say)\s+(so|not)\Z"
)
#: "It appears to be.", "It does not seem so.", "Seems like it."
_IT_SEEMS = re.compile(
    r"\A(?:(?:it|this|that|they|he|she)\s+)?(?:(?:does|do|did)\s*(n\s+t|not)\s+)?"
    r"(?:appears?|seems?|looks?)\s+(?:to\s+be(?:\s+so)?|so|like\s+(?:it|one|it\s+is|so))\Z"
)
_WITHDRAWN = re.compile(
    r"\A(?:or (?:maybe |perhaps )?(?:not|no|yes|the opposite)|or maybe|or perhaps)\Z"
)
_VERBS = frozenset(
    {"is", "are", "was", "were", "there", "have", "has", "say", "said", "or", "and", "yes",
     "no", "yeah", "nope", "true", "false"}
)  # fmt: skip
_NEGATORS = frozenset(
    {"no", "not", "t", "without", "nor", "neither", "never", "none", "lacks", "lacking",
     "nothing", "nobody", "absent", "missing", "free", "rather", "instead", "unlike",
     "differs", "differ", "different", "distinct", "than", "compared", "versus", "vs",
     "except", "contrast"}
)  # fmt: skip
_NEGATED_AFTER = re.compile(
    r"\A\s*(?:(?:is|are|was|were|appears|seems)\s+)?(?:not\b|n t\b|absent|missing|nowhere"
    r"|isn t|aren t)"
)


def _explicit(clause: str) -> str | None:
    """ "yes"/"no" when the clause itself answers yes or no, else None."""
    m = _PRO_FORM.match(clause)
    if m:
        return "no" if m.group(1) or m.group(2) == "not" else "yes"
    c = _FILLER.sub("", clause)
    if not c:
        return None
    if not c.isascii():
        if c.startswith(_CJK_NO):
            return "no"
        if c.startswith(_CJK_YES):
            return "yes"
    words = c.split(" ", 2)
    w = words[0]
    nxt = words[1] if len(words) > 1 else None
    if w in _OTHER_NO or (w == "non" and (nxt is None or nxt in _FRENCH_NEXT)):
        return "no"  # "Nein, das ist kein …", "Non, ce n'est pas …", "Não."
    if w in _OTHER_YES:
        return "yes"
    if w in _YES_WORDS:
        if nxt == "not":
            return "no"
        if nxt is None or (w not in _SOFT_YES and nxt in _FOLLOWERS):
            return "yes"
        if w in ("yes", "yeah", "yep", "yup") and nxt not in _NOT_AFTER_YES:
            return "yes"  # "Yes (confidence: 0.93)", "Yes with high confidence"
    if w in _NO_WORDS and (nxt is None or nxt in _FOLLOWERS):
        return "no"
    m = _IN_THE.search(c)
    if m:
        return "yes" if "affirmative" in m.groups() else "no"
    if _NOT_AT_ALL.match(c) or _IT_ISNT.match(c):
        return "no"
    if _THAT_IS_RIGHT.match(c):
        return "yes"
    m = _IT_SEEMS.match(c)
    if m:
        return "no" if m.group(1) else "yes"
    last = c.rsplit(" ", 5)
    if len(last) <= 5 and last[-1] in ("yes", "no") and not _VERBS.intersection(last[:-1]):
        return last[-1]  # "at first glance no", "on closer inspection yes"
    m = _IT_IS.match(c)
    if m:
        return "no" if m.group(1) else "yes"
    return None


_ASKED_IN_PROMPT = (
    re.compile(
        r"\b(?:is|are) there (?:a|an|any|some|the)?\s*(.+?)\s+(?:in|on|visible in|shown in)"
        r" (?:the|this) (?:image|picture|photo|photograph|scene)",
        re.I,
    ),
    re.compile(
        r"\b(?:does|do) (?:the|this) (?:image|picture|photo|photograph|scene) (?:show|contain"
        r"|have|include|depict|feature) (?:a|an|any|some|the)?\s*(.+?)\s*\?",
        re.I,
    ),
)


@lru_cache(maxsize=1 << 12)
def _asked_from_prompt(prompt: str) -> str:
    for rx in _ASKED_IN_PROMPT:
        m = rx.search(prompt)
        if m:
            return m.group(1)
    return ""


def _asked(q: Question) -> str:
    """The name a true/false question asks about: ``q.asked``, else the one in its prompt."""
    return q.asked or _asked_from_prompt(q.prompt)


_NO_DOUBT = re.compile(
    r"\b(?:there is |there s |there can be )?(?:no |without (?:a )?|beyond (?:any |a )?)"
    r"(?:doubt|question|mistake|mistaking)(?: about it)?(?: that)?\b"
)


def _implicit(clause: str, asked: str) -> str | None:
    """A statement that the asked object is (yes) or is not (no) there, else None.

    Denying the end of the asked name denies the name ("Not a Submariner" for "Rolex
    Submariner", "not an albatross" for "Laysan albatross"); affirming part of it says
    nothing (a coarser name is not an answer)."""
    stem = _stem(clause)
    if "doubt" in stem or "question" in stem or "mistak" in stem:
        stem = _NO_DOUBT.sub(" ", stem)  # "There is no doubt that this is a …"
    verdict = None
    for start, end in _mentions(stem, asked):
        if start <= 3 and stem[:start].strip() in ("", "a", "an") and _DEFINITION.match(stem[end:]):
            continue  # "A pug is a small dog breed …": a definition, not what the image shows
        before = stem[:start].split()[-6:]
        negated = not _NEGATORS.isdisjoint(before) or _NEGATED_AFTER.match(stem[end:])
        verdict = "no" if negated else "yes"
    if verdict is None:
        verdict = _implicit_variant(stem, asked)
    if verdict is None:
        words = _name_stem(asked).split()
        for k in range(1, len(words)):
            tail = " ".join(words[k:])
            if tail.isdigit():
                continue
            for start, end in _mentions(stem, tail):
                before = stem[:start].split()[-3:]
                if not _NEGATORS.isdisjoint(before) or _NEGATED_AFTER.match(stem[end:]):
                    return "no"
    return verdict


#: What follows a name that opens a definition ("A pug is a small dog breed", "Pugs are …").
_DEFINITION = re.compile(r"\A (?:is (?:a|an|one of)|are) ")
#: Endings that derive a word from a one-word asked name ("ulcer": "ulceration", "ulcerated").
_DERIVED = ("ation", "ated", "ed", "ing", "ous", "ic", "y")


def _implicit_variant(stem: str, asked: str) -> str | None:
    """The asked name said in another form: its words in another order ("a convertible Ford
    Mustang" for "Ford Mustang Convertible"), or a one-word name derived ("No ulceration is
    visible" for "ulcer"); no when a negation precedes it, yes otherwise, else None."""
    words = stem.split()
    target = _name_stem(asked).split()
    spots: list[tuple[int, int]] = []
    if len(target) > 1:
        bag = sorted(target)
        n = len(target)
        spots = [
            (k, k + n)
            for k in range(len(words) - n + 1)
            if words[k : k + n] != target and sorted(words[k : k + n]) == bag
        ]  # the name in its own order is a mention, read (or set aside) by the caller
    elif target and len(target[0]) >= 4 and target[0].isalpha():
        roots = {target[0], target[0][:-1]} if target[0].endswith("e") else {target[0]}
        spots = [
            (k, k + 1)
            for k, w in enumerate(words)
            if any(w.startswith(r) and w[len(r) :] in _DERIVED for r in roots)
        ]
    verdict = None
    for a, b in spots:
        negated = not _NEGATORS.isdisjoint(words[max(0, a - 6) : a]) or _NEGATED_AFTER.match(
            " " + " ".join(words[b:])
        )
        verdict = "no" if negated else "yes"
    return verdict


#: "It is a damselfly", "The image shows a vizsla", "This is a Ferrari …": the subject
#: identified as something; group 1 is what follows, up to the end of the clause.
_IDENTIFIED = re.compile(
    r"\A(?:(?:so|well|actually|i think|i believe|clearly)\s+)?"
    r"(?:(?:it|this|that|he|she|the\s+(\w+)(?:\s+(?:in|on|of)\s+(?:the|this)\s+"
    r"(?:image|picture|photo|photograph))?)\s+(?:is|s|appears\s+to\s+be|seems\s+to\s+be"
    r"|looks\s+to\s+be|is\s+clearly|is\s+actually|is\s+in\s+fact|is\s+probably|is\s+likely"
    r"|must\s+be)|(?:\w+\s+){0,4}(?:makes|make|identifies|marks)\s+it(?:\s+as)?|(?:(?:the\s+)?(?:image|picture|photo|photograph)|it|this)\s+(?:shows|depicts|features"
    r"|contains)|(?:this|it)\s+is\s+(?:a\s+)?(?:photo|picture|image)\s+of|i\s+see)"
    r"\s+(a\s+|an\s+|the\s+|some\s+)?(.+)\Z"
)
#: Where the name of what was identified ends ("a vizsla with a …", "a mushroom growing …").
_NAME_ENDS = frozenset(
    {"with", "in", "on", "at", "from", "that", "which", "who", "and", "near", "under", "over",
     "against", "by", "sitting", "standing", "flying", "perched", "growing", "lying",
     "swimming", "walking", "parked", "of", "because", "as", "not", "rather", "but"}
)  # fmt: skip
#: Names too coarse to deny a fine-grained category: "It is a bird" answers nothing.
_COARSE = frozenset(
    {"bird", "dog", "cat", "car", "vehicle", "automobile", "plane", "airplane", "aeroplane",
     "aircraft", "jet", "airliner", "flower", "plant", "tree", "insect", "bug", "animal",
     "creature", "food", "dish", "meal", "mushroom", "fungus", "wine", "bottle", "watch",
     "clothing", "garment", "dress", "shirt", "fish", "butterfly", "moth", "beetle",
     "spider", "snake", "reptile", "mammal", "species", "breed", "model", "photo", "image",
     "picture", "close", "up", "closeup", "view", "kind", "type", "sort", "variety", "one",
     "specimen", "skin", "condition", "lesion", "rash", "fruit", "vegetable", "product",
     "object", "thing", "something", "person", "man", "woman", "group", "pair", "small",
     "large", "big", "little", "beautiful", "young", "adult", "juvenile", "male", "female",
     "wild", "red", "blue", "green", "yellow", "white", "black", "brown", "grey", "gray",
     "orange", "purple", "pink", "dark", "light", "colorful", "colourful", "bright", "very",
     "same", "different", "similar", "probably", "likely", "actually", "clearly", "seabird",
     "songbird", "waterbird", "shorebird", "waterfowl", "raptor", "predator", "pet", "puppy",
     "hound", "sedan", "suv", "truck", "jetliner", "wildflower", "weed", "shrub",
     "cultivar", "hybrid", "mix", "mixed", "organism", "invertebrate", "vertebrate"}
)  # fmt: skip


_PHOTO_OF = re.compile(
    r"\A(?:(?:close up|closeup|clear|blurry)\s+)?(?:photo|picture|image|photograph|shot)\s+of"
    r"\s+(?:a|an|the|some)?\s*"
)


def _identified_other(clause: str, asked: str, prompt_words: frozenset[str]) -> bool:
    """Whether the clause identifies the subject as a specific thing that is not the asked
    one ("It is a damselfly." for "Is it a dragonfly?"): an implicit no. A coarse name, a
    word of the question or part of the asked name does not count."""
    m = _IDENTIFIED.match(clause)
    if m is None:
        return False
    subject = m.group(1)
    if subject is not None and (_stem(subject) not in prompt_words | _COARSE or not m.group(2)):
        return False  # "the background is blurry", "the bottle is placed …": no identification
    words = []
    for w in _PHOTO_OF.sub("", m.group(3)).split():
        if w in _NAME_ENDS:
            break
        words.append(w)
    if not words or len(words) > 6:
        return False
    name = _stem(" ".join(words))
    asked_words = set(_name_stem(asked).split())
    named = set(name.split())
    if named <= asked_words or asked_words <= named or _mentions(name, asked):
        return False  # part of the asked name (coarser), or the asked name itself
    specific = named - asked_words - _COARSE - prompt_words
    if specific and all(w.isdigit() for w in specific):
        # a number alone names nothing ("a 2012 model"), unless it replaces the asked
        # name's number after the same words ("a Cessna 172" for "Cessna 208")
        shared = {w for w in named & asked_words if not w.isdigit()}
        return bool(shared) and any(w.isdigit() for w in asked_words - named)
    return bool(specific)


_QUESTION = re.compile(
    r"(?:^|[\n.?!:]\s*)((?:is|are|was|were|does|do|did|can|could|would|will|has|have)\b[^?\n]*)\?",
    re.I,
)
_STOP = frozenset(
    {"is", "are", "was", "were", "does", "do", "did", "can", "could", "would", "will", "has",
     "have", "the", "a", "an", "of", "in", "on", "at", "to", "this", "that", "these", "those",
     "there", "it", "its", "image", "picture", "photo", "photograph", "shown", "be", "been",
     "with", "for", "by", "and", "from", "as", "most"}
)  # fmt: skip
_DENIALS = frozenset({"no", "not", "t", "never", "neither", "nor", "none"})


@lru_cache(maxsize=1 << 12)
def _question_words(prompt: str) -> frozenset[str]:
    """The content words of the last yes/no question in a prompt (empty when fewer than 2)."""
    found = _QUESTION.findall(prompt)
    if not found:
        return frozenset()
    words = frozenset(_stem(normalize(found[-1])).split()) - _STOP
    return words if len(words) >= 2 else frozenset()


def _restated(sentence: str, asked_words: frozenset[str]) -> str | None:
    """A sentence that restates the whole question: yes, or no when it adds a denial."""
    words = set(_stem(sentence).split())
    if not asked_words <= words:
        return None
    return "no" if (words - asked_words) & _DENIALS else "yes"


#: A clause that turns against what came before ("However, this is not a …").
_TURN = re.compile(r"\A(?:however|but|actually|in fact|that said|although|though)\b")


@lru_cache(maxsize=1 << 12)
def _prompt_words(prompt: str) -> frozenset[str]:
    return frozenset(_stem(normalize(prompt)).split())


def _read_tf(clauses: list[Clause], asked: str, prompt: str = "") -> str | None:
    explicit = implicit = None
    first = turn = soft = -1
    for i, (clause, refuses, k) in enumerate(clauses):
        if refuses:
            continue
        if _TURN.match(clause):
            turn = i
        if _WITHDRAWN.match(clause):
            explicit = implicit = None  # "It is a Laysan albatross, or not."
            continue
        said = _explicit(clause)
        if said == "no" and i + 1 < len(clauses) and clauses[i + 1][1:] == (True, k):
            continue  # "No, I can't tell": the "no" introduces the refusal
        if said is not None:
            explicit = said
            first = i
            soft = k if clause in _SOFT_YES else -1
        elif asked and soft == k and _implicit(clause, asked) == "no":
            explicit = "no"  # "Correct, it is not a Laysan albatross": the negative affirmed
        elif asked and explicit is None:  # an explicit answer outranks statements
            said = _implicit(clause, asked)
            if said is None and implicit == "yes" and _corrected(clauses, i - 1, [asked]):
                implicit = None  # "resembles X, but it is actually a Y"
            implicit = said or implicit
        elif asked and i > first and turn > first:
            # "Yes, the label is visible. However, this is not a Cabernet Sauvignon": a
            # later sentence that turns against the asked name is the concluding answer
            turned = _implicit(_TURN.sub("", clause).strip(), asked)
            if turned is not None and turned != explicit:
                explicit = turned
    if explicit or implicit:
        return explicit or implicit
    if asked and not _asked_from_prompt(prompt):
        # an identity question ("Is the bird a Laysan albatross?"), not one of presence
        # ("Is there a dining table in the image?", where naming other things denies nothing)
        words = _prompt_words(prompt)
        for clause, refuses, _ in clauses:
            if not refuses and _identified_other(clause, asked, words):
                return "no"
    if not prompt:
        return None
    q_words = _question_words(prompt)
    if not q_words:
        return None
    restated = None
    sentences: dict[int, list[str]] = {}
    for clause, refuses, k in clauses:
        if not refuses:
            sentences.setdefault(k, []).append(clause)
    for parts in sentences.values():
        restated = _restated(" ".join(parts), q_words) or restated
    return restated


#: Several candidates offered ("could also be", "maybe X, maybe Y", "could be X or Y"): a
#: hedge, never an answer.
_ALTERNATIVES = re.compile(
    r"\b(?:could also be|might also be|may also be|or possibly|alternatively|or perhaps)\b"
    r"|\b(?:could|might|may) be\b(?:(?!\b(?:not|but)\b)[^.;])*\bor\b"
    r"|\b(maybe|perhaps|possibly|might be|could be)\b.*\b\1\b"  # "maybe X, maybe Y"
    r"|\beither\b(?:(?!\b(?:not|but)\b)[^.;])*\bor\b"  # "Either X or Y"
    r"|\b(?:may|might|could|can) or (?:(?:may|might|could|can) )?not\b"  # "may or may not"
    r"|\byes and no\b"
)


_ASIDE = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")


#: A response cut off mid-sentence ("…, this appears to be"): its unfinished last sentence
#: answers nothing and is left out.
_CUT_OFF = frozenset(
    {"be", "a", "an", "the", "is", "are", "was", "of", "to", "and", "or", "with", "that",
     "which", "as", "like", "it", "its", "this", "has", "have", "their", "typically",
     "probably", "likely"}
)  # fmt: skip


def _uncut(text: str) -> str:
    """The text without an unfinished last sentence (one ending in a word of ``_CUT_OFF``)."""
    tail = text[-12:].rsplit(None, 1)
    if not tail or tail[-1].lower() not in _CUT_OFF:
        return text
    end = max(text.rfind(c) for c in ".!?\n。")
    return text[: end + 1] if end >= 0 else ""


def _score_tf(q: Question, text: str) -> Scored:
    text = _uncut(text)
    said = normalize(text)
    whole = _TF_WHOLE.get(said)
    if whole is None and " " in said and len(set(said.split())) == 1:
        whole = _TF_WHOLE.get(said.split()[0])  # "yes yes yes …": one answer, repeated
    if whole is None and "(" in text:
        whole = _TF_WHOLE.get(normalize(_ASIDE.sub(" ", text)))  # "No (confidence: 0.8)"
    if whole is not None:
        return Scored(whole == q.truth, whole, "yesno")
    if text[:1] == "A":
        text = _ANSWER_PREFIX.sub("", text)
    clauses = _clauses(text)
    said = _read_tf(clauses, _asked(q), q.prompt)
    if said is None and "(" in text:
        said = _read_tf(_clauses(_ASIDE.sub(" ", text)), _asked(q), q.prompt)  # "No (p=0.7)"
    if said is None:
        if _ALTERNATIVES.search(normalize(text)) and not any(r for _, r, _ in clauses):
            return Scored(False, None, "hedge")  # "Either X or Y."
        return _no_answer(clauses)
    if not any(_explicit(c) for c, refuses, _ in clauses if not refuses):
        if _ALTERNATIVES.search(normalize(text)):
            return Scored(False, None, "hedge")  # "It could be X, but it could also be Y"
        if said == "yes" and _offered_among_others(clauses, _asked(q), normalize(text)):
            return Scored(False, None, "hedge")  # "Fokker 100 or Fokker 70"
    return Scored(said == q.truth, said, "yesno")


#: Beside the asked name in its clause: other candidates ("X or Y", "features of both X
#: and Y", "between X and Y").
_AMONG = re.compile(r"\b(?:or|both|between|versus|vs|nor)\b")
#: The name offered tentatively ("It could be X") ...
_TENTATIVE = re.compile(r"\b(?:could|might|may) (?:also )?be\b|\b(?:possibly|perhaps|maybe)\b")
#: ... while the response keeps the question open ("other conditions should be ruled out",
#: "I cannot decide", "not certain").
_KEPT_OPEN = re.compile(
    r"\bother (?:condition|possibilit|option|candidate|species|breed|diagnos|cause)\w*"
    r"|\bruled? out\b|\bcannot (?:decide|be (?:sure|certain))|\bcan t (?:decide|be (?:sure|certain))"
    r"|\bnot (?:sure|certain)\b|\buncertain\b|\bdifficult to say\b|\bhard to say\b"
    r"|\bprofessional\b|\bconfirm"
)


def _offered_among_others(clauses: list[Clause], asked: str, said: str) -> bool:
    """Whether an implicit yes names the asked object only as one candidate among others
    ("X or Y", "features of both X and Y") or tentatively while keeping the question open
    ("It could be X, but other conditions should be ruled out"): a hedge."""
    if not asked:
        return False
    for c, refuses, _ in clauses:
        if refuses:
            continue
        stem = _stem(c)
        if not _mentions(stem, asked):
            continue
        if _AMONG.search(stem):
            return True
        if _TENTATIVE.search(stem) and _KEPT_OPEN.search(said):
            return True
    return False


# -- multiple-choice -----------------------------------------------------------------------

_HEDGE = object()  # several candidates offered
_AMBIGUOUS = object()  # several named, none put forward as the answer
_DISAGREE = object()  # a letter whose attached text names another option

_LETTER_STRONG = re.compile(
    r"(?:\b(?:final answer|correct answer|the answer|my answer|answer choice|answer"
    r"|correct option|correct choice|best option|best choice|final choice|option letter)\b"
    r"(?:\s+(?:is|would be|should be|will be|to the question is|to this question is))?"
    r"|\bi(?:'d|’d|\s+would)?\s+(?:choose|pick|select|go\s+with|say)"
    r"|\b(?:it|that)(?:\s+is|'s|’s)|答案(?:是|为)?|选(?:择)?|正解は|答えは|答え[:：]|回答は|정답은|정답:|답은"
    r"|\b(?:so|thus|therefore|hence|consequently)\b,?"  # "So B." after weighing each option
    r"|\bis(?=\s+(?-i:[A-Z])[.!]?[ \t]*(?:\n|\Z))"  # "The species in this image is C."
    r"|\b(?:la\s+)?respuesta(?:\s+correcta)?\s+es(?:\s+la)?|\b(?:la\s+)?r[ée]ponse"
    r"(?:\s+correcte)?\s+est(?:\s+la)?|\b(?:die\s+)?(?:richtige\s+)?antwort\s+ist"
    r"|\b(?:a\s+)?resposta(?:\s+correta)?\s+[ée](?:\s+a)?|\b(?:la\s+)?risposta"
    r"(?:\s+corretta)?\s+[èe](?:\s+la)?)"
    r"\s*[:：=\-]?\s*(?:(?:therefore|thus|clearly|definitely|probably|likely|option|choice"
    r"|letter)\s+)*[\"'“(\[]?([A-Za-z])(?![A-Za-z0-9])([\)\]]?)",
    re.I,
)
_LETTER_LEAD = re.compile(r"\A[\s>\"'“]*([\(\[]?)([A-Za-z])(?![A-Za-z0-9])([\)\]]?)")
_LETTER_WEAK = re.compile(
    r"(?:\b(?i:option|choice|letter)\s+[\(\[]?([A-Za-z])(?![A-Za-z0-9'’])[\)\]]?|\(([A-Z])\)"
    r"|(?<![\w'’])([A-Z])(?=\s+(?:is|seems|would be)\s+(?:the\s+)?(?:correct|right|best|answer)))"
)
_LETTER_LINE = re.compile(r"^[ \t>]*[\(\[]?([A-Z])[\)\].][ \t]", re.M)
_LETTER_LIST = re.compile(
    r"\A[\)\]]?\s*(?:(?:[,/&]|\bor\b|\band\b)\s*[\(\[]?[A-Z]|[\(\[][A-Z][\)\]])(?![A-Za-z0-9])"
    r"|\A[\)\].:]?[ \t]*\n\s*[\(\[]?[A-Z][\)\].]?[ \t]*(?:\n|\Z)"  # "A\nB\nC": one per line
)
_DELIMITED = re.compile(
    r"\A(?:[.:)\]](?:\s|\Z)|\s*\Z|[ \t]*\n|[,;!]"
    r"|[ \t]+\([^()\n]*\)[ \t]*[.!]?[ \t]*(?:\n|\Z))"  # "A (GSP)": an aside ends its line
)
_WEAK_RULED_OUT = re.compile(
    r"\b(?:is|are|was|seems) (?:not|incorrect|wrong|false|unlikely)|\bincorrect\b|ruled out"
    r"|\beliminat|\bwrong\b"
)
_STRONG_RULED_OUT = re.compile(
    r"(?:is|are|was|seems) (?:not|incorrect|wrong|false|unlikely)\b|(?:can be )?(?:ruled out"
    r"|eliminated)\b"
)
_WEAK_CHOSEN = re.compile(r"\b(?:is|seems|would be) (?:the )?(?:correct|right|best|answer)\b")
_HEDGE_WORDS = re.compile(
    r"\b(?:or|either|maybe|perhaps|possibly|might|could|versus|vs)\b|/|\band or\b"
)


def _option_stems(options: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(map(_name_stem, options))


def _inside(spans: Sequence[tuple[int, int]], outer: Sequence[tuple[int, int]]) -> bool:
    """Whether every span lies within a longer one of ``outer``."""
    return all(any(a <= x and y <= b and b - a > y - x for a, b in outer) for x, y in spans)


def _options_in(stem: str, options: tuple[str, ...]) -> set[int]:
    """Options put forward in one stemmed clause; a name inside a longer named one
    ("dress" in "wrap dress") does not count."""
    found = []
    for i, o in enumerate(options):
        spans, affirmed = _mention_info(stem, o)
        if spans:
            found.append((i, spans, affirmed))
    if len(found) > 1:
        found = [f for f in found if not any(g is not f and _inside(f[1], g[1]) for g in found)]
        if not all(affirmed for _, _, affirmed in found):
            # "X false" where "false" is itself an option: a list of two, nothing ruled out
            starts = {a for _, spans, _ in found for a, _ in spans}
            found = [
                (i, spans, affirmed or any(b + 1 in starts for _, b in spans))
                for i, spans, affirmed in found
            ]
    return {i for i, _, affirmed in found if affirmed}


def _yes_no(options: tuple[str, ...]) -> bool:
    """Whether the options are "Yes" and "No" (read as a true/false answer)."""
    return len(options) == 2 and sorted(_option_stems(options)) == ["no", "yes"]


def _exact_option(whole: str, options: tuple[str, ...]) -> int | None:
    """The one option whose stemmed text is the whole response (its words in any order:
    "2012 Audi R8 Coupe" for "Audi R8 Coupe 2012"), else None."""
    stems = _option_stems(options)
    s = _stem(whole)
    if stems.count(s) == 1:
        return stems.index(s)
    words = s.count(" ")
    if not words:
        return None  # one word: no other order
    same = [i for i, o in enumerate(stems) if o.count(" ") == words]
    if not same:
        return None  # no option has as many words
    bag = sorted(s.split())
    hits = [i for i in same if sorted(stems[i].split()) == bag]
    return hits[0] if len(hits) == 1 else None


@dataclass(frozen=True)
class _Said:
    """One letter as written: where, which, its brackets and what follows it on its line."""

    pos: int
    letter: str
    opened: bool
    close: str
    listed: bool  # another letter follows: "A, B", "(A) (B)", "A or B"
    ruled_out: bool  # "answer B is wrong"
    delimited: bool  # ")", ".", ":" or the end of the line follows
    line: str  # the rest of its line, stemmed
    worded: bool  # a lowercase word follows ("A laysan albatross": the article)


#: Where a letter's own words end: "C, although a Merlot blend is possible" names Merlot
#: as a caveat, not as what "C" says.
_CONCEDING = re.compile(
    r"\b(?:although|though|but|however|while|whereas|unless|even if|even though|except"
    r"|albeit|admittedly)\b",
    re.I,
)


def _said(m: re.Match[str], text: str, letter_group: int, opened: bool, close: str) -> _Said:
    letter = m.group(letter_group)
    rest = text[m.end() :]
    return _Said(
        m.start(),
        letter,
        opened,
        close,
        bool((letter.isupper() or close) and _LETTER_LIST.match(rest)),
        _STRONG_RULED_OUT.match(normalize(rest[:40])) is not None,
        bool(close) or _DELIMITED.match(rest) is not None,
        _stem(normalize(_CONCEDING.split(rest.split("\n", 1)[0][:300], maxsplit=1)[0])),
        re.match(r"\s+[a-z]", rest) is not None,
    )


@dataclass(frozen=True)
class _Letters:
    strong: tuple[_Said, ...]  # after an answer marker
    chosen: tuple[tuple[int, str], ...]  # "(B) … is the correct answer"
    weak: tuple[str, ...]  # "option B", "(B)", not ruled out
    lead: _Said | None  # at the very start
    lines: int  # distinct letters opening lines ("B) …\nC) …")


@lru_cache(maxsize=1 << 14)
def _letters(text: str) -> _Letters:
    """Every letter statement of a response (independent of the question)."""
    strong = []
    for m in _LETTER_STRONG.finditer(text):
        opened = text[m.start(1) - 1 : m.start(1)] in ("(", "[")
        strong.append(_said(m, text, 1, opened, m.group(2)))
    chosen, weak = [], []
    for m in _LETTER_WEAK.finditer(text):
        letter = (m.group(1) or m.group(2) or m.group(3)).upper()
        rest = normalize(re.split(r"[.;\n]", text[m.end() :], maxsplit=1)[0][:80])
        if _WEAK_RULED_OUT.search(rest):
            continue
        if text[max(0, m.start() - 4) : m.start()].lower().endswith("not "):
            continue
        if _WEAK_CHOSEN.search(rest):
            chosen.append((m.start(), letter))
        weak.append(letter)
    m = _LETTER_LEAD.match(text)
    lead = _said(m, text, 2, bool(m.group(1)), m.group(3)) if m else None
    lines = len(set(_LETTER_LINE.findall(text)))
    return _Letters(tuple(strong), tuple(chosen), tuple(weak), lead, lines)


def _letter_here(said: _Said, q: Question, lead: bool) -> object | int | None:
    """Validate one letter statement: the option index, _HEDGE, _DISAGREE or None."""
    if said.ruled_out:
        return None
    if said.listed:
        return _HEDGE
    letter, delimited = said.letter, said.delimited
    if not delimited and (lead or letter.islower()):
        return None
    idx = ord(letter.upper()) - 65
    if idx >= len(q.options):
        return None
    named = _options_in(said.line, q.options) if said.line else set()
    if named and idx not in named:
        if not delimited and letter in "AaIi":
            return None  # the article "A", the pronoun "I"
        return _DISAGREE
    if not delimited and not named and letter in "AI" and said.worded:
        return None
    return idx


#: Another letter offered after the answer, opening its own sentence: "… A? Or B."
_OR_LETTER = re.compile(
    r"[.?!;\n]\s*(?i:or|or maybe|or perhaps|or possibly|maybe|perhaps)\s+(?i:option\s+)?"
    r"[\(\[]?([A-Z])(?![A-Za-z0-9'’])(?!\s+[a-z])"
)


def _read_letter(q: Question, text: str) -> object | int | None:
    found = _letters(text)
    n = len(q.options)
    last = None
    for said in found.strong:
        r = _letter_here(said, q, False)
        if r is not None:
            last = (said.pos, r)
    chosen = [(pos, ord(c) - 65) for pos, c in found.chosen if ord(c) - 65 < n]
    if chosen and (last is None or chosen[-1][0] > last[0]):
        last = chosen[-1]
    if last is not None:
        alt = _OR_LETTER.search(text, last[0])
        if alt is not None and ord(alt.group(1)) - 65 < n and ord(alt.group(1)) - 65 != last[1]:
            return _HEDGE  # "The answer is A: Melanoma? Or B."
        return last[1]
    if found.lead is not None:
        r = _letter_here(found.lead, q, True)
        if r is not None:
            return _HEDGE if found.lines > 1 else r
    if found.lines > 1:
        return _HEDGE
    weak = {ord(c) - 65 for c in found.weak if ord(c) - 65 < n}
    if len(weak) == 1:
        return weak.pop()
    return None


#: A clause that concedes rather than answers: the options it names are context, unless
#: no other clause names any.
_CONCESSION = re.compile(
    r"\A\W*(?:although|though|even though|even if|while|whilst|whereas|despite|unlike"
    r"|apart from|besides)\b",
    re.I,
)


#: A statement about what a category would, typically or usually has: it describes the
#: option, it does not put it forward ("A peacoat would have double-breasted buttons").
_HYPOTHETICAL = re.compile(
    r"\b(?:would|would have|typically|usually|generally|normally|tends? to|tend to|commonly"
    r"|characteristically|could have been|might have been|if)\b(?! be (?:the|my) (?:answer|choice))"
)


def _read_options(q: Question, text: str, clauses: list[Clause]) -> object | int | None:
    seg = _final_segment(text)
    if seg is not None:
        found: set[int] = set()
        for c, refuses, _ in _option_clauses(seg, q.options):
            if not refuses:
                found |= _options_in(_stem(c), q.options)
        if len(found) == 1:
            return found.pop()
        if found:
            return _HEDGE
    by_sentence: dict[int, set[int]] = {}
    conceded: dict[int, set[int]] = {}  # "Although X and Y are noodle dishes, …": context
    for c, refuses, k in clauses:
        if not refuses:
            hits = _options_in(_stem(c), q.options)
            if hits:
                context = _CONCESSION.match(c) or _HYPOTHETICAL.search(c)
                side = conceded if context else by_sentence
                side.setdefault(k, set()).update(hits)
    if not by_sentence:
        by_sentence = conceded
    distinct = set().union(*by_sentence.values()) if by_sentence else set()
    if len(distinct) == 1:
        return distinct.pop()
    if not distinct:
        return None
    if any(len(h) > 1 for h in by_sentence.values()) or _HEDGE_WORDS.search(normalize(text)):
        return _HEDGE
    return _AMBIGUOUS


def _verdict(q: Question, r: object | int | None, how: str) -> Scored | None:
    if r is None:
        return None
    if r is _HEDGE:
        return Scored(False, None, "hedge")
    if r is _DISAGREE or r is _AMBIGUOUS:
        return Scored(False, None, "unparsed")
    opt = q.options[r]  # type: ignore[index]
    return Scored(opt == q.truth, opt, how)


#: Reasoning that opens a response ("Let's compare the options. …") and, cut off or not,
#: never reaches a conclusion: the options it names are being weighed, not chosen.
_DELIBERATING = re.compile(
    r"\A\W*(?:let s|let us|let me|to (?:determine|identify|answer|decide|choose)|first\b"
    r"|step 1|we need to|i need to|i will|i ll|looking at the options|analy[sz]ing the"
    r"|we (?:should|must|can) (?:compare|look|consider))"
)
_CONCLUDED = re.compile(
    r"\b(?:answer|therefore|thus|hence|so|final|conclusion|conclude|most likely|likely|best"
    r"|correct|choose|pick|select|go with|it is|it s|this is|that is|must be|appears to be"
    r"|seems to be|looks like|matches|consistent with|identif\w*|would be|should be|makes? it"
    r"|points? to|indicates?|suggests?|shows?|means|i think|i believe|must)\b"
)


_VERSION = re.compile(r"[ivx]{1,4}|[a-z]|\d+\w*")


def _partial_option(q: Question, clauses: list[Clause], raw: str = "") -> int | None:
    """The one option named by most of its words ("the Royal Oak" for "Audemars Piguet
    Royal Oak", "a 2007 Mustang convertible" for "Ford Mustang Convertible 2007"): at
    least two of its words and half of them, in one clause, in words no other option has
    all of, and not ruled out. A single word is never enough ("butterfly" is coarser)."""
    words = [set(_name_stem(o).split()) for o in q.options]
    found = set()
    for c, refuses, _ in clauses:
        if refuses:
            continue
        said = _stem(c).split()
        present = set(said)
        for i, ws in enumerate(words):
            hit = ws & present
            if len(hit) < 2 or 2 * len(hit) < len(ws) or len(hit) == len(ws):
                continue
            if any(hit <= other for j, other in enumerate(words) if j != i):
                continue
            at = [k for k, w in enumerate(said) if w in hit]
            first, last = at[0], at[-1]
            if not _NEGATORS.isdisjoint(said[max(0, first - 3) : first]):
                continue
            after = said[last + 1] if last + 1 < len(said) else ""
            if after not in ws and (_VERSION.fullmatch(after) or any(ch.isdigit() for ch in after)):
                continue  # "Canon EOS 5D Mark III" names another model than "… Mark IV"
            found.add(i)
    if not found and raw:
        found = _one_word_option(q, clauses, raw, words)
    return found.pop() if len(found) == 1 else None


def _one_word_option(
    q: Question, clauses: list[Clause], raw: str, words: list[set[str]]
) -> set[int]:
    """Options named by one capitalised word that only they hold ("That's a Nautilus."
    for "Patek Philippe Nautilus"); never a coarse word ("Butterfly"), a number, or an
    option's first word (a make or brand: "a Fujifilm camera" is coarser than the model)."""
    found = set()
    firsts = [_name_stem(o).split()[0] for o in q.options]
    for c, refuses, _ in clauses:
        if refuses:
            continue
        said = _stem(c).split()
        for i, ws in enumerate(words):
            for w in ws & set(said):
                if len(w) < 4 or w in _COARSE or any(ch.isdigit() for ch in w):
                    continue
                if w == firsts[i]:
                    continue  # a make or brand ("a Fujifilm camera") is coarser than the model
                if any(w in other for j, other in enumerate(words) if j != i):
                    continue
                if not re.search(rf"(?<![\w])[A-Z]{re.escape(w[1:])}", raw, re.I):
                    continue
                if not re.search(rf"(?<![\w]){re.escape(w[0].upper() + w[1:])}", raw):
                    continue  # written lowercase: a common word, not a model's name
                k = said.index(w)
                end = k
                while end + 1 < len(said) and said[end + 1] in ws:
                    end += 1
                after = said[end + 1] if end + 1 < len(said) else ""
                if _VERSION.fullmatch(after) or any(ch.isdigit() for ch in after):
                    continue  # "Nikon Z7 III": another model than "Nikon Z7 II"
                if _NEGATORS.isdisjoint(said[max(0, k - 3) : k]):
                    found.add(i)
    return found


def _score_mc(q: Question, text: str) -> Scored:
    if not q.options:
        return Scored(False, None, "unparsed")
    whole = normalize(text)
    i = _exact_option(whole, q.options)
    if i is not None:
        return Scored(q.options[i] == q.truth, q.options[i], "text")
    if text[:1] == "A" and _ANSWER_PREFIX.match(text):
        rest = _ANSWER_PREFIX.sub("", text)
        if q.lettered and normalize(rest) == normalize(q.options[0]):
            return Scored(q.options[0] == q.truth, q.options[0], "letter")
        text = rest
    if q.lettered:
        bare = whole if len(whole) == 1 else ""
        if bare and "a" <= bare <= "z" and ord(bare) - 97 < len(q.options):
            return _verdict(q, ord(bare) - 97, "letter")  # type: ignore[return-value]
        v = _verdict(q, _read_letter(q, text), "letter")
        if v is not None:
            return v
    clauses = _option_clauses(text, q.options)
    if _yes_no(q.options):
        said = _read_tf(clauses, "", q.prompt)
        if said is not None:
            i = _option_stems(q.options).index(said)
            return Scored(q.options[i] == q.truth, q.options[i], "text")
    said = normalize(text)
    if _DELIBERATING.match(said) and not _CONCLUDED.search(said):
        return _no_answer(clauses)  # weighing the options, never choosing
    v = _verdict(q, _read_options(q, text, clauses), "text")
    if q.accepted and (v is None or (v.parsed is not None and not v.correct)):
        syn = _synonym_of_truth(q, clauses)
        if syn is not None and v is not None:
            return Scored(False, None, "hedge")  # another option and the truth's other name
        v = v or syn
    if v is None:
        i = _read_ordinal(q, text)
        if i is None:
            i = _partial_option(q, clauses, text)
        if i is not None:
            return Scored(q.options[i] == q.truth, q.options[i], "letter" if q.lettered else "text")
        i = _misspelt_name(whole, q.options)
        if i is not None:
            return Scored(q.options[i] == q.truth, q.options[i], "text")
    return v if v is not None else _no_answer(clauses)


_ORDINALS = {
    "first": 0, "second": 1, "third": 2, "fourth": 3, "fifth": 4, "sixth": 5, "1st": 0,
    "2nd": 1, "3rd": 2, "4th": 3, "5th": 4, "6th": 5, "one": 0, "two": 1, "three": 2,
    "four": 3, "five": 4, "six": 5, "1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5,
}  # fmt: skip
#: "The second option", "the last one", "option number 3", "choice two".
_ORDINAL = re.compile(
    r"\b(?:the\s+)?(first|second|third|fourth|fifth|sixth|1st|2nd|3rd|4th|5th|6th"
    r"|last|final)\s+(?:option|choice|one|answer|item|entry)\b"
    r"|\b(?:option|choice|answer|number)\s+(?:number\s+)?"
    r"(one|two|three|four|five|six|[1-6])\b"
)


def _read_ordinal(q: Question, text: str) -> int | None:
    """The one option named by its place ("the second option"), else None."""
    found = set()
    said = normalize(text)
    for m in _ORDINAL.finditer(said):
        if not _NEGATORS.isdisjoint(said[max(0, m.start() - 20) : m.start()].split()[-3:]):
            continue  # "not the first option"
        word = m.group(1) or m.group(2)
        i = len(q.options) - 1 if word in ("last", "final") else _ORDINALS[word]
        if i < len(q.options):
            found.add(i)
    return found.pop() if len(found) == 1 else None


def _synonym_of_truth(q: Question, clauses: list[Clause]) -> Scored | None:
    """The truth option named by another of its names (``Question.accepted``), no option
    text being named."""
    for i, (c, refuses, _) in enumerate(clauses):
        if refuses:
            continue
        stem = _stem(c)
        for syn in q.accepted:
            if any(_affirmed(stem, sp) for sp in _mentions(stem, syn)):
                if _HEDGE_WORDS.search(c):
                    return Scored(False, None, "hedge")
                if _corrected(clauses, i, q.accepted):
                    return None
                return Scored(True, q.truth, "synonym")
    return None


# -- short answer --------------------------------------------------------------------------

_SLASH = re.compile(r"(?<=[^\W\d_])\s*/\s*(?=[^\W\d_])")
_SA_HEDGE = re.compile(r"\b(?:or|either|versus|vs|and or)\b|/")


def _same_thing(rest: str, found: str, names: tuple[tuple[str, str], ...]) -> bool:
    """Whether what is left beside the found name is only the rest of another of the
    truth's names ("Pinot Gris/Grigio": "grigio" completes "Pinot Grigio"), so the "or"
    joins two names of one answer, not two answers."""
    left = set(_SA_HEDGE.sub(" ", rest).split()) - {"a", "an", "the", "also", "called", "aka"}
    said = set(_name_stem(found).split())
    for other, _ in names:
        words = set(_name_stem(other).split())
        if other != found and left and left <= words - said and words <= left | said:
            return True
    return False


def _score_sa(q: Question, text: str) -> Scored:
    whole = normalize(text)
    if not whole:
        return Scored(False, None, "unparsed")
    if whole == normalize(q.truth):
        return Scored(True, q.truth, "text")
    for syn in q.accepted:
        if whole == normalize(syn):
            return Scored(True, syn, "synonym")
    bag = sorted(_stem(whole).split())
    if len(bag) > 1:
        for name, how in ((q.truth, "text"), *((a, "synonym") for a in q.accepted)):
            if bag == sorted(_name_stem(name).split()):
                return Scored(True, name, how)  # "2012 Audi R8 Coupe" for "Audi R8 Coupe 2012"
    if "/" in text:
        text = _SLASH.sub(" or ", text)
    if text[:1] == "A":
        text = _ANSWER_PREFIX.sub("", text)
    names = ((q.truth, "text"), *((s, "synonym") for s in q.accepted))
    seg = _final_segment(text)
    clauses = _clauses(seg) if seg is not None else []
    if not any(not refuses for _, refuses, _ in clauses):
        clauses = _clauses(text)  # no final answer line: the whole response
    name, how, k = _sa_found(clauses, names)
    if name is not None:
        if _listed(text, name):
            return Scored(False, None, "hedge")
        sentence = " ".join(c for c, _, j in clauses if j == k)
        pattern = _name_pattern(name)
        rest = pattern.sub(" ", _stem(sentence)) if pattern is not None else sentence
        if (_SA_HEDGE.search(rest) or _ALTERNATIVES.search(whole)) and not _same_thing(
            rest, name, names
        ):
            return Scored(False, None, "hedge")
        return Scored(True, name, how)
    if any(refuses for _, refuses, _ in clauses):
        said = " ".join(c for c, refuses, _ in clauses if not refuses).split()
        if len(said) <= 2:
            return Scored(False, None, "refusal")
    names = (q.truth, *q.accepted)
    i = _misspelt_name(whole, names)
    if i is not None:
        return Scored(True, names[i], "text" if i == 0 else "synonym")
    return Scored(False, whole[:200], "text")


_NOT_A_NAME = frozenset(
    {"a", "an", "the", "which", "that", "who", "it", "this", "its", "is", "are", "was", "i",
     "we", "not", "also", "with", "from", "in", "on", "at", "of", "by", "as", "for", "yes",
     "no", "so", "well", "ok", "okay", "sure", "probably", "likely", "possibly", "perhaps",
     "maybe", "known", "commonly", "found", "native", "seen", "based", "judging", "given",
     "answer", "species", "final", "and", "but", "or", "i m", "there"}
)  # fmt: skip


def _listed(text: str, name: str) -> bool:
    """Whether the name is one item of a comma list of bare names ("X, Y, Z")."""
    if "," not in text and "、" not in text:
        return False
    for sentence in _sentences(text):
        parts = [_stem(normalize(p)) for p in re.split(r"[,、]", sentence)]
        parts = [p for p in parts if p]
        if len(parts) < 2 or not any(_mentions(p, name) for p in parts):
            continue
        limit = max(4, len(_name_stem(name).split()) + 1)
        if all(
            len(p.split()) <= limit
            and not _DESCRIPTORS.issuperset(p.split())
            and p.split()[0] not in _NOT_A_NAME
            and not p.endswith("ly")
            and not _CLAUSE_WORDS.intersection(p.split())
            for p in parts
        ):
            return True
    return False


#: Words that describe the individual, not name another category ("X, juvenile").
_DESCRIPTORS = frozenset(
    {"adult", "juvenile", "immature", "male", "female", "breeding", "nonbreeding", "winter",
     "summer", "plumage", "chick", "young", "larva", "caterpillar", "flower", "leaf", "fruit",
     "seed", "morph", "form", "dark", "light", "pale", "probably", "likely", "i", "think"}
)  # fmt: skip
_CLAUSE_WORDS = frozenset({"is", "are", "was", "were", "has", "have", "looks", "appears", "seems"})


def _sa_found(
    clauses: list[Clause], names: tuple[tuple[str, str], ...]
) -> tuple[str | None, str, int]:
    for i, (c, refuses, k) in enumerate(clauses):
        if refuses:
            continue
        stem = _stem(c)
        for name, how in names:
            if any(_affirmed(stem, sp) for sp in _mentions(stem, name)):
                if _corrected(clauses, i, [n for n, _ in names]):
                    return None, "", -1  # "looks like X, but it is actually a Y"
                return name, how, k
    return None, "", -1


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
    included); ``refusal_rate`` the percentage that declined to answer; ``per_category`` maps the image category to (correct, total);
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
    refusal_rate: float = 0.0


def summarize(questions: Sequence[Question], scored: Sequence[Scored]) -> Summary:
    """Aggregate scored answers (``scored[i]`` answers ``questions[i]``)."""
    if len(questions) != len(scored):
        raise ValueError(f"{len(questions)} questions but {len(scored)} scored answers")
    if not questions:
        raise ValueError("no questions to summarise")
    n = len(questions)
    right = 0
    unparsed = refused = 0
    per_cat: dict[str, list[int]] = {}
    per_image: dict[tuple[str, str], bool] = {}
    for q, s in zip(questions, scored, strict=True):
        right += s.correct
        unparsed += s.how in ("unparsed", "error")
        refused += s.how == "refusal"
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
        refusal_rate=100.0 * refused / n,
    )
