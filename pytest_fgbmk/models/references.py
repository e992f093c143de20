"""Reference models for pipeline calibration: ``chance``, ``oracle`` and ``constant``.

They read the question record attached to each request (never the image), so a suite
run with them checks the plumbing: ``oracle`` must score 100%, ``chance`` about 1/k, and
``constant`` (one fixed answer: always "No.", always "A", always the first option …)
exactly chance on a balanced case, also under ``--fgbmk-limit``. They answer only; they
expose no features.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

from pytest_fgbmk.errors import ConfigError, ModelError
from pytest_fgbmk.hashing import sha256_int
from pytest_fgbmk.models.base import AnswerRequest, GenerationSettings, ModelAdapter
from pytest_fgbmk.models.options import ModelOptions
from pytest_fgbmk.questions.records import QTYPES, Question

#: What ``chance`` answers to a short-answer question that carries no options.
UNKNOWN_ANSWER = "unknown"


class _QuestionReader(ModelAdapter):
    """An answer-only adapter that reads ``AnswerRequest.question``."""

    can_answer = True
    can_encode = False

    def answer(self, requests: Sequence[AnswerRequest], settings: GenerationSettings) -> list[str]:
        return [self.answer_question(self._question(i, r)) for i, r in enumerate(requests)]

    @abstractmethod
    def answer_question(self, question: Question) -> str:
        """The answer to one question (the record, not the image)."""

    def _question(self, index: int, request: AnswerRequest) -> Question:
        question = request.question
        if question is None:
            raise ModelError(
                f"model {self.name!r} reads the question record, but request {index} has "
                "none; build AnswerRequest(image, prompt, question=...) (the engine does)"
            )
        if question.qtype not in QTYPES:
            raise ModelError(
                f"model {self.name!r}: question {question.id} has type {question.qtype!r}; "
                f"expected one of {', '.join(QTYPES)}"
            )
        return question


class OracleModel(_QuestionReader):
    """Answers the truth: ``yes``/``no``, the right option's text, the category name."""

    name = "oracle"

    @property
    def fingerprint(self) -> str:
        return "oracle-v1"

    def answer_question(self, question: Question) -> str:
        return question.truth


class ChanceModel(_QuestionReader):
    """Answers uniformly among the valid answers, reproducibly per question id and seed.

    True/false: ``yes`` or ``no``; multiple-choice: one of the options; short answer: one
    of the options when the question has any, else :data:`UNKNOWN_ANSWER`.
    """

    name = "chance"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    @property
    def fingerprint(self) -> str:
        return f"chance-v1;seed={self.seed}"

    def answer_question(self, question: Question) -> str:
        choices = question.valid_answers if question.qtype != "sa" else question.options
        if not choices:
            if question.qtype == "mc":
                raise ModelError(
                    f"model 'chance': multiple-choice question {question.id} has no options"
                )
            return UNKNOWN_ANSWER
        return choices[sha256_int(f"chance:{self.seed}:{question.id}", 8) % len(choices)]


class ConstantModel(_QuestionReader):
    """Gives every question the same answer: ``answer`` as written (``"No."``, ``"A"``,
    ``"Yes."`` …), or ``@first`` / ``@last``: the first or last of the question's valid
    answers (true/false: ``yes`` / ``no``; multiple-choice and short answer: its options;
    :data:`UNKNOWN_ANSWER` for a question with none)."""

    name = "constant"
    #: The ``answer`` values that pick a valid answer by position.
    POSITIONS = {"@first": 0, "@last": -1}

    def __init__(self, answer: str = "No.") -> None:
        self.text = answer

    @property
    def fingerprint(self) -> str:
        return f"constant-v1;answer={self.text}"

    def answer_question(self, question: Question) -> str:
        if self.text not in self.POSITIONS:
            return self.text
        choices = question.valid_answers
        return choices[self.POSITIONS[self.text]] if choices else UNKNOWN_ANSWER


def load_constant(options: ModelOptions) -> ConstantModel:
    """The ``constant`` factory; ``answer`` (default ``No.``) is the answer to every
    question, or ``@first`` / ``@last`` for the first or last valid answer."""
    _reject_extra("constant", options, allowed=("answer",))
    answer = str(options.extra.get("answer", "No."))
    if not answer.strip():
        raise ConfigError(
            "model arg answer is empty for 'constant'; give the answer to every question "
            "(answer=No., answer=A), or answer=@first / answer=@last"
        )
    return ConstantModel(answer)


def load_oracle(options: ModelOptions) -> OracleModel:
    """The ``oracle`` factory; it takes no family-specific options."""
    _reject_extra("oracle", options, allowed=())
    return OracleModel()


def load_chance(options: ModelOptions) -> ChanceModel:
    """The ``chance`` factory; ``seed`` (an integer, default 0) picks another draw."""
    _reject_extra("chance", options, allowed=("seed",))
    raw = options.extra.get("seed", 0)
    try:
        seed = int(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"model arg seed must be an integer for 'chance', got {raw!r}") from None
    return ChanceModel(seed)


def _reject_extra(model: str, options: ModelOptions, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(options.extra) - set(allowed))
    if unknown:
        accepted = ", ".join(allowed) if allowed else "none besides the common ones"
        raise ConfigError(
            f"model {model!r} does not take model arg(s) {', '.join(unknown)}; "
            f"its own args: {accepted}"
        )
