"""An optional judge model for the answers the scoring rules cannot decide (``--fgbmk-judge``).

Off by default, so a case's verdict stays deterministic. When on (``strict`` scoring only;
``official`` is the release's rule and never judged), each answer the rules cannot decide
(:func:`needs_judge`: unparsed, or a short answer naming something that is neither the
truth nor one of its listed names, which may be a name the data does not list: "GSP" for
German short-haired pointer, 荷花 for lotus; never a refusal, a hedge, a model error or an
empty response) is shown to the judge with the fixed :data:`JUDGE_PROMPT`; the judge replies ``right``,
``wrong`` or ``unclear`` (:func:`parse_verdict`, strict). A right or wrong verdict
replaces the rules' one (``how="judge"``); ``unclear`` or any other reply leaves it
as the rules read it. Verdicts are cached in the answer cache (:mod:`pytest_fgbmk.cache`) under the
judge's fingerprint and the grading prompt's version, keyed by question id and a hash of
the whole grading prompt (which holds the response), so a second run asks nothing.

The judge is any model spec that answers text (``openai:…``, ``hf:…``, a registered or
``package.module:factory`` model). Every answering adapter takes an image with its prompt,
so each grading request carries :func:`judge_image`, a small blank picture the prompt
tells the judge to ignore. The judge's :attr:`Judge.identity` is part of what a baseline
records (:func:`judged_scoring`), so a judged run never compares silently with a baseline
that was not judged, or judged by another model or prompt.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from pytest_fgbmk.cache import CacheKey, NullCache, prompt_hash
from pytest_fgbmk.errors import FgbmkError, ModelError
from pytest_fgbmk.hashing import sha256_hex
from pytest_fgbmk.models.base import AnswerRequest, GenerationSettings, ModelAdapter
from pytest_fgbmk.scoring import Scored, score, strip_reasoning

if TYPE_CHECKING:
    from PIL import Image

    from pytest_fgbmk.cache import AnswerCache
    from pytest_fgbmk.engine import Answer
    from pytest_fgbmk.questions.records import Question

#: The ``how`` values of :class:`~pytest_fgbmk.scoring.Scored` that the judge is asked
#: about: answers the rules could not read. Refusals (``how="refusal"``), scorer failures
#: and model errors (``how="error"``) are never judged.
JUDGED_HOWS = frozenset({"unparsed"})
#: Short answers the rules read as another name (``how="text"``, wrong) are judged too: the
#: name may be a synonym, translation or abbreviation the data does not list.
JUDGED_SHORT_ANSWER_HOWS = frozenset({"text"})
#: The ``how`` of an answer the judge decided (right or wrong).
JUDGE_HOW = "judge"
#: The judge's three replies (:func:`parse_verdict`).
VERDICTS = ("right", "wrong", "unclear")

JUDGE_PROMPT = """\
You grade one answer to a question about an image. You do not see the image (the \
picture attached to this message is blank; ignore it): decide only whether the response \
gives the correct answer.

Question:
{question}
{options}
Correct answer: {truth}

Response to grade:
<<<
{response}
>>>

Rules: the response is right when its final stated answer is the correct answer (a \
correct synonym, a scientific name of it, or the letter of the correct option count). It \
is wrong when its final answer is another one, when it hedges between several answers, \
or when it refuses or says it cannot tell. If you cannot decide, reply unclear.
Reply with exactly one word: right, wrong or unclear."""
"""The fixed grading prompt (``str.format`` fields: ``question``, the question's prompt
as the model saw it; ``options``, ``Options: A) … B) …`` for multiple-choice, else empty;
``truth``, the correct answer (``yes``/``no``, ``(B) option text``, or the category name);
``response``, the model's response, at most :data:`MAX_RESPONSE_CHARS` characters). Any
change to it changes :data:`JUDGE_VERSION`, hence the cache key and every judged
baseline's fingerprint."""

