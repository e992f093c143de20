"""What one benchmark case measured: the metric, its interval, and every sample's outcome.

A :class:`Measurement` is what the gate checks, what JUnit properties and the terminal
summary show, and what a baseline stores. It is built from questions, the engine's
answers and the scorer's verdicts by :func:`measure_questions`; no pytest here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_fgbmk import __version__
from pytest_fgbmk.task_names import KNOWLEDGE_BIAS

if TYPE_CHECKING:
    from pytest_fgbmk.engine import Answer
    from pytest_fgbmk.questions.records import Question


@dataclass(frozen=True)
class Outcome:
    """One question's result: right or wrong, what the model said, how it was read.

    ``score`` is a machine-oriented case's per-sample value (a query's average precision,
    or 1.0/0.0 for a probe's correctness); None for a question answered in text.
    """

    question_id: str
    correct: bool
    response: str
    how: str
    prompt: str = ""
    category: str = ""
    error: str | None = None
    score: float | None = None


@dataclass(frozen=True)
class Asked:
    """The fingerprint of what a case asked (a baseline of another configuration differs).

    The user's settings (dataset index, templates, scoring mode or protocol, limit, seed,
    the EXIF orientation rule, the model's settings besides its weights),
    then what this tool decided: ``rules``, the versions of the rules that produced the
    numbers (:func:`pytest_fgbmk.rule_versions.rules`), and ``content``, a SHA-256 of the
    questions' text, options and truths (empty for machine-oriented cases).
    """

    dataset: str
    dataset_hash: str
    templates: str
    scoring: str
    limit: int | None
    seed: int
    version: str = __version__
    rules: str = ""
    content: str = ""
    #: How image files' EXIF orientation was treated: ``apply`` or ``ignore``
    #: (``--fgbmk-exif-orientation``; :mod:`pytest_fgbmk.data.images`).
    exif_orientation: str = "apply"
    #: The model's settings besides its weights that move the numbers: dtype, image size,
    #: for answers ``max_new_tokens`` and the system prompt, and the family's own such args
    #: (``hf:``'s ``fixed_new_tokens``, ``max_pixels`` …;
    #: :meth:`pytest_fgbmk.models.options.ModelOptions.recorded`). Empty: not recorded.
    model_settings: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "dataset_hash": self.dataset_hash,
            "templates": self.templates,
            "scoring": self.scoring,
            "limit": self.limit,
            "seed": self.seed,
            "exif_orientation": self.exif_orientation,
            "model_settings": self.model_settings,
            "version": self.version,
            "rules": self.rules,
            "content": self.content,
        }


@dataclass(frozen=True)
class Measurement:
    """One case's result. ``value``, ``low`` and ``high`` are percentages (0–100).

    ``unparsed_rate`` is the percentage of answers nothing could be read from (errors
    included); ``refusal_rate`` the percentage that declined to answer (``how="refusal"``,
    scored wrong); ``errors`` counts questions the model failed to answer (scored wrong, reported);
    ``details`` holds task-specific figures (knowledge bias: the per-category
    distribution and the ranked per-category accuracies). ``judged`` counts answers the
    rules could not decide that ``--fgbmk-judge`` decided (``how="judge"``; 0 without a judge).
    """

    case_id: str
    dataset: str
    task: str
    facet: str
    qtype: str
    metric: str
    value: float
    n: int
    low: float
    high: float
    unparsed_rate: float
    errors: int
    outcomes: tuple[Outcome, ...]
    asked: Asked
    details: Mapping[str, Any] = field(default_factory=dict)
    judged: int = 0
    refusal_rate: float = 0.0

    @property
    def question_ids(self) -> tuple[str, ...]:
        return tuple(o.question_id for o in self.outcomes)

    @property
    def correct(self) -> tuple[bool, ...]:
        return tuple(o.correct for o in self.outcomes)


def category_distribution(per_category: Mapping[str, tuple[int, int]]) -> dict[str, Any]:
    """Per-category accuracy (percent) ranked worst first, with mean, worst decile, spread.

    ``spread`` is the population standard deviation of the per-category accuracies;
    the worst decile is the mean of the lowest ``ceil(10%)`` categories.
    """
    ranked = sorted(
        ((name, 100.0 * c / t) for name, (c, t) in per_category.items() if t > 0),
        key=lambda item: (item[1], item[0]),
    )
    if not ranked:
        return {
            "ranked": [],
            "mean_category_accuracy": 0.0,
            "worst_decile_accuracy": 0.0,
            "spread": 0.0,
        }
    values = [v for _, v in ranked]
    mean = sum(values) / len(values)
    k = max(1, math.ceil(len(values) / 10))
    spread = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return {
        "ranked": [[name, round(v, 4)] for name, v in ranked],
        "mean_category_accuracy": mean,
        "worst_decile_accuracy": sum(values[:k]) / k,
        "spread": spread,
    }


def per_image(questions: Sequence[Question], scored: Sequence[Any]) -> dict[str, Any]:
    """The FG-BMK release's knowledge-bias figure: the percentage of images whose every
    question (its own category and the sibling) is answered right, and the image count.

    Stricter than per-question accuracy: an image counts only when both its questions are
    right (an always-"No." model scores 50 % per question and 0 % per image).
    """
    images: dict[str, bool] = {}
    for q, s in zip(questions, scored, strict=True):
        key = q.sample_id or q.image
        images[key] = images.get(key, True) and bool(s.correct)
    n = len(images)
    return {
        "per_image_accuracy": 100.0 * sum(images.values()) / n if n else 0.0,
        "images": n,
    }


def measure_questions(
    case: Any,
    questions: Sequence[Question],
    answers: Mapping[str, Answer],
    *,
    asked: Asked,
    scoring: str = "strict",
    judged: Mapping[str, bool] | None = None,
) -> Measurement:
    """Score a case's questions against the engine's answers and summarise them.

    ``case`` is a :class:`pytest_fgbmk.questions.cases.Case`. An errored answer is
    scored wrong with ``how="error"`` and counted in ``errors``. ``judged``: the judge's
    right/wrong by question id (:func:`pytest_fgbmk.judge.judge_answers`); it replaces a
    verdict the rules could not decide (:func:`~pytest_fgbmk.judge.needs_judge`;
    ``how="judge"``, counted in ``judged``) and nothing else; never given in ``official`` mode.
    """
    from pytest_fgbmk.judge import JUDGE_HOW, needs_judge
    from pytest_fgbmk.scoring import Scored, score, summarize

    judged = judged or {}
    n_judged = 0

    scored = []
    outcomes = []
    errors = 0
    for q in questions:
        a = answers[q.id]
        if a.error is not None:
            errors += 1
            s = Scored(correct=False, parsed=None, how="error")
        else:
            s = score(q, a.text, scoring)
            if q.id in judged and needs_judge(s, a.text, q.qtype):
                s = Scored(correct=judged[q.id], parsed=None, how=JUDGE_HOW)
                n_judged += 1
        scored.append(s)
        outcomes.append(
            Outcome(q.id, bool(s.correct), a.text, s.how, q.prompt, q.category, a.error)
        )
    if not questions:
        return Measurement(
            case.id,
            case.dataset,
            case.task,
            case.facet,
            case.qtype,
            "accuracy",
            0.0,
            0,
            0.0,
            100.0,
            0.0,
            0,
            (),
            asked,
        )
    summary = summarize(questions, scored)
    details: dict[str, Any] = {}
    if case.task == KNOWLEDGE_BIAS:
        details = category_distribution(summary.per_category)
        details.update(per_image(questions, scored))
    return Measurement(
        case_id=case.id,
        dataset=case.dataset,
        task=case.task,
        facet=case.facet,
        qtype=case.qtype,
        metric="accuracy",
        value=float(summary.accuracy),
        n=int(summary.n),
        low=float(summary.low),
        high=float(summary.high),
        unparsed_rate=float(summary.unparsed_rate),
        errors=errors,
        outcomes=tuple(outcomes),
        asked=asked,
        details=details,
        judged=n_judged,
        refusal_rate=float(summary.refusal_rate),
    )
