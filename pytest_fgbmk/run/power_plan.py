"""Plan a run's size: the ``--fgbmk-limit`` that detects a drop of D points (no pytest).

For each selected case, from metadata and its stored baseline only (no model is loaded,
no question answered): the questions it has (N, the full size), the n the current options
give it, its minimum detectable drop at that n (:mod:`pytest_fgbmk.power`), and the least
n that detects a drop of ``drop`` points with 90 % power. The advised ``--fgbmk-limit`` is
the largest of those n over the human-oriented cases (``--fgbmk-limit`` subsamples only
their questions; a machine-oriented case always measures its whole test split).

Assumptions, stated with the table: the per-case threshold is ``alpha / cases selected``
(the Bonferroni share; the run's discrete-Holm threshold is never below it, and cases the
model cannot run leave the family at run time, so the plan is conservative); a case with a
baseline uses the baseline's accuracy (or per-query spread); a case without one assumes
accuracy 50 % (values: mean 0.5, SD 0.5, the largest spread of values in 0–1); the
background flip rate is ``flip_rate`` for every case (a baseline stores no run-to-run
flips; 0 assumes an unchanged checkpoint repeats its answers exactly).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pytest_fgbmk.baselines.record import parse_record
from pytest_fgbmk.baselines.store import BaselineStore
from pytest_fgbmk.errors import DataFormatError
from pytest_fgbmk.power import (
    POWER,
    bonferroni_share,
    format_mdd,
    limit_for,
    mcnemar_mdd,
    sign_flip_mdd,
)
from pytest_fgbmk.task_names import ALIGNMENT_EFFECT, KNOWLEDGE_BIAS, LINEAR_PROBE, RETRIEVAL

if TYPE_CHECKING:
    from pytest_fgbmk.run.context import RunContext
    from pytest_fgbmk.run.run import Selected

#: What a case without a baseline is assumed to score (points) and, for values, spread (0–1).
DEFAULT_ACCURACY = 50.0
DEFAULT_SPREAD = 0.5
#: Cases named on the "cannot detect" line before the rest are counted.
SHOWN = 10


@dataclass(frozen=True)
class CasePlan:
    """One case of the plan. ``full``: questions (or test images) it has; ``n``: what the
    current options give it; ``mdd``: at ``n``, points or inf; ``needed``: the least n that
    detects the planned drop (None: not even ``full`` does); ``subsampled``: whether
    ``--fgbmk-limit`` applies; ``basis``: the baseline figure used, or the assumed one."""

    case_id: str
    test: str
    full: int
    n: int
    mdd: float
    needed: int | None
    subsampled: bool
    basis: str


@dataclass(frozen=True)
class Plan:
    """The plan of a selection: its cases, the drop planned for, and the advised limit
    (None when no subsampled case can reach the drop, or none is selected)."""

    drop: float
    alpha: float
    min_drop: float
    flip_rate: float
    family_size: int
    cases: tuple[CasePlan, ...]
    advised: int | None

    @property
    def unreachable(self) -> list[str]:
        """Cases that cannot detect the drop even at their full size."""
        return [c.case_id for c in self.cases if c.needed is None]


def _baseline(path) -> tuple[str, float, np.ndarray] | None:
    """(encoding, value, per-sample outcomes) of a readable baseline, else None."""
    try:
        text = BaselineStore.read(path) if path is not None else None
        if text is None:
            return None
        stored = parse_record(text, path)
    except (DataFormatError, ValueError):
        return None
    values = np.array(list(stored.outcomes.values()), dtype=float)
    return str(stored.record["outcomes"]["encoding"]), stored.value, values


def _questions(ctx: RunContext, s: Selected) -> tuple | None:
    """A human-oriented case's whole question set (None for a machine-oriented case)."""
    if s.task.kind != "human":
        return None
    from pytest_fgbmk.questions.cases import build_questions

    o = ctx.options
    ds = ctx.dataset(s.case.dataset)
    return build_questions(ds, s.case, templates=o.templates, limit=None, seed=o.seed)


def _n_at(questions: tuple, limit: int | None, seed: int) -> int:
    """How many of ``questions`` the stratified subset of ``--fgbmk-limit=limit`` keeps."""
    from pytest_fgbmk.questions.subsample import stratified

    return len(stratified(questions, limit, seed))