#: Longer responses are cut to this many characters in the grading prompt.
MAX_RESPONSE_CHARS = 4000
#: The version of the grading prompt, of :func:`parse_verdict` and of which answers are
#: judged (:func:`needs_judge`; ``select=2``: short answers naming another name too).
JUDGE_VERSION = sha256_hex(JUDGE_PROMPT + "|parse=1|select=2", 12)
#: How the judge generates: greedy, a few tokens (one word is asked for).
JUDGE_SETTINGS = GenerationSettings(max_new_tokens=16, temperature=0.0)
_WORD = re.compile(r"\A[\s*_`\"'.]*([a-z]+)[\s*_`\"'.!]*\Z")


def grading_prompt(question: Question, response: str) -> str:
    """:data:`JUDGE_PROMPT` filled in for one question and one response."""
    options = ""
    truth = question.truth
    if question.qtype == "mc" and question.options:
        marks = [chr(65 + i) if question.lettered else "-" for i in range(len(question.options))]
        sep = ") " if question.lettered else " "
        options = "Options: " + "; ".join(
            f"{m}{sep}{o}" for m, o in zip(marks, question.options, strict=True)
        )
        if question.lettered and truth in question.options:
            truth = f"({chr(65 + question.options.index(truth))}) {truth}"
    if question.qtype == "sa" and question.accepted:
        truth = f"{truth} (also accepted: {', '.join(question.accepted)})"
    text = response if len(response) <= MAX_RESPONSE_CHARS else response[:MAX_RESPONSE_CHARS] + "…"
    return JUDGE_PROMPT.format(
        question=question.prompt.strip(), options=options, truth=truth, response=text.strip()
    )


def parse_verdict(reply: str) -> str:
    """``right``, ``wrong`` or ``unclear`` from a judge's reply, strictly.

    The reply (after a leading ``<think>…</think>`` block) must be exactly one of the three
    words, in any case, optionally wrapped in markdown emphasis, quotes or a final full stop
    (``"Right."``, ``"**wrong**"``). Anything else (a sentence, two words) is ``unclear``.
    """
    m = _WORD.match(strip_reasoning(reply).lower())
    if m and m.group(1) in VERDICTS:
        return m.group(1)
    return "unclear"


def needs_judge(scored: Scored, response: str, qtype: str = "") -> bool:
    """Whether the judge is asked about this answer: the response has text and the rules
    left it unparsed (:data:`JUDGED_HOWS`) or, for a short answer (``qtype="sa"``), read it
    as a name that is not the truth's (:data:`JUDGED_SHORT_ANSWER_HOWS`)."""
    if not response.strip():
        return False
    if scored.how in JUDGED_HOWS:
        return True
    return qtype == "sa" and not scored.correct and scored.how in JUDGED_SHORT_ANSWER_HOWS


def judged_scoring(scoring: str, identity: str | None) -> str:
    """What a baseline records as the case's scoring: the mode, and the judge when one is on
    (``strict;judge=openai:gpt-4o@1a2b3c4d5e6f``)."""
    return scoring if not identity else f"{scoring};judge={identity}"


@lru_cache(maxsize=1)
def judge_image() -> Image.Image:
    """The blank picture each grading request carries (32×32 white RGB)."""
    from PIL import Image

    return Image.new("RGB", (32, 32), (255, 255, 255))


@dataclass
class JudgeStats:
    """What the judge did in one process: answers asked about, from the cache, and the
    verdicts (``failed``: requests the model could not answer; they stay unparsed)."""

    asked: int = 0
    cached: int = 0
    right: int = 0
    wrong: int = 0
    unclear: int = 0
    failed: int = 0


