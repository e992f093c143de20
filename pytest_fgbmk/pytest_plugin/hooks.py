"""The pytest face of FG-BMK: options, hooks, fixtures, JUnit properties, terminal summary.

The only package that imports pytest, syrupy or xdist. It declares and asserts; the run
object (:class:`pytest_fgbmk.run.Run`) plans, measures and decides. The flow of a session:

* ``pytest_configure``: read the options, make the run (no work yet);
* ``pytest_sessionstart``: load the datasets' indexes, and the model where tests run;
* ``pytest_generate_tests``: parametrize each suite test from its task's cases
  (:mod:`pytest_fgbmk.tasks`: metadata only);
* ``pytest_runtestloop`` (before the first test, in every process that runs tests):
  execute the run over every selected case: measurements, and the gate's decision for
  the whole run (under ``-n N`` each worker measures its share and reads the others');
* each test reads its case's measurement and verdict and asserts; its figures and the
  verdict's become JUnit properties;
* the terminal summary lists every case, the throughput, and unused baselines.

A suite test reads::

    @pytest.mark.fgbmk_task("attribute")
    def test_attribute(fgbmk_measurement, fgbmk_gate):
        verdict = fgbmk_gate.check(fgbmk_measurement.case_id, fgbmk_measurement)
        if not verdict.ok:
            pytest.fail(verdict.message, pytrace=False)
"""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_fgbmk.baselines.gate import Verdict
from pytest_fgbmk.baselines.store import keyword_for, plan_command, scoped_update_command
from pytest_fgbmk.engine import EngineStats
from pytest_fgbmk.errors import FgbmkError
from pytest_fgbmk.gc_pause import thaw
from pytest_fgbmk.measurement import Measurement
from pytest_fgbmk.models.registry import check_spec
from pytest_fgbmk.pytest_plugin.options import (
    add_options,
    check_values,
    gate_settings,
    is_controller,
    is_worker,
    run_options,
    value,
)
from pytest_fgbmk.pytest_plugin.snapshot import baseline_path, extension_for, write_baseline
from pytest_fgbmk.pytest_plugin.terminal import progress_output
from pytest_fgbmk.report.junit import (
    engine_properties,
    is_measured,
    machine_properties,
    measurement_properties,
    properties_dict,
)
from pytest_fgbmk.report.power_summary import blind_lines, is_blind, power_lines
from pytest_fgbmk.report.step_summary import markdown_verdicts
from pytest_fgbmk.report.terminal import (
    IMPROVED_NOTE,
    SummaryRow,
    format_exact,
    format_improvements,
    format_judged,
    format_mismatched,
    format_missing,
    format_table,
    format_throughput,
    format_unreadable,
)
from pytest_fgbmk.run.options import NO_MODEL_REASON
from pytest_fgbmk.run.run import Run, Selected
from pytest_fgbmk.tasks import TASKS, Task, get_task

