"""What the three human-oriented tasks share: cases from question generation, answers, scoring.

Each case is one (dataset, task, taxonomy level or attribute group, question type); its
questions come from :func:`pytest_fgbmk.questions.cases.build_questions`, the model
answers them through the engine (cache first), and
:func:`pytest_fgbmk.measurement.measure_questions` scores them (accuracy, Wilson interval,
per-question right/wrong for the gate's exact McNemar test).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from pytest_fgbmk import rule_versions
from pytest_fgbmk.judge import judged_scoring
from pytest_fgbmk.measurement import Asked, measure_questions
from pytest_fgbmk.questions.ids import content_digest
from pytest_fgbmk.tasks.base import Param, Task

if TYPE_CHECKING:
    from pytest_fgbmk.data.records import Dataset, Sample
    from pytest_fgbmk.measurement import Measurement
    from pytest_fgbmk.questions.cases import Case
    from pytest_fgbmk.run.context import RunContext

#: The parameter the human-oriented suites are parametrized with.
HUMAN_FIXTURE = "fgbmk_case"


class HumanTask(Task):
    """A task answered in text (subclasses set ``name``, ``title`` and ``suite``)."""

    kind = "human"
    needs = "answers"
    fixture = HUMAN_FIXTURE

    def params(self, ctx: RunContext) -> list[Param]:
        from pytest_fgbmk.questions.cases import cases_for

        data = ctx.data()
        out = [
            Param(self.param_id(c), c)
            for ds in data.datasets.values()
            for c in cases_for(ds, (self.name,))
            if c.task == self.name
        ]
        if not out:
            names = ", ".join(data.datasets) or "none"
            reason = f"no {self.name} case in the selected datasets ({names}) under {data.label}"
            out.append(Param(f"no-{self.name}-case", None, reason))
        return out

    @staticmethod
    def rules(ctx: RunContext) -> str:
        """The rule versions a human case's numbers rest on (the subset rule only when
        ``--fgbmk-limit`` subsets)."""
        names = ["questions", *(["subset"] if ctx.options.limit is not None else [])]
        return rule_versions.rules(*names, "scoring", "images")

    def param_id(self, case: Case) -> str:
        return case.id

    def resources(self, ctx: RunContext, case: Case) -> frozenset[str]:
        # Questions are answered independently: each case is its own unit of work.
        return frozenset({f"answers:{case.id}"})

    def cost(self, ctx: RunContext, case: Case) -> float:
        return float(len(ctx.questions(case)))

    def images(self, ctx: RunContext, case: Case) -> Iterable[tuple[Dataset, Sample]]:
        """The image of the case's questions (as the engine pairs them), each sample once
        (a case asks several questions about an image: attributes, levels)."""
        from pytest_fgbmk.engine import samples_for

        ds = ctx.dataset(case.dataset)
        distinct = {id(s): s for s in samples_for(ds, ctx.questions(case))}
        return [(ds, s) for s in distinct.values()]

    def measure(self, ctx: RunContext, cases: Sequence[Any]) -> dict[str, Measurement]:
        """Answer the cases' questions, ask the judge (``--fgbmk-judge``) about the answers
        the rules leave unparsed, score. The judge's identity is part of the recorded
        scoring (``strict;judge=…``), so a judged run never pairs with an unjudged baseline."""
        ctx.answer(cases)
        answers = ctx.answers()
        judge = ctx.judge()
        scoring = judged_scoring(ctx.options.scoring, judge.identity if judge else None)
        settings = ctx.model_settings(answers=True)
        out = {}
        for case in cases:
            ds = ctx.dataset(case.dataset)
            asked = Asked(
                dataset=ds.name,
                dataset_hash=ds.index_hash,
                templates=ctx.options.templates,
                scoring=scoring,
                limit=ctx.options.limit,
                seed=ctx.options.seed,
                rules=self.rules(ctx),
                content=content_digest(ctx.questions(case)),
                exif_orientation=ds.exif_orientation,
                model_settings=settings,
            )
            out[case.id] = measure_questions(
                case,
                ctx.questions(case),
                answers,
                asked=asked,
                scoring=ctx.options.scoring,
                judged=ctx.judged(case),
            )
        return out
