"""Cases: one benchmark measurement each (dataset × task × level or attribute × question type).

:func:`cases_for` lists them from metadata alone (cheap, no image decoded); the pytest layer
turns each into a test. :func:`build_questions` generates one case's questions.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_fgbmk.data.records import CERTAINTY_PROBABLY, Dataset
from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.gc_pause import collector_paused
from pytest_fgbmk.hashing import derive_seed
from pytest_fgbmk.questions import generate
from pytest_fgbmk.questions.records import QTYPES, TASKS, Question
from pytest_fgbmk.questions.subsample import stratified
from pytest_fgbmk.questions.templates import TemplateSet, template_set
from pytest_fgbmk.task_names import ATTRIBUTE, GRANULARITY, KNOWLEDGE_BIAS

#: The split questions are asked about.
SPLIT = "test"


@dataclass(frozen=True)
class Case:
    """One measurement: ``task`` in attribute|knowledge_bias|granularity, ``qtype`` tf|mc|sa.

    ``facet`` is the taxonomy level or attribute group (the finest level for knowledge bias).
    """

    dataset: str
    task: str
    facet: str
    qtype: str

    @property
    def id(self) -> str:
        """``"cub-wing_color-tf"``, ``"cub-species-sa"``, ``"cub-knowledge_bias-tf"``."""
        middle = KNOWLEDGE_BIAS if self.task == KNOWLEDGE_BIAS else self.facet
        return f"{self.dataset}-{middle}-{self.qtype}".replace(" ", "_")


def _check_tasks(tasks: Sequence[str]) -> None:
    bad = [t for t in tasks if t not in TASKS]
    if bad:
        raise ConfigError(f"unknown task {bad[0]!r}; choose from {', '.join(TASKS)}")


def cases_for(
    dataset: Dataset, tasks: Sequence[str] = TASKS, *, min_certainty: int = CERTAINTY_PROBABLY
) -> list[Case]:
    """Every case the dataset's test split supports, for the given tasks."""
    _check_tasks(tasks)
    test = dataset.split(SPLIT)
    if not test:
        return []
    name = dataset.name
    levels = generate.dataset_levels(dataset)
    out: list[Case] = []
    if ATTRIBUTE in tasks:
        asked: set[str] = set()
        for s in test:
            asked.update(a.group for a in s.annotations if a.certainty >= min_certainty)
        for g in dataset.attribute_groups:
            if g.name in asked and len(g.values) >= 2:
                out += [
                    Case(name, ATTRIBUTE, g.name, "tf"),
                    Case(name, ATTRIBUTE, g.name, "mc"),
                ]
    if KNOWLEDGE_BIAS in tasks and len(generate.level_pools(dataset, len(levels) - 1).names) >= 2:
        out.append(Case(name, KNOWLEDGE_BIAS, levels[-1], "tf"))
    if GRANULARITY in tasks:
        for i, level in enumerate(levels):
            if not generate.level_pools(dataset, i).usable():
                continue
            out += [Case(name, GRANULARITY, level, "tf"), Case(name, GRANULARITY, level, "mc")]
            if i == len(levels) - 1:
                out.append(Case(name, GRANULARITY, level, "sa"))
    seen: dict[str, Case] = {}
    for case in out:
        other = seen.setdefault(case.id, case)
        if other is not case:
            raise ConfigError(
                f"dataset {name}: the {other.task} case on {other.facet!r} and the {case.task} "
                f"case on {case.facet!r} would share the id {case.id}; rename the attribute "
                "group or the taxonomy level"
            )
    return out


def build_questions(
    dataset: Dataset,
    case: Case,
    *,
    templates: str = "original",
    limit: int | None = None,
    seed: int = 0,
    min_certainty: int = CERTAINTY_PROBABLY,
    mc_options: int | None = generate.MC_OPTIONS,
) -> tuple[Question, ...]:
    """The questions of one case, deterministic from (dataset, task, split, facet, seed).

    ``limit`` keeps a stratified subset (see :func:`subsample.stratified`). ``mc_options``
    applies to attribute multiple-choice: 4 by default, ``None`` for every candidate value.
    """
    if case.dataset != dataset.name:
        raise ConfigError(
            f"case {case.id} belongs to dataset {case.dataset!r}, not {dataset.name!r}"
        )
    _check_tasks([case.task])
    if case.qtype not in QTYPES:
        raise ConfigError(f"unknown question type {case.qtype!r}; choose from {', '.join(QTYPES)}")
    tset = template_set(templates)
    rng = random.Random(derive_seed(dataset.name, case.task, SPLIT, case.facet, case.qtype, seed))
    with collector_paused(freeze=False):  # many acyclic records (~25% faster)
        qs = _generate(dataset, case, tset, rng, min_certainty, mc_options)
    return stratified(qs, limit, seed)


def _generate(
    dataset: Dataset,
    case: Case,
    tset: TemplateSet,
    rng: random.Random,
    min_certainty: int,
    mc_options: int | None,
) -> list[Question]:
    samples = dataset.split(SPLIT)
    if case.task == GRANULARITY:
        if case.facet not in generate.dataset_levels(dataset):
            raise ConfigError(
                f"dataset {dataset.name!r} has no level {case.facet!r}; its levels are "
                f"{', '.join(generate.dataset_levels(dataset))}"
            )
        qs = generate.granularity(dataset, samples, case.facet, case.qtype, tset, rng)
    elif case.task == KNOWLEDGE_BIAS:
        if case.qtype != "tf":
            raise ConfigError("knowledge-bias questions are true/false only (qtype 'tf')")
        qs = generate.knowledge_bias(dataset, samples, tset, rng)
    else:
        if case.qtype == "sa":
            raise ConfigError("attribute questions are true/false or multiple-choice, not 'sa'")
        try:
            dataset.attribute_group(case.facet)
        except KeyError:
            raise ConfigError(
                f"dataset {dataset.name!r} has no attribute group {case.facet!r}"
            ) from None
        qs = generate.attribute(
            dataset,
            samples,
            case.facet,
            case.qtype,
            tset,
            rng,
            min_certainty=min_certainty,
            mc_options=mc_options,
        )
    return qs
