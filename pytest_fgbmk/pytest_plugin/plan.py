"""``--fgbmk-plan=D``: the size a run needs, printed at collection, nothing run.

The option turns the session into a collection-only one (pytest's ``--collect-only``:
no model is loaded, no question answered, exit status 0). After collection (``-k``, ``-m``
and the dataset options applied) the selected cases are planned from metadata and their
baselines (:mod:`pytest_fgbmk.run.power_plan`) and the table is printed in the terminal
summary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pytest_fgbmk.baselines.store import parse_rate
from pytest_fgbmk.errors import FgbmkError
from pytest_fgbmk.pytest_plugin.options import value
from pytest_fgbmk.run.power_plan import Plan, format_plan, plan_cases
from pytest_fgbmk.run.run import Run, Selected


class PlanHook:
    """Plans the collected cases and prints the plan (registered by :func:`start_plan`)."""

    def __init__(
        self,
        run: Run,
        select: Callable[[pytest.Item, Run], Selected | None],
        *,
        drop: float,
        flip_rate: float,
    ) -> None:
        self.run = run
        self.select = select
        self.drop = drop
        self.flip_rate = flip_rate
        self.plan: Plan | None = None
        self.error: str | None = None

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_collection_finish(self, session: pytest.Session):
        # the plan is the output: collect-only prints each file's count, not the whole tree
        option = session.config.option
        verbose = option.verbose
        if not verbose:
            option.verbose = -2
        try:
            return (yield)
        finally:
            option.verbose = verbose
            self._plan(session)

    def _plan(self, session: pytest.Session) -> None:
        selected = [s for s in (self.select(i, self.run) for i in session.items) if s is not None]
        g = self.run.gate_settings
        assert g is not None
        try:
            self.plan = plan_cases(
                self.run.ctx,
                selected,
                drop=self.drop,
                alpha=g.alpha,
                min_drop=g.min_drop,
                flip_rate=self.flip_rate,
            )
        except FgbmkError as exc:
            self.error = f"fgbmk plan: {exc}"

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.section("FG-BMK plan")
        if self.error is not None:
            terminalreporter.write_line(self.error, red=True)
            return
        if self.plan is None or not self.plan.cases:
            terminalreporter.write_line("fgbmk plan: no case selected")
            return
        for line in format_plan(self.plan, limit=self.run.options.limit):
            terminalreporter.write_line(line)


def start_plan(
    config: pytest.Config, run: Run, select: Callable[[pytest.Item, Run], Selected | None]
) -> None:
    """With ``--fgbmk-plan=D``: check the options, make the session collection-only and
    register the :class:`PlanHook`. Raises :class:`pytest.UsageError` naming a bad option."""
    raw = value(config, "fgbmk_plan")
    flips = value(config, "fgbmk_plan_flips")
    try:
        drop = parse_rate(raw, "--fgbmk-plan", 1e-6, 100.0)
        rate = 0.0 if flips is None else parse_rate(flips, "--fgbmk-plan-flips", 0.0, 100.0)
    except FgbmkError as exc:
        raise pytest.UsageError(
            f"{exc}: give the drop to detect in points (--fgbmk-plan=5) and the background "
            "flip rate in percent (--fgbmk-plan-flips=2)"
        ) from None
    if run.gate_settings is None:
        raise pytest.UsageError(
            f"--fgbmk-plan={raw} needs --fgbmk-model=SPEC: it names the baselines whose "
            "accuracy the plan uses (the model is not loaded)"
        )
    config.option.collectonly = True
    config.pluginmanager.register(
        PlanHook(run, select, drop=drop, flip_rate=rate / 100.0), "fgbmk-plan"
    )