def plan_cases(
    ctx: RunContext,
    selected: Sequence[Selected],
    *,
    drop: float,
    alpha: float = 0.01,
    min_drop: float = 1.0,
    flip_rate: float = 0.0,
    power: float = POWER,
) -> Plan:
    """The plan of ``selected`` (see the module docstring). ``drop``, ``min_drop`` in points;
    ``flip_rate`` 0–1. Reads datasets' metadata and the cases' baseline files only."""
    m = max(1, len(selected))
    t = bonferroni_share(alpha, m)
    seed = ctx.options.seed
    out = []
    checks = []
    for s in selected:
        questions = _questions(ctx, s)
        if questions is not None:
            full, n = len(questions), _n_at(questions, ctx.options.limit, seed)
        else:
            full = n = len(ctx.dataset(s.case.dataset).split("test"))
        base = _baseline(s.baseline)
        if base is not None:
            values = base[0] == "values"
        else:
            ds = ctx.dataset(s.case.dataset)
            values = s.task.name == RETRIEVAL or (s.task.name == LINEAR_PROBE and ds.multilabel)
        if values:
            spread = float(np.std(base[2])) if base is not None and base[2].size else DEFAULT_SPREAD
            ceiling = base[1] if base is not None else 100 * DEFAULT_SPREAD
            basis = f"{ceiling:.1f} ±{100 * spread:.1f}" if base is not None else "none→50 ±50"

            def mdd_at(k: int, spread=spread, ceiling=ceiling) -> float:
                return sign_flip_mdd(
                    k, threshold=t, min_drop=min_drop, spread=spread, ceiling=ceiling, power=power
                )

            test = "sign-flip"
        else:
            accuracy = base[1] if base is not None else DEFAULT_ACCURACY
            basis = f"{accuracy:.1f}%" if base is not None else "none→50%"
            tc = t / 2 if s.task.name == KNOWLEDGE_BIAS else t

            def mdd_at(k: int, accuracy=accuracy, tc=tc) -> float:
                return mcnemar_mdd(
                    k,
                    threshold=tc,
                    min_drop=min_drop,
                    accuracy=accuracy,
                    flip_rate=flip_rate,
                    power=power,
                )

            test = "grouped" if s.task.name == KNOWLEDGE_BIAS else "McNemar"
        needed = limit_for(drop, mdd_at, full)
        out.append(CasePlan(s.id, test, full, n, mdd_at(n), needed, questions is not None, basis))
        if questions is not None and needed is not None:
            checks.append((questions, mdd_at))
    reach = [c.needed for c in out if c.subsampled and c.needed is not None]
    advised = max(reach) if reach else None
    # the subset of a limit may keep fewer questions than the limit (pairs, strata): step
    # the advice up until every case that can reach the drop does at its real n
    while advised is not None and any(f(_n_at(q, advised, seed)) > drop for q, f in checks):
        advised += 1
    return Plan(drop, alpha, min_drop, flip_rate, m, tuple(out), advised)


def format_plan(plan: Plan, *, limit: int | None) -> list[str]:
    """The plan as the terminal shows it: a table, the advised limit, and the assumptions."""
    header = ("case", "test", "baseline", "N", "n now", "mdd now", f"n for {plan.drop:g} pt")
    rows = [
        (
            c.case_id,
            c.test,
            c.basis,
            str(c.full),
            str(c.n),
            format_mdd(c.mdd),
            (str(c.needed) if c.needed is not None else "cannot") + ("" if c.subsampled else "*"),
        )
        for c in plan.cases
    ]
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    numeric = {3, 4, 5, 6}

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    now = f"--fgbmk-limit={limit}" if limit else "no --fgbmk-limit"
    lines = [
        f"fgbmk plan: a drop of {plan.drop:g} points with {100 * POWER:.0f}% power, "
        f"{len(plan.cases)} cases (n now: {now})",
        fmt(header),
        fmt(["-" * w for w in widths]),
        *(fmt(r) for r in rows),
        "",
    ]
    subsampled = [c for c in plan.cases if c.subsampled]
    if plan.advised is not None:
        biggest = max(c.full for c in subsampled)
        advice = (
            f"fgbmk plan: advised --fgbmk-limit={plan.advised}"
            if plan.advised < biggest
            else f"fgbmk plan: advised: no --fgbmk-limit (the full size, {biggest}, is needed)"
        )
        lines.append(advice + " (the largest n any human-oriented case needs)")
    elif subsampled:
        lines.append(
            f"fgbmk plan: no --fgbmk-limit detects {plan.drop:g} points on any human-oriented case"
        )
    if plan.unreachable:
        names = plan.unreachable
        more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
        lines.append(
            f"fgbmk plan: {len(names)} case(s) cannot detect {plan.drop:g} points "
            f"even at their full size: {', '.join(names[:SHOWN])}{more}"
        )
    if any(c.case_id.startswith(ALIGNMENT_EFFECT) for c in plan.cases):
        lines.append(
            f"  {ALIGNMENT_EFFECT}: measured only for a model with an 'aligned' feature view "
            "(an LVLM's projector), skipped for others; counted in the cases above (the plan "
            "loads no model), which only makes its thresholds stricter"
        )
    lines += [
        "  * machine-oriented: measures its whole test split (--fgbmk-limit does not apply)",
        "  grouped: knowledge bias, its overall McNemar at half the case's threshold",
        f"  assumed: p <= {plan.alpha:g} / {plan.family_size} cases (the Bonferroni share; the "
        "run-level threshold is never lower),",
        f"  margin {plan.min_drop:g} pt, background flip rate {100 * plan.flip_rate:g}% "
        "(--fgbmk-plan-flips=PCT); baseline: value ±per-query SD;",
        "  no baseline: accuracy 50%, or per-query values of mean 50 and SD 50 points",
    ]
    return lines
