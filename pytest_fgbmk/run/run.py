"""The run object: plan the selected cases, measure them, and decide the gate for the whole run.

One :class:`Run` per process, made from :class:`~pytest_fgbmk.run.options.RunOptions`.
:meth:`Run.execute` is called once, before any test body, with every selected case:

1. plan: each case's task, skip reason (a capability the model lacks), shared work and cost
   (a skip only the model's output on the data tells, the alignment effect's, comes after
   step 2: ``Task.late_skip_reason``);
2. check every image the cases to measure read (:mod:`pytest_fgbmk.data.verify`, one rule
   for every task, with the images the model's ``prepare`` reads for the human-oriented
   ones; several workers each check their share and exchange what they found):
   a missing or broken image stops the run with a :class:`~pytest_fgbmk.errors.DataError`
   listing the files before any case is scored;
3. measure this process's share (all of it in a single process; under pytest-xdist the
   cases are split into units of shared work over the workers, :mod:`~pytest_fgbmk.run.plan`),
   the human-oriented questions of every case in one engine run;
4. exchange (several workers): publish this share, wait for the others' (a barrier that
   names a dead worker), so that every worker holds every measurement;
5. decide: one run-level decision of the baseline gate over every gated case
   (:class:`~pytest_fgbmk.baselines.gate.BaselineGate`, discrete Holm), the same in every
   worker because it is computed from the same measurements.

A test then reads its case's :class:`CaseResult` and :class:`Verdict` and asserts. The
same run works from a script (:func:`run_benchmark`) and gives the same numbers.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_fgbmk.baselines.gate import BaselineGate, Entry, Verdict, sanity_verdict
from pytest_fgbmk.baselines.record import build_record
from pytest_fgbmk.baselines.store import BaselineStore
from pytest_fgbmk.data.verify import (
    ImageProblem,
    ImageRef,
    Verification,
    broken_images_error,
    open_record,
    verify_images,
)
from pytest_fgbmk.errors import DataError, DataFormatError, FgbmkError
from pytest_fgbmk.gc_pause import collector_paused
from pytest_fgbmk.run.context import RunContext
from pytest_fgbmk.run.data import image_refs
from pytest_fgbmk.run.exchange import RESULTS, Exchange
from pytest_fgbmk.run.options import RunOptions
from pytest_fgbmk.run.plan import assign
from pytest_fgbmk.tasks import TASKS, Param, Task, get_task

if TYPE_CHECKING:
    from pytest_fgbmk.measurement import Measurement
    from pytest_fgbmk.progress import ProgressOutput


@dataclass(frozen=True)
class Selected:
    """A case the run measures: its task, the case, and its baseline file (None: computed)."""

    task: Task
    case: Any
    baseline: Path | None = None

    @property
    def id(self) -> str:
        return self.case.id


@dataclass(frozen=True)
class CaseResult:
    """What the run found for one case: a measurement, a skip reason, or an error."""

    case_id: str
    task: str
    measurement: Measurement | None = None
    skip: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class GateSettings:
    """How the run's verdicts are taken: where baselines live, the error rate and margin.

    ``update``: write baselines instead of comparing (the pytest layer writes through
    syrupy; a script through :class:`BaselineStore`). ``shown_from``: baseline paths in
    messages and properties are shown relative to this folder.
    """

    store: BaselineStore
    alpha: float = 0.01
    min_drop: float = 1.0
    update: bool = False
    update_command: str = "pytest --fgbmk-update-baselines"
    shown_from: Path | None = None


#: The exchange stage of the image check (before the measurements' stage).
VERIFY = "verify"


@dataclass
class RunState:
    """Where the run stands: executed or not, and the error that stopped it (if any).

    ``data_error``: the full message of a :class:`DataError` that stopped the run (every
    file listed), shown once per run; ``error`` then holds its one-line summary, which
    each case's result raises. ``verification``: this process's image check.
    """

    executed: bool = False
    error: str | None = None
    data_error: str | None = None
    family_size: int = 0
    family_decided: int = 0
    verification: Verification | None = None


class Run:
    """The FG-BMK run of one process (see the module docstring)."""

    def __init__(
        self,
        options: RunOptions,
        *,
        gate: GateSettings | None = None,
        progress: ProgressOutput | None = None,
    ) -> None:
        self.ctx = RunContext(options, progress=progress)
        self.options = options
        self.gate_settings = gate
        self.progress = progress
        self.state = RunState()
        self.selected: list[Selected] = []
        self.results: dict[str, CaseResult] = {}
        self.verdicts: dict[str, Verdict] = {}
        self.exchange: Exchange | None = None
        self._published: set[str] = set()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if options.shared:
            self.exchange = Exchange(
                self.exchange_folder(), options.worker_index or 0, options.worker_count
            )
            self.exchange.start_heartbeat()

    def set_progress(self, progress: ProgressOutput | None) -> None:
        """Where the run's long steps report from now on (None: silent)."""
        self.progress = progress
        self.ctx.progress = progress

    # -- planning (metadata only) ----------------------------------------------------------

    def params(self, task: str) -> list[Param]:
        """The suite parameters of ``task`` over the run's datasets (no model, no image)."""
        return get_task(task).params(self.ctx)

    def all_selected(self) -> list[Selected]:
        """Every measurable case of every task (what a script runs)."""
        return [
            Selected(t, p.case)
            for t in TASKS.values()
            for p in t.params(self.ctx)
            if p.case is not None and p.skip is None
        ]

    def exchange_folder(self, run_id: str | None = None) -> Path:
        """The exchange folder of the shared run ``run_id`` (default: this one's):
        ``options.exchange``, else under the cache folder, else the temporary folder."""
        o = self.options
        run_id = run_id or o.run_id
        if o.exchange is not None:
            return Path(o.exchange)
        if o.cache is not None:
            return Path(o.cache) / "runs" / str(run_id)
        return Path(tempfile.gettempdir()) / f"fgbmk-run-{run_id}"

    # -- execution -------------------------------------------------------------------------

    def execute(self, selected: Sequence[Selected]) -> None:
        """Measure and decide every selected case (once; see the module docstring).

        Errors of one case (or one task's batch) are kept on its :class:`CaseResult`; an
        error that stops the whole run (a broken image, the exchange) is kept in
        ``state.error`` and also raised as :class:`FgbmkError` (:class:`DataError` for
        missing or broken images, with ``state.data_error`` set). The garbage collector
        is paused meanwhile (:mod:`pytest_fgbmk.gc_pause`).
        """
        with collector_paused():
            self._execute(selected)

    def _execute(self, selected: Sequence[Selected]) -> None:
        if self.state.executed:
            return
        self.state.executed = True
        self.selected = list(selected)
        if self.state.error is not None:  # the run could not start (see fail())
            if self.exchange is not None:
                self._publish_error(self.state.error)
                self.exchange.stop_heartbeat()
            raise FgbmkError(self.state.error)
        try:
            mine = self._plan()
            done, todo = self._triage(mine)
            self._verify(todo)
            todo = self._late_triage(todo, done)
            local = self._measure(todo, done)
            if self.exchange is not None:
                self._publish(RESULTS, {"results": local})
                parts = self.exchange.gather(
                    self.options.barrier_timeout_s,
                    report=self.progress.write if self.progress else None,
                )
                for index, part in enumerate(parts):
                    if "error" in part:
                        raise FgbmkError(f"worker gw{index} stopped the run: {part['error']}")
                    self.results.update(part["results"])
            else:
                self.results.update(local)
            self._decide()
        except DataError as exc:
            self.state.data_error = str(exc)
            self.state.error = exc.summary
            self._publish_error(exc.summary)
            raise
        except FgbmkError as exc:
            self.state.error = str(exc)
            # the other workers stop waiting at once and report this error
            self._publish_error(str(exc))
            raise
        finally:
            if self.exchange is not None:
                self.exchange.stop_heartbeat()

    def fail(self, message: str) -> None:
        """Stop the run before it starts (e.g. the model did not load): every case's
        result raises ``message``, and in a shared run the other workers are told."""
        self.state.error = message

    def _plan(self) -> list[Selected]:
        """This process's share of the selected cases."""
        if self.exchange is None:
            return list(self.selected)
        model = self.ctx.model()
        able = {"answers": bool(model.can_answer), "features": bool(model.can_encode)}
        resources = {s.id: s.task.resources(self.ctx, s.case) for s in self.selected}
        # a case the model cannot run is skipped at once: it costs nothing
        costs = {
            s.id: s.task.cost(self.ctx, s.case) if able[s.task.needs] else 0.0
            for s in self.selected
        }
        owner = assign(resources, costs, self.options.worker_count)
        me = self.options.worker_index or 0
        return [s for s in self.selected if owner[s.id] == me]

    def _publish(self, stage: str, payload: dict[str, Any]) -> None:
        assert self.exchange is not None
        self.exchange.publish(payload, stage=stage)
        self._published.add(stage)

    def _publish_error(self, message: str) -> None:
        """Tell the other workers, at every stage they may still wait on, that this one
        stopped the run."""
        if self.exchange is None:
            return
        for stage in (VERIFY, RESULTS):
            if stage not in self._published:
                self._publish(stage, {"error": message})

    def _verify(self, todo: Sequence[Selected]) -> None:
        """Check every image the cases of ``todo`` read; raise :class:`DataError` listing
        the broken ones (several workers: each checks its share, all raise the same)."""
        refs = self._images_read(todo)
        record = open_record(self.options.cache)
        try:
            found = verify_images(refs, record=record, progress=self.progress)
        finally:
            if record is not None:
                record.close()
        self.state.verification = found
        problems: list[ImageProblem] = list(found.problems)
        checked = found.checked
        if self.exchange is not None:
            self._publish(VERIFY, {"problems": problems})
            parts = self.exchange.gather(
                self.options.barrier_timeout_s,
                stage=VERIFY,
                report=self.progress.write if self.progress else None,
            )
            for index, part in enumerate(parts):
                if "error" in part:
                    raise FgbmkError(f"worker gw{index} stopped the run: {part['error']}")
            by_path = {p.path: p for part in parts for p in part["problems"]}
            problems = [by_path[k] for k in sorted(by_path, key=str)]
            # every image the whole run measures (the shares overlap): the same in each worker
            _, measured = self._triage(self.selected)
            checked = len(self._images_read(measured))
        if problems:
            raise broken_images_error(problems, checked)

    def _images_read(self, cases: Sequence[Selected]) -> list[ImageRef]:
        """Every image measuring ``cases`` reads: each case's own (its task's ``images``),
        and, once per dataset of the human-oriented ones, the images the model's
        ``prepare`` reads there (the ``probe:`` model's train split)."""
        pairs = [pair for s in cases for pair in s.task.images(self.ctx, s.case)]
        answered = dict.fromkeys(s.case.dataset for s in cases if s.task.needs == "answers")
        if answered:
            model = self.ctx.model()
            for name in answered:
                ds = self.ctx.dataset(name)
                pairs += [(ds, sample) for sample in model.prepare_images(ds)]
        return image_refs(pairs)

    def _triage(self, mine: Sequence[Selected]) -> tuple[dict[str, CaseResult], list[Selected]]:
        """Cases settled without measuring (skipped, or erred on the model's capabilities),
        and the cases to measure."""
        out: dict[str, CaseResult] = {}
        todo = self._settle(mine, lambda s: s.task.skip_reason(self.ctx, s.case), out)
        return out, todo

    def _late_triage(self, todo: Sequence[Selected], done: dict[str, CaseResult]) -> list[Selected]:
        """The cases of ``todo`` still to measure once the images are checked; those a
        task's ``late_skip_reason`` settles (skipped, or erred) go into ``done``."""
        return self._settle(todo, lambda s: s.task.late_skip_reason(self.ctx, s.case), done)

    @staticmethod
    def _settle(
        cases: Sequence[Selected],
        reason_of: Callable[[Selected], str | None],
        done: dict[str, CaseResult],
    ) -> list[Selected]:
        """The cases ``reason_of`` leaves to measure; a case it gives a skip reason (or
        raises :class:`FgbmkError` for) goes into ``done`` as skipped (or erred)."""
        out: list[Selected] = []
        for s in cases:
            try:
                reason = reason_of(s)
            except FgbmkError as exc:
                done[s.id] = CaseResult(s.id, s.task.name, error=str(exc))
                continue
            if reason:
                done[s.id] = CaseResult(s.id, s.task.name, skip=reason)
            else:
                out.append(s)
        return out

    def _measure(
        self, todo: Sequence[Selected], done: dict[str, CaseResult]
    ) -> dict[str, CaseResult]:
        out = dict(done)
        human = [s.case for s in todo if s.task.needs == "answers"]
        if human:
            try:  # every human-oriented question of this process in one engine run
                self.ctx.answer(human)
            except FgbmkError as exc:
                for s in todo:
                    if s.task.needs == "answers":
                        out[s.id] = CaseResult(s.id, s.task.name, error=str(exc))
        by_task: dict[str, list[Selected]] = {}
        for s in todo:
            if s.id not in out:
                by_task.setdefault(s.task.name, []).append(s)
        for name, group in by_task.items():
            task = get_task(name)
            for s in group:
                try:
                    m = task.measure(self.ctx, [s.case])[s.id]
                except FgbmkError as exc:
                    out[s.id] = CaseResult(s.id, name, error=str(exc))
                else:
                    out[s.id] = CaseResult(s.id, name, measurement=m)
        return out

    # -- the gate's decision ----------------------------------------------------------------

    def baseline_path(self, s: Selected) -> Path:
        """The case's baseline file (the pytest layer's, else the store's layout)."""
        if s.baseline is not None:
            return s.baseline
        assert self.gate_settings is not None
        return self.gate_settings.store.path(s.task.suite, s.task.param_id(s.case))

    def shown(self, path: Path) -> Path:
        root = self.gate_settings.shown_from if self.gate_settings else None
        if root is None:
            return path
        try:
            return path.relative_to(root)
        except ValueError:
            return path

    def record(self, m: Measurement) -> dict[str, Any]:
        """The baseline record of a measurement (with the model's fingerprint)."""
        fingerprint = self.ctx.model().fingerprint if self.ctx.model_loaded else None
        return build_record(m, fingerprint)

    def _decide(self) -> None:
        g = self.gate_settings
        gated = [s for s in self.selected if self.results[s.id].skip is None]
        self.state.family_size = max(1, len(gated))
        if g is None or g.update:
            return
        gate = BaselineGate(
            alpha=g.alpha,
            min_drop=g.min_drop,
            update_command=g.update_command,
            family_size=self.state.family_size,
        )
        entries = []
        for s in gated:
            m = self.results[s.id].measurement
            if m is None:
                continue
            path = self.baseline_path(s)
            try:
                text, unreadable = BaselineStore.read(path), None
            except DataFormatError as exc:  # not UTF-8, a folder …: the case's verdict says
                text, unreadable = None, exc
            entries.append(Entry(s.id, m, self.shown(path), text, unreadable))
        gate.decide_family(entries)
        self.state.family_decided = gate.family_decided
        for e in entries:
            sanity = sanity_verdict(e.case_id, e.measurement)
            self.verdicts[e.case_id] = sanity if not sanity.ok else gate.verdict(e)

    def write_baselines(self) -> dict[str, bool]:
        """Write every measured case's baseline through the store (a script's update).

        Returns, by case id, whether the file changed. A corrupt or undecodable file is
        overwritten; :class:`DataFormatError` for a folder holding files in a baseline's place.
        """
        out = {}
        for s in self.selected:
            m = self.results[s.id].measurement
            if m is not None:
                out[s.id] = BaselineStore.write(self.baseline_path(s), self.record(m))
        return out

    # -- what a test reads ------------------------------------------------------------------

    def result(self, case_id: str) -> CaseResult:
        """The case's result; :class:`FgbmkError` when the run stopped before it."""
        if self.state.error is not None:
            raise FgbmkError(self.state.error)
        try:
            return self.results[case_id]
        except KeyError:
            raise FgbmkError(
                f"case {case_id} was not part of this run's plan (was it selected?)"
            ) from None

    def verdict(self, case_id: str) -> Verdict | None:
        """The gate's verdict on the case (None in update mode or without a measurement)."""
        return self.verdicts.get(case_id)

    def measurement_of(self, case_id: str) -> Measurement | None:
        r = self.results.get(case_id)
        return None if r is None else r.measurement

    def close(self) -> None:
        if self.exchange is not None:
            self.exchange.stop_heartbeat()
        self.ctx.close()