RUN_KEY = pytest.StashKey[Run]()
COLLECTOR_KEY = pytest.StashKey["ResultCollector"]()
TASK_MARKER = "fgbmk_task"
#: The file GitHub Actions gives a job for its summary (Markdown appended).
STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
#: The summary section that shows each run error once (see ``_not_measured``).
RUN_ERRORS = "FG-BMK run errors"
#: The distinct skip reasons the nothing-measured error lists (the most frequent first).
MAX_REASONS = 4
FIXTURES = {t.fixture for t in TASKS.values()}


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{TASK_MARKER}(name): the FG-BMK task a suite test measures (one per case)"
    )
    config.addinivalue_line("markers", "fgbmk_human: human-oriented FG-BMK cases")
    config.addinivalue_line("markers", "fgbmk_machine: machine-oriented FG-BMK cases")
    check_values(config)
    try:
        options = run_options(config)
        gate = None
        if options.model:
            if not config.pluginmanager.hasplugin("syrupy"):
                raise FgbmkError(
                    "the baseline gate writes its baselines with syrupy; "
                    "do not disable it (-p no:syrupy)"
                )
            gate = gate_settings(config, options.model)
        run = Run(options, gate=gate)
    except FgbmkError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[RUN_KEY] = run
    # the run's records are frozen out of the collector's sight (pytest_fgbmk.gc_pause)
    # until the session is cleaned up: after pytest's own last collections
    config.add_cleanup(thaw)
    collector = ResultCollector(config)
    config.stash[COLLECTOR_KEY] = collector
    config.pluginmanager.register(collector, "fgbmk-results")
    if value(config, "fgbmk_plan") is not None:  # collection only: nothing measured
        from pytest_fgbmk.pytest_plugin.plan import start_plan

        start_plan(config, run, _selected)
    report_dir = value(config, "fgbmk_report")
    if report_dir and Path(report_dir).exists() and not Path(report_dir).is_dir():
        raise pytest.UsageError(
            f"--fgbmk-report={report_dir}: a file of that name exists; give a folder to write "
            "results.json, samples.jsonl and report.html into (new or existing)"
        )
    if report_dir:
        from pytest_fgbmk.pytest_plugin.report import ReportHook

        config.pluginmanager.register(ReportHook(config, run, Path(report_dir)), "fgbmk-report")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """With a model chosen: load the datasets' indexes, and the model where tests run."""
    config = session.config
    run = config.stash.get(RUN_KEY, None)
    if run is None or not run.options.model:
        return
    run.set_progress(progress_output(config))
    try:
        run.ctx.data()
    except FgbmkError as exc:
        raise pytest.UsageError(f"FG-BMK data: {exc}") from None
    if config.option.collectonly:
        return
    if is_controller(config):  # the workers load the model; check its name once, here
        try:
            check_spec(run.options.model, run.ctx.model_args())
        except FgbmkError as exc:
            raise pytest.UsageError(f"--fgbmk-model={run.options.model}: {exc}") from None
        _check_judge(run)
        return
    if not is_worker(config):
        _check_judge(run)
    try:
        run.ctx.model()
    except FgbmkError as exc:
        message = f"--fgbmk-model={run.options.model}: {exc}"
        if not is_worker(config):
            raise pytest.UsageError(message) from None
        # a worker that raised here would crash and be replaced, again and again: its tests
        # fail with the message instead, and the other workers stop waiting for it
        run.fail(message)


def _check_judge(run: Run) -> None:
    """``--fgbmk-judge`` names a model this installation knows (cheap: nothing loaded)."""
    if run.options.judge:
        try:
            check_spec(run.options.judge)
        except FgbmkError as exc:
            raise pytest.UsageError(f"--fgbmk-judge={run.options.judge}: {exc}") from None


def pytest_report_header(config: pytest.Config) -> list[str]:
    run = config.stash.get(RUN_KEY, None)
    if run is None or not run.options.model:
        return []
    ctx = run.ctx
    lines = [f"fgbmk model: {run.options.model}"]
    if ctx.model_loaded:
        lines.append(f"fgbmk fingerprint: {ctx.model().fingerprint}")
    elif is_controller(config):
        lines.append("fgbmk fingerprint: loaded on each worker (shown in the summary)")
    if ctx.data_loaded:
        data = ctx.data()
        lines.append(f"fgbmk data: {data.label}")
        found = ", ".join(f"{n} ({len(d.samples)} images)" for n, d in data.datasets.items())
        lines.append(f"fgbmk datasets found: {found or 'none'}")
        asked = set(run.options.datasets or ())
        for n, r in data.missing.items():  # asked for by name: why each is absent
            if n in asked:
                lines.append(f"fgbmk dataset {n} missing: {r}")
        others = [n for n in data.missing if n not in asked]
        if others:
            text = (
                f"fgbmk datasets not under the data root: {', '.join(others)} "
                f"(`fgbmk datasets {data.root}` shows what was looked for)"
            )
            lines += textwrap.wrap(text, 100, subsequent_indent="  ", break_on_hyphens=False)
    opts = run.options
    lines.append(
        f"fgbmk templates={opts.templates} scoring={opts.scoring}"
        + (f" judge={opts.judge}" if opts.judge else "")
        + (f" exif-orientation={opts.exif_orientation}" if opts.exif_orientation != "apply" else "")
        + (
            f" protocol={opts.protocol} (its figures reported, never gated)"
            if opts.protocol != "standard"
            else ""
        )
        + f" limit={opts.limit or 'none'} "
        f"cache={opts.cache or 'off'}"
    )
    return lines