class Judge:
    """Grades unparsed answers with a model (see the module docstring).

    ``cache``: the run's answer cache (or a :class:`~pytest_fgbmk.cache.NullCache`);
    ``batch_size``: grading requests per call to the model (at least the model's
    ``min_batch_size``, so a remote judge's concurrency is reached). A model that raises is a
    :class:`~pytest_fgbmk.errors.ModelError` naming the judge (the run stops with it);
    a request it fails alone (:class:`~pytest_fgbmk.models.base.FailedAnswer`) is counted
    in ``stats.failed`` and its answer stays unparsed.
    """

    def __init__(
        self,
        model: ModelAdapter,
        cache: AnswerCache | NullCache | None = None,
        *,
        batch_size: int = 32,
    ) -> None:
        if not model.can_answer:
            raise ModelError(
                f"--fgbmk-judge: model {model.name!r} cannot answer in text; give a model "
                "that answers questions (openai:…, hf:…)"
            )
        self.model = model
        self.cache = cache if cache is not None else NullCache()
        self.batch_size = max(1, batch_size, int(getattr(model, "min_batch_size", 1) or 1))
        self.key = CacheKey(model.fingerprint, f"judge={JUDGE_VERSION};{JUDGE_SETTINGS.key()}")
        self.stats = JudgeStats()

    @property
    def identity(self) -> str:
        """The judge's name and a hash of its fingerprint and the grading prompt's version
        (no ``;``, so it reads as one part of a recorded scoring string)."""
        name = self.model.name.replace(";", ",")
        return f"{name}@{sha256_hex(self.model.fingerprint + '|' + JUDGE_VERSION, 12)}"

    def verdicts(self, items: Sequence[tuple[Question, str]]) -> dict[str, str]:
        """The judge's verdict (``right``/``wrong``/``unclear``) on each ``(question,
        response)`` pair, by question id; a request the model failed is left out."""
        prompts = {q.id: (q, grading_prompt(q, r)) for q, r in items}
        hashes = {qid: prompt_hash(p) for qid, (_, p) in prompts.items()}
        found = self.cache.get_many(self.key, list(hashes.items()))
        out = {qid: parse_verdict(text) for qid, text in found.items()}
        self.stats.cached += len(found)
        todo = [qid for qid in prompts if qid not in found]
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start : start + self.batch_size]
            requests = [AnswerRequest(judge_image(), prompts[q][1], prompts[q][0]) for q in chunk]
            replies = self._ask(requests)
            self.stats.asked += len(chunk)
            store = []
            for qid, reply in zip(chunk, replies, strict=True):
                if not isinstance(reply, str) or not reply.strip():
                    self.stats.failed += 1
                    continue
                out[qid] = parse_verdict(reply)
                store.append((qid, hashes[qid], reply))
            self.cache.put_many(self.key, store)
        for verdict in out.values():
            setattr(self.stats, verdict, getattr(self.stats, verdict) + 1)
        return out

    def _ask(self, requests: list[AnswerRequest]) -> list[object]:
        try:
            replies = list(self.model.answer(requests, JUDGE_SETTINGS))
        except FgbmkError as exc:
            raise ModelError(f"--fgbmk-judge {self.model.name}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - named, never a traceback
            raise ModelError(
                f"--fgbmk-judge {self.model.name}: the judge failed: {type(exc).__name__}: {exc}"
            ) from None
        if len(replies) != len(requests):
            raise ModelError(
                f"--fgbmk-judge {self.model.name}: returned {len(replies)} replies for "
                f"{len(requests)} grading requests"
            )
        return replies


def judge_answers(
    judge: Judge, questions: Sequence[Question], answers: Mapping[str, Answer]
) -> dict[str, bool]:
    """The judge's right/wrong on each of ``questions`` whose answer the ``strict`` rules
    cannot decide (:func:`needs_judge`), by question id.

    Errored answers are never judged; answers the judge found unclear (or failed on) are
    left out, so they stay unparsed.
    """
    items = []
    for q in questions:
        a = answers[q.id]
        if a.error is None and needs_judge(score(q, a.text, "strict"), a.text, q.qtype):
            items.append((q, a.text))
    if not items:
        return {}
    verdicts = judge.verdicts(items)
    return {qid: v == "right" for qid, v in verdicts.items() if v in ("right", "wrong")}