@dataclass(frozen=True)
class RunResult:
    """What :func:`run_benchmark` returns: every case's result and verdict, in plan order."""

    results: tuple[CaseResult, ...]
    verdicts: dict[str, Verdict]
    family_size: int
    family_decided: int
    written: dict[str, bool]

    @property
    def failed(self) -> list[str]:
        """Case ids whose verdict failed or whose measurement errored."""
        bad = [r.case_id for r in self.results if r.error is not None]
        return bad + [c for c, v in self.verdicts.items() if not v.ok]


def run_benchmark(
    options: RunOptions,
    *,
    baselines: Path | None = Path("baselines"),
    alias: str | None = None,
    alpha: float = 0.01,
    min_drop: float = 1.0,
    update: bool = False,
    tasks: Sequence[str] | None = None,
    progress: ProgressOutput | None = None,
) -> RunResult:
    """Run FG-BMK from a script: every case of ``tasks`` (default: all), measured and decided.

    ``baselines``: the baselines folder (``None``: measure only, no verdict); ``alias``:
    its model folder (default: the model spec's name, as the plugin names it);
    ``update``: write the baselines instead of comparing. The numbers and verdicts are
    the plugin's for the same options (``pytest --fgbmk-model=… suites/``).

    Raises :class:`~pytest_fgbmk.errors.FgbmkError` (a :class:`ConfigError` for bad
    options) when the run cannot start.
    """
    from pytest_fgbmk.baselines.store import check_alias, default_alias

    gate = None
    if baselines is not None:
        name = check_alias(alias or default_alias(options.model or "model"))
        gate = GateSettings(
            store=BaselineStore(Path(baselines), name),
            alpha=alpha,
            min_drop=min_drop,
            update=update,
        )
    run = Run(options, gate=gate, progress=progress)
    try:
        chosen = set(tasks) if tasks is not None else None
        selected = [s for s in run.all_selected() if chosen is None or s.task.name in chosen]
        run.execute(selected)
        written = run.write_baselines() if update and gate is not None else {}
        return RunResult(
            results=tuple(run.results[s.id] for s in selected),
            verdicts=dict(run.verdicts),
            family_size=run.state.family_size,
            family_decided=run.state.family_decided,
            written=written,
        )
    finally:
        run.close()