# -- collection ------------------------------------------------------------------------


def _task_of(definition: Any, fixture: str) -> Task:
    marker = definition.get_closest_marker(TASK_MARKER)
    names = "|".join(repr(t.name) for t in TASKS.values() if t.fixture == fixture)
    if marker is None or not marker.args:
        raise pytest.UsageError(
            f"{definition.nodeid}: a test that uses {fixture} needs "
            f"@pytest.mark.{TASK_MARKER}({names})"
        )
    try:
        return get_task(marker.args[0])
    except FgbmkError as exc:
        raise pytest.UsageError(f"{definition.nodeid}: {exc}") from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize a suite test from its task's cases (dataset metadata only)."""
    fixture = next((f for f in FIXTURES if f in metafunc.fixturenames), None)
    if fixture is None:
        return
    task = _task_of(metafunc.definition, fixture)
    run = metafunc.config.stash[RUN_KEY]
    if not run.options.model:
        skip = pytest.mark.skip(reason=NO_MODEL_REASON)
        metafunc.parametrize(fixture, [pytest.param(None, id="no-model", marks=skip)])
        return
    try:
        params = task.params(run.ctx)
    except FgbmkError as exc:
        raise pytest.UsageError(f"FG-BMK data: {exc}") from None
    metafunc.parametrize(
        fixture,
        [
            pytest.param(p.case, id=p.id, marks=pytest.mark.skip(reason=p.skip) if p.skip else ())
            for p in params
        ],
    )


