"""The question record every generator produces and every model answers."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_fgbmk.task_names import HUMAN_TASKS

#: Question types: true/false, multiple-choice, short answer.
QTYPES = ("tf", "mc", "sa")
#: Human-oriented tasks.
TASKS = HUMAN_TASKS


@dataclass(frozen=True, slots=True)
class Question:
    """One question about one image.

    ``id`` is a stable hash of (dataset, image, task, facet, truth, template), the same on
    every machine, so baselines can pair questions across runs. ``facet`` is the taxonomy
    level or attribute group the question tests. ``truth`` is ``"yes"``/``"no"`` for
    true/false, the correct option text for multiple-choice, and the category's name for
    short answer. ``asked`` is the name a true/false question asks about. ``accepted`` holds
    other names that count as right for short answer (the category's synonyms).
    ``option_synonyms`` is empty or aligned with ``options``: the other names of each
    option's entry at the question's level, so an answer naming an option by one of them
    names that option (:func:`option_names`). Neither is part of the id.
    """

    id: str
    dataset: str
    image: str
    prompt: str
    qtype: str
    task: str
    facet: str
    category: str
    truth: str
    template_id: str
    options: tuple[str, ...] = ()
    lettered: bool = False
    asked: str = ""
    accepted: tuple[str, ...] = ()
    sample_id: str = ""
    option_synonyms: tuple[tuple[str, ...], ...] = ()

    @property
    def valid_answers(self) -> tuple[str, ...]:
        """What a well-formed answer can be: yes/no, an option, or free text (empty)."""
        if self.qtype == "tf":
            return ("yes", "no")
        return self.options


def option_names(q: Question, i: int) -> tuple[str, ...]:
    """Every name of option ``i`` of ``q``: its text, then its synonyms (if any).

    Raises :class:`IndexError` for an ``i`` outside ``q.options``.
    """
    text = q.options[i]
    if i < len(q.option_synonyms) and q.option_synonyms[i]:
        return (text, *q.option_synonyms[i])
    return (text,)