def _selected(item: pytest.Item, run: Run) -> Selected | None:
    """The case a collected test measures (with its baseline file), or None."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or item.get_closest_marker("skip"):
        return None
    for fixture in FIXTURES:
        case = callspec.params.get(fixture)
        if case is not None and hasattr(case, "task"):
            task = get_task(case.task)
            path = None
            if run.gate_settings is not None:
                path = baseline_path(extension_for(run.gate_settings.store), item)
            return Selected(task, case, path)
    return None


def _execute(session: pytest.Session, run: Run) -> None:
    selected = [s for s in (_selected(i, run) for i in session.items) if s is not None]
    if not selected:
        return
    try:
        run.execute(selected)
    except FgbmkError:
        return  # kept in run.state.error: every test of the run fails with it


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> Iterator[None]:
    """Before the first test: execute the whole run (every process that runs tests).

    After the last test, a run stopped by missing or broken images fails the session once
    with the files listed (the controller's, from its workers, under ``-n N``): a usage
    error, exit status 4. Also when ``-x``/``--maxfail`` stopped the loop early (pytest's
    loop then raises ``Session.Failed`` or ``Session.Interrupted``, which would otherwise
    skip this step and leave exit status 1 with the cases pointing at a message never
    printed); under ``-n N`` the controller's loop raises pytest-xdist's ``Interrupted``.
    A stop for any other reason (Ctrl-C) is left as it is."""
    config = session.config
    run = config.stash.get(RUN_KEY, None)
    if (
        run is not None
        and run.options.model
        and not is_controller(config)
        and not config.option.collectonly
    ):
        _execute(session, run)
    try:
        result = yield
    except (pytest.Session.Failed, KeyboardInterrupt):
        error = _data_error(config, run)
        if error is None or not _stopped_by_failures(session):
            raise
        raise _stopped(config, run, f"FG-BMK data: {error}") from None
    error = _data_error(config, run)
    if error is not None:
        raise _stopped(config, run, f"FG-BMK data: {error}")
    nothing = _nothing_measured(config, run)
    if nothing is not None:
        raise _stopped(config, run, nothing)
    return result


def _stopped(config: pytest.Config, run: Run | None, message: str) -> pytest.UsageError:
    """The usage error that ends a session which scored nothing (exit status 4), after
    noting it in the CI job summary (:func:`step_summary_target`), where the verdict table
    would have gone: a CI user reading the job page sees why there is no table."""
    target, where = step_summary_target(config)
    if target and not is_worker(config):
        model = (run.options.model if run is not None else "") or "no model"
        first = message.splitlines()[0]
        text = f"## FG-BMK verdicts: {model}\n\n❌ nothing was scored: {first}\n\n"
        try:
            with open(target, "a", encoding="utf-8") as f:
                f.write(text)
        except OSError as exc:
            message += f"\n(could not append this to {where}={target}: {exc})"
    return pytest.UsageError(message)


def step_summary_target(config: pytest.Config) -> tuple[str | None, str]:
    """The file the CI job summary is appended to: ``--fgbmk-step-summary``, else
    ``$GITHUB_STEP_SUMMARY`` when CI provides one, else None; and which of them it is."""
    option = value(config, "fgbmk_step_summary")
    target = option or os.environ.get(STEP_SUMMARY_ENV) or None
    return target, ("--fgbmk-step-summary" if option else STEP_SUMMARY_ENV)


def _stopped_by_failures(session: pytest.Session) -> bool:
    """Whether the test loop stopped early because tests failed: ``-x``/``--maxfail`` (or
    another plugin's stop, e.g. ``--sw``) in this process, or the ``-x``/``--maxfail`` count
    of pytest-xdist's controller (whose loop raises its own ``Interrupted``, a
    ``KeyboardInterrupt``). False for a real Ctrl-C."""
    if session.shouldfail or session.shouldstop:
        return True
    maxfail = session.config.option.maxfail
    controller = session.config.pluginmanager.getplugin("dsession")  # pytest-xdist's
    return bool(maxfail) and getattr(controller, "countfailures", 0) >= maxfail


def _nothing_measured(config: pytest.Config, run: Run | None) -> str | None:
    """The one line that fails a session whose FG-BMK cases all skipped (no model, or none
    the model can run): a green run that measured nothing would pass a CI gate unseen. Only
    the process that reports (the controller under ``-n N``, from its workers' reports);
    None when no FG-BMK case ran through the test loop (``--collect-only``, ``--fgbmk-plan``,
    a session of other tests) or when at least one case was not skipped."""
    if run is None or is_worker(config):
        return None
    reasons = config.stash[COLLECTOR_KEY].all_skipped()
    if not reasons:
        return None
    n = sum(reasons.values())
    no_model, _, hint = NO_MODEL_REASON.partition(": ")  # its hint is the one thing to do
    listed = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
    why = "; ".join(
        f"{count} x {no_model if reason == NO_MODEL_REASON else reason}"
        for reason, count in listed[:MAX_REASONS]
    )
    if len(listed) > MAX_REASONS:
        why += f"; and {len(listed) - MAX_REASONS} other reasons (-rs lists each case's)"
    if not run.options.model:
        todo = hint
    else:
        todo = (
            f"pick cases --fgbmk-model={run.options.model} can run (-k, -m, --fgbmk-datasets), "
            "or a model that can run these"
        )
    return (
        f"FG-BMK: nothing measured: all {n} selected case{'s' if n != 1 else ''} skipped "
        f"({why}); {todo}"
    )


def _data_error(config: pytest.Config, run: Run | None) -> str | None:
    """The data error that stopped the run, for the process that reports it (the
    controller under ``-n N``, from its workers; the only process otherwise), or None."""
    if run is None or is_worker(config):
        return None
    errors = list(config.stash[COLLECTOR_KEY].data_errors)
    if run.state.data_error:
        errors.append(run.state.data_error)
    return errors[0] if errors else None


# -- fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fgbmk_run(request: pytest.FixtureRequest) -> Run:
    """The session's FG-BMK run, executed (skips when no model was chosen)."""
    run = request.config.stash[RUN_KEY]
    if not run.options.model:
        pytest.skip(NO_MODEL_REASON)
    if not run.state.executed:  # e.g. a test run without pytest's own test loop
        _execute(request.session, run)
    return run


@pytest.fixture(scope="session")
def fgbmk_model(fgbmk_run: Run) -> Any:
    """The model adapter, loaded once per process (once per xdist worker, its own GPU)."""
    try:
        return fgbmk_run.ctx.model()
    except FgbmkError as exc:
        pytest.fail(f"--fgbmk-model={fgbmk_run.options.model}: {exc}", pytrace=False)


def _shortened(text: str, width: int = 60) -> str:
    """``text`` cut to ``width`` characters at a word boundary, "…" marking the cut."""
    if len(text) <= width:
        return text
    cut = text[: width - 1]
    space = cut.rfind(" ")
    cut = cut[:space] if space > width // 2 else cut
    if cut.count("(") > cut.count(")"):  # never leave an aside open: "… used (2…"
        cut = cut[: cut.rfind("(")]
    return cut.rstrip(" ,;:") + "…"


def _not_measured(request: pytest.FixtureRequest, run: Run, case_id: str, error: str) -> str:
    """The failure of a case the run could not measure. An error that stopped several cases
    (a broken cache, a model that did not load, a dataset's features) is a run error: it
    becomes the JUnit property ``run_error``, the summary shows it once, and the case's
    message refers to it in one line."""
    stopped = len(run.selected) if run.state.error is not None else None
    if stopped is None:
        stopped = sum(1 for r in run.results.values() if r.error == error)
    if stopped < 2:
        return f"FG-BMK {case_id}: {error}"
    request.node.user_properties.append(("run_error", error))
    first = error.splitlines()[0] if error.strip() else error
    short = _shortened(first)
    return (
        f"FG-BMK {case_id}: not measured: {short} (a run error that stopped {stopped} cases, "
        f"shown in full once under '{RUN_ERRORS}')"
    )


def _data_error_reference(request: pytest.FixtureRequest, run: Run, case_id: str) -> str:
    """A case's one line when missing or broken files stopped the run: it refers to the
    data error, which the session prints once, in full, at the end (``ERROR: FG-BMK data:``
    with every file), as a run error's cases refer to its section. The error's first line
    is the JUnit property ``data_error``."""
    summary = str(run.state.error or "")
    request.node.user_properties.append(("data_error", summary))
    short = _shortened(summary)
    n = len(run.selected)
    return (
        f"FG-BMK {case_id}: not measured: {short} (a data error that stopped "
        f"{n} case{'s' if n != 1 else ''}, shown in full once at the end under 'FG-BMK data')"
    )


def _measurement(request: pytest.FixtureRequest, run: Run, case: Any) -> Measurement:
    if run.state.data_error:  # one line here, referring to the message printed at the end
        pytest.fail(_data_error_reference(request, run, case.id), pytrace=False)
    try:
        result = run.result(case.id)
    except FgbmkError as exc:
        stopped = _not_measured(request, run, case.id, str(exc))
    else:
        stopped = None
    if stopped is not None:  # (failed outside the except block: one message, no chain)
        pytest.fail(stopped, pytrace=False)
    if result.skip is not None:
        pytest.skip(result.skip)
    if result.error is not None or result.measurement is None:
        pytest.fail(_not_measured(request, run, case.id, str(result.error)), pytrace=False)
    m = result.measurement
    request.node.user_properties.extend(measurement_properties(m))
    request.node.user_properties.extend(machine_properties(m))
    return m


@pytest.fixture
def fgbmk_measurement(request: pytest.FixtureRequest, fgbmk_case: Any, fgbmk_run: Run):
    """The measurement of this human-oriented case; its figures become JUnit properties."""
    return _measurement(request, fgbmk_run, fgbmk_case)


@pytest.fixture
def fgbmk_machine_measurement(
    request: pytest.FixtureRequest, fgbmk_machine_case: Any, fgbmk_run: Run
):
    """The measurement of this machine-oriented case (skips a model that cannot encode)."""
    return _measurement(request, fgbmk_run, fgbmk_machine_case)


class CaseGate:
    """The gate as one test sees it: ``check(case_id, measurement) -> Verdict``.

    Reads the run's verdict (decided for the whole run before the first test); when
    updating, writes the case's baseline through syrupy instead. The verdict's properties
    become the test's JUnit properties.
    """

    def __init__(self, run: Run, request: pytest.FixtureRequest) -> None:
        self.run = run
        self.request = request

    def check(self, case_id: str, measurement: Measurement) -> Verdict:
        verdict = self._verdict(case_id, measurement)
        self.request.node.user_properties.extend((str(k), str(v)) for k, v in verdict.properties)
        return verdict

    def _verdict(self, case_id: str, measurement: Measurement) -> Verdict:
        run = self.run
        g = run.gate_settings
        if g is None:
            return Verdict(False, f"{case_id}: no baseline gate (no model chosen)")
        extension = extension_for(g.store)
        shown = run.shown(baseline_path(extension, self.request.node))
        if g.update:
            try:
                what = write_baseline(self.request, extension, run.record(measurement))
            except FgbmkError as exc:  # a folder holding files in its place …: one line
                return Verdict(False, f"{case_id}: baseline not written: {exc}")
            return Verdict(
                True,
                f"{case_id}: baseline {what}: {shown}",
                (("baseline_file", str(shown)), ("baseline_update", what)),
            )
        verdict = run.verdict(case_id)
        if verdict is None:
            return Verdict(False, f"{case_id}: the run decided no verdict for this case")
        return verdict


@pytest.fixture
def fgbmk_gate(request: pytest.FixtureRequest, fgbmk_run: Run) -> CaseGate:
    """The gate this test asserts through: ``check(case_id, measurement) -> Verdict``."""
    return CaseGate(fgbmk_run, request)


# -- results, summary, xdist -----------------------------------------------------------


class ResultCollector:
    """Gathers measured cases from test reports (also those sent by xdist workers)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.rows: dict[str, SummaryRow] = {}
        #: each measured case's JUnit properties and outcome (the CI job summary's rows)
        self.verdicts: dict[str, tuple[dict[str, str], str]] = {}
        #: each xdist worker's engine figures, by worker index (gw3 → 3)
        self.worker_stats: dict[int, EngineStats] = {}
        self.fingerprints: list[str] = []
        #: data errors that stopped the run, as the xdist workers report them
        self.data_errors: list[str] = []
        self.exchange_folders: set[Path] = set()
        self.baseline_files: set[Path] = set()
        self.collected_names: set[str] = set()
        #: each run error's message and the tests it stopped
        self.run_errors: dict[str, set[str]] = {}
        self.blind = False
        #: each FG-BMK case's skip reason (the tests that skipped), and the cases that ran
        self.skipped: dict[str, str] = {}
        self.ran: set[str] = set()

    def all_skipped(self) -> dict[str, int]:
        """The skip reasons (with the number of cases each) when FG-BMK cases went through
        the test loop and every one skipped; empty otherwise."""
        if self.ran or not self.skipped:
            return {}
        counts: dict[str, int] = {}
        for reason in self.skipped.values():
            counts[reason] = counts.get(reason, 0) + 1
        return counts

    def _track(self, report: pytest.TestReport) -> None:
        if TASK_MARKER not in report.keywords:
            return
        if report.skipped:
            self.skipped[report.nodeid] = _skip_reason(report.longrepr)
        elif report.when == "call" or report.failed:
            self.ran.add(report.nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._track(report)
        props = properties_dict(report.user_properties)
        if "run_error" in props:
            self.run_errors.setdefault(props["run_error"], set()).add(report.nodeid)
        if "baseline_file" in props:
            self.baseline_files.add(Path(props["baseline_file"]))
        if not is_measured(props):
            return
        if report.when == "call" or (report.when == "setup" and report.failed):
            self.rows[report.nodeid] = SummaryRow.from_properties(props, report.outcome)
            self.verdicts[report.nodeid] = (props, report.outcome)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """The controller learns each run's exchange folder (removed at the end, also when a
        worker crashed or the run was interrupted)."""
        run = self.config.stash.get(RUN_KEY, None)
        uid = (getattr(node, "workerinput", None) or {}).get("testrunuid")
        if run is not None and run.options.model and uid:
            self.exchange_folders.add(run.exchange_folder(str(uid)))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.collected_names.update(i.rsplit("::", 1)[-1] for i in ids)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        out = getattr(node, "workeroutput", {}) or {}
        data = out.get("fgbmk")
        if data:
            if data.get("stats"):
                wid = str(getattr(getattr(node, "gateway", None), "id", "gw0"))
                index = int(wid[2:]) if wid[2:].isdigit() else len(self.worker_stats)
                self.worker_stats[index] = EngineStats.from_dict(data["stats"])
            if data.get("fingerprint"):
                self.fingerprints.append(data["fingerprint"])
            if data.get("exchange"):
                self.exchange_folders.add(Path(data["exchange"]))
            if data.get("data_error"):
                self.data_errors.append(data["data_error"])

    @pytest.hookimpl(tryfirst=True)  # before the JUnit writer writes its file
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        run = self.config.stash.get(RUN_KEY, None)
        if run is None:
            return
        if not is_worker(self.config):
            self._engine_junit_properties(run)
        if is_worker(self.config):
            self.config.workeroutput["fgbmk"] = {  # type: ignore[attr-defined]
                "stats": run.ctx.stats.as_dict() if run.ctx.model_loaded else None,
                "fingerprint": run.ctx.model().fingerprint if run.ctx.model_loaded else "",
                "exchange": str(run.exchange.folder) if run.exchange else "",
                "data_error": run.state.data_error,
            }
        if not is_worker(self.config):
            for folder in self.exchange_folders:  # every worker has read every part
                shutil.rmtree(folder, ignore_errors=True)
            g = run.gate_settings
            verdicts = [props for props, _ in self.verdicts.values()]
            if g is not None and not g.update and is_blind(verdicts):
                self.blind = True  # a green verdict from this run would say nothing
                if session.exitstatus == pytest.ExitCode.OK:
                    session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _engine_junit_properties(self, run: Run) -> None:
        """The engine's figures as ``<testsuite>`` properties of the JUnit file (summed over
        xdist workers): batches split after failed calls, the smallest size reached, the
        first error that caused a split, out-of-memory halvings and errors."""
        from _pytest.junitxml import xml_key

        xml = self.config.stash.get(xml_key, None)
        if xml is None:
            return
        parts = list(self.worker_stats.values())
        if not parts and run.ctx.model_loaded:
            parts = [run.ctx.stats]
        if not parts:
            return
        total = EngineStats()
        for part in parts:
            total.merge(part)
        for name, text in engine_properties(total):
            xml.add_global_property(name, text)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        run = config.stash.get(RUN_KEY, None)
        if run is not None:
            run.close()

    def unused_baselines(self, run: Run) -> tuple[list[Path], list[Path]]:
        """Baseline files of the run's suites that no collected case maps to: those of the
        selected datasets (stale: their case no longer exists), and those of datasets the
        run did not select (``--fgbmk-datasets``). A collected test that was deselected
        (``-k``/``-m``) or crashed keeps its file out of both.
        """
        g = run.gate_settings
        if g is None or g.update or not self.baseline_files or not run.ctx.data_loaded:
            return [], []
        folder = g.store.root / g.store.alias
        used = {(Path(self.config.rootpath) / p).resolve() for p in self.baseline_files}
        modules = {p.parent.name for p in self.baseline_files}
        datasets = tuple(run.ctx.data().datasets)
        unused = sorted(
            p
            for m in modules
            for p in (folder / m).glob("*.json")
            if p.resolve() not in used and p.stem not in self.collected_names
        )
        stale = [p for p in unused if _param_dataset(p.stem, datasets)]
        return stale, [p for p in unused if p not in stale]

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.collected_names.update(i.name for i in items)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        run = self.config.stash.get(RUN_KEY, None)
        if run is None or not run.options.model or is_worker(self.config):
            return
        ctx = run.ctx
        if self.run_errors:
            terminalreporter.section(RUN_ERRORS, red=True)
            for message, tests in self.run_errors.items():
                terminalreporter.write_line(f"{len(tests)} cases not measured: {message}")
        if not self.rows and not self.worker_stats and not ctx.model_loaded:
            return
        terminalreporter.section("FG-BMK summary")
        for line in format_table(list(self.rows.values())):
            terminalreporter.write_line(line)
        for line in format_judged(list(self.rows.values())):
            terminalreporter.write_line(line)
        for line in format_exact(list(self.rows.values())):
            terminalreporter.write_line(line)
        for line in format_unreadable(list(self.rows.values())):
            terminalreporter.write_line(line, yellow=True)
        self._verdict_notes(terminalreporter, run)
        fingerprints = list(self.fingerprints)
        per_process = dict(sorted(self.worker_stats.items())) or {0: ctx.stats}
        if not self.worker_stats and ctx.model_loaded:
            fingerprints.append(ctx.model().fingerprint)
        terminalreporter.write_line("")
        for n, (i, stats) in enumerate(per_process.items()):
            lines = format_throughput(stats, fingerprints if n == 0 else ())
            prefix = f"worker {i}: " if self.worker_stats else ""
            for line in lines:
                if line.startswith("engine"):
                    line = prefix + line
                terminalreporter.write_line(line)
        self._step_summary(terminalreporter, run)
        for line in power_lines(props for props, _ in self.verdicts.values()):
            terminalreporter.write_line(line)
        if self.blind:
            args = tuple(self.config.invocation_params.args)
            for i, line in enumerate(blind_lines(plan_command(args))):
                terminalreporter.write_line(line, red=i == 0, bold=i == 0)
        stale, unselected = self.unused_baselines(run)
        alias = run.gate_settings.store.alias if run.gate_settings else ""
        if unselected:
            terminalreporter.write_line(
                f"fgbmk: {len(unselected)} baseline file(s) under {alias}/ unused: their "
                "datasets are not in this run"
            )
        if stale:
            shown = ", ".join(p.name for p in stale[:5]) + (" …" if len(stale) > 5 else "")
            terminalreporter.write_line(
                f"fgbmk: {len(stale)} baseline file(s) under {alias}/ unused: no case collected "
                f"in this run maps to them; if their cases no longer exist, delete them: {shown}",
                yellow=True,
            )

    def _verdict_notes(self, terminalreporter: Any, run: Run) -> None:
        """Below the table: the one instruction for missing baselines, and the cases that
        improved significantly (with the command accepting them)."""
        g = run.gate_settings
        if g is None or g.update:
            return
        rows = list(self.rows.values())
        folder = f"{run.shown(g.store.root / g.store.alias)}{os.sep}"
        notes = format_missing(rows, folder, g.update_command)
        notes += format_mismatched(rows, g.update_command)
        better = [
            Path(p["baseline_file"]).name
            for p, _ in self.verdicts.values()
            if p.get("gate_note", "").endswith(IMPROVED_NOTE) and "baseline_file" in p
        ]
        command = scoped_update_command(g.update_command, [keyword_for(b) for b in better])
        improved = format_improvements(rows, command if better else "")
        for block in (notes, improved):
            if block:
                terminalreporter.write_line("")
            for line in block:
                terminalreporter.write_line(line, yellow=block is notes)

    def _step_summary(self, terminalreporter: Any, run: Run) -> None:
        """Append the verdict table to ``--fgbmk-step-summary``'s file, else to
        ``$GITHUB_STEP_SUMMARY`` when CI provides one (the controller alone under xdist:
        the verdicts are every worker's)."""
        target, where = step_summary_target(self.config)
        if not target or not self.verdicts:
            return
        title = f"FG-BMK verdicts: {run.options.model}"
        text = markdown_verdicts(list(self.verdicts.values()), title=title)
        try:
            with open(target, "a", encoding="utf-8") as f:
                f.write(text + "\n")
        except OSError as exc:
            terminalreporter.write_line(
                f"fgbmk: could not append the verdicts to {where}={target}: {exc}",
                yellow=True,
            )


def _param_dataset(stem: str, datasets: tuple[str, ...]) -> bool:
    """Whether a baseline file's parameter (``test_x[synth_birds-wing_color-tf]``) belongs
    to one of ``datasets``."""
    param = stem.partition("[")[2].rstrip("]")
    return any(param == d or param.startswith(d + "-") for d in datasets)


def _skip_reason(longrepr: Any) -> str:
    """A skipped test's reason: pytest's ``(path, line, "Skipped: reason")`` (a list once
    an xdist worker has sent it)."""
    if isinstance(longrepr, (tuple, list)) and len(longrepr) == 3:
        text = str(longrepr[2])
    else:
        text = str(longrepr)
    return text.removeprefix("Skipped: ").strip()
