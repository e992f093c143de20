"""The pytest face of FG-BMK: options, ini keys, header, parametrization, fixtures, summary.

Thin by design: the work happens in :mod:`pytest_fgbmk.session` (data, cases, model,
engine, measurements); this module declares, wires and reports. A suite test reads::

    @pytest.mark.fgbmk_task("attribute")
    def test_attribute(fgbmk_measurement, fgbmk_gate):
        verdict = fgbmk_gate.check(fgbmk_measurement.case_id, fgbmk_measurement)
        assert verdict.ok, verdict.message
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_fgbmk.baselines.storage import install_gate
from pytest_fgbmk.engine import EngineStats
from pytest_fgbmk.errors import FgbmkError
from pytest_fgbmk.machine_session import MACHINE_ARG, MachineSession, machine_properties
from pytest_fgbmk.report.junit import is_measured, measurement_properties, properties_dict
from pytest_fgbmk.report.terminal import SummaryRow, format_table, format_throughput
from pytest_fgbmk.session import (
    DEMO_MODEL,
    NO_MODEL_REASON,
    SCORING,
    SYNTH_SIZES,
    TEMPLATES,
    FgbmkSession,
    MissingDataset,
    SessionOptions,
)

SESSION_KEY = pytest.StashKey[FgbmkSession]()
RESULTS_KEY = pytest.StashKey["ResultCollector"]()
CASE_ARG = "fgbmk_case"
MACHINE_KEY = pytest.StashKey[MachineSession]()

#: (option, dest/ini name, help, kwargs) — every option is also an ini key of the same name.
_OPTIONS: list[tuple[str, str, str, dict[str, Any]]] = [
    (
        "--fgbmk-model",
        "fgbmk_model",
        f"model spec to benchmark (e.g. oracle, {DEMO_MODEL}, hf:PATH, package.module:factory)",
        {},
    ),
    (
        "--fgbmk-model-arg",
        "fgbmk_model_arg",
        "model argument key=value (repeatable)",
        {"action": "append"},
    ),
    (
        "--fgbmk-model-args-file",
        "fgbmk_model_args_file",
        "TOML or YAML file of model arguments",
        {},
    ),
    (
        "--fgbmk-data",
        "fgbmk_data",
        "folder holding the datasets (default: the bundled synthetic datasets)",
        {},
    ),
    (
        "--fgbmk-datasets",
        "fgbmk_datasets",
        "comma-separated dataset names to run (default: all found)",
        {},
    ),
    (
        "--fgbmk-limit",
        "fgbmk_limit",
        "at most N questions per case (deterministic stratified subset)",
        {},
    ),
    ("--fgbmk-batch-size", "fgbmk_batch_size", "questions per model batch (default 32)", {}),
    ("--fgbmk-device", "fgbmk_device", "model device: auto, cpu, cuda or cuda:N", {}),
    ("--fgbmk-dtype", "fgbmk_dtype", "model dtype: auto, bf16, fp16 or fp32", {}),
    ("--fgbmk-cache", "fgbmk_cache", "answer cache folder (default .fgbmk_cache/)", {}),
    (
        "--fgbmk-no-cache",
        "fgbmk_no_cache",
        "neither read nor write the answer cache",
        {"action": "store_true", "default": None},
    ),
    (
        "--fgbmk-templates",
        "fgbmk_templates",
        f"question templates: {' or '.join(TEMPLATES)} (default original)",
        {},
    ),
    (
        "--fgbmk-scoring",
        "fgbmk_scoring",
        f"answer scoring: {' or '.join(SCORING)} (default strict)",
        {},
    ),
    (
        "--fgbmk-report",
        "fgbmk_report",
        "folder to write results.json, samples.jsonl and report.html into",
        {},
    ),
    (
        "--fgbmk-update-baselines",
        "fgbmk_update_baselines",
        "write the baselines of the cases that ran (syrupy's --snapshot-update, keeping the others)",
        {"action": "store_true", "default": None},
    ),
    (
        "--fgbmk-baseline-alias",
        "fgbmk_baseline_alias",
        "baseline folder under baselines/ (default: the model spec's name)",
        {},
    ),
    (
        "--fgbmk-alpha",
        "fgbmk_alpha",
        "run-level false alarm of the regression gate (default 0.01)",
        {},
    ),
    (
        "--fgbmk-min-drop",
        "fgbmk_min_drop",
        "practical margin: the smallest drop in points that can fail (default 1.0)",
        {},
    ),
    (
        "--fgbmk-synth",
        "fgbmk_synth",
        f"size of the bundled synthetic data: {' or '.join(SYNTH_SIZES)} (default default)",
        {},
    ),
]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fgbmk", "FG-BMK fine-grained benchmark")
    for flag, dest, help_text, kwargs in _OPTIONS:
        group.addoption(flag, dest=dest, help=help_text, **kwargs)
        ini_type = "linelist" if kwargs.get("action") == "append" else "string"
        if kwargs.get("action") == "store_true":
            ini_type = "bool"
        parser.addini(dest, help=help_text, type=ini_type, default=None)


def _value(config: pytest.Config, dest: str) -> Any:
    value = config.getoption(dest)
    if value is None or value == []:
        value = config.getini(dest)
    if value == [] or value == "":
        return None
    return value


def _int_option(config: pytest.Config, dest: str) -> int | None:
    raw = _value(config, dest)
    if raw is None:
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        flag = "--" + dest.replace("_", "-")
        raise pytest.UsageError(f"{flag}={raw!r} is not an integer; give a whole number") from None


def options_from_config(config: pytest.Config) -> SessionOptions:
    """Read the FG-BMK options (command line first, then ini keys)."""
    datasets = _value(config, "fgbmk_datasets")
    data = _value(config, "fgbmk_data")
    cache = _value(config, "fgbmk_cache")
    args_file = _value(config, "fgbmk_model_args_file")
    workerinput = getattr(config, "workerinput", None)
    worker_index = None
    if workerinput is not None:
        wid = str(workerinput.get("workerid", "gw0"))
        worker_index = int(wid[2:]) if wid[2:].isdigit() else 0
    rootdir = Path(config.rootpath)
    return SessionOptions(
        model=_value(config, "fgbmk_model"),
        model_args=tuple(_value(config, "fgbmk_model_arg") or ()),
        model_args_file=Path(args_file) if args_file else None,
        data=Path(data) if data else None,
        datasets=tuple(n.strip() for n in datasets.split(",") if n.strip()) if datasets else None,
        limit=_int_option(config, "fgbmk_limit"),
        batch_size=_int_option(config, "fgbmk_batch_size"),
        device=_value(config, "fgbmk_device"),
        dtype=_value(config, "fgbmk_dtype"),
        cache=None
        if _value(config, "fgbmk_no_cache")
        else Path(cache)
        if cache
        else rootdir / ".fgbmk_cache",
        templates=_value(config, "fgbmk_templates") or "original",
        scoring=_value(config, "fgbmk_scoring") or "strict",
        synth=_value(config, "fgbmk_synth") or "default",
        worker_index=worker_index,
    )


def _is_xdist_controller(config: pytest.Config) -> bool:
    if hasattr(config, "workerinput"):
        return False
    try:
        return config.getoption("dist", "no") != "no" and bool(
            config.getoption("numprocesses", None)
        )
    except ValueError:
        return False


def _writers(config: pytest.Config):
    """Line writers for progress on the terminal (capture suspended while writing).

    xdist workers write none: their cases run one at a time, and the controller's
    terminal shows the tests' progress.
    """
    if hasattr(config, "workerinput"):
        return None, None
    tr = config.pluginmanager.get_plugin("terminalreporter")
    capman = config.pluginmanager.get_plugin("capturemanager")
    if tr is None:
        return None, None

    def write(line: str) -> None:
        with capman.global_and_fixture_disabled() if capman else _nullcontext():
            tr.write_line(line)

    def rewrite(line: str) -> None:
        with capman.global_and_fixture_disabled() if capman else _nullcontext():
            tr.rewrite(line, erase=True)

    return write, rewrite if getattr(tr, "isatty", False) else None


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fgbmk_task(name): the FG-BMK task a suite test measures (parametrized per case)"
    )
    config.addinivalue_line("markers", "fgbmk_human: human-oriented FG-BMK cases")
    config.addinivalue_line("markers", "fgbmk_machine: machine-oriented FG-BMK cases")
    try:
        options = options_from_config(config)
        write, rewrite = _writers(config)
        gate = install_gate(config, _value, options.model)
        session = FgbmkSession(options, write=write, rewrite=rewrite, gate=gate)
    except FgbmkError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[SESSION_KEY] = session
    collector = ResultCollector(config)
    config.stash[RESULTS_KEY] = collector
    config.pluginmanager.register(collector, "fgbmk-results")
    report_dir = _value(config, "fgbmk_report")
    if report_dir:
        from pytest_fgbmk.report.hook import ReportHook

        config.pluginmanager.register(ReportHook(config, session, Path(report_dir)), "fgbmk-report")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """With a model chosen: load the datasets' indexes, and the model where tests run here."""
    config = session.config
    s = config.stash.get(SESSION_KEY, None)
    if s is None or not s.options.model:
        return
    try:
        s.load_data()
    except FgbmkError as exc:
        raise pytest.UsageError(f"FG-BMK data: {exc}") from None
    if _is_xdist_controller(config) or config.option.collectonly:
        return
    try:
        s.model()
    except FgbmkError as exc:
        raise pytest.UsageError(f"--fgbmk-model={s.options.model}: {exc}") from None


def pytest_report_header(config: pytest.Config) -> list[str]:
    s = config.stash.get(SESSION_KEY, None)
    if s is None or not s.options.model:
        return []
    lines = [f"fgbmk model: {s.options.model}"]
    if s.model_loaded:
        m = s.model()
        lines.append(f"fgbmk fingerprint: {m.fingerprint}")
    elif _is_xdist_controller(config):
        lines.append("fgbmk fingerprint: loaded on each worker (shown in the summary)")
    if s.data is not None:
        lines.append(f"fgbmk data: {s.data.label}")
        found = ", ".join(f"{n} ({len(d.samples)} images)" for n, d in s.data.datasets.items())
        lines.append(f"fgbmk datasets found: {found or 'none'}")
        if s.data.missing:
            missing = "; ".join(f"{n}: {r}" for n, r in s.data.missing.items())
            lines.append(f"fgbmk datasets missing: {missing}")
    opts = s.options
    lines.append(
        f"fgbmk templates={opts.templates} scoring={opts.scoring} limit={opts.limit or 'none'} "
        f"cache={opts.cache or 'off'}"
    )
    return lines


# -- collection ------------------------------------------------------------------------


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``fgbmk_case`` from the datasets' metadata (no image, no model)."""
    if MACHINE_ARG in metafunc.fixturenames:
        _parametrize_machine(metafunc)
        return
    if CASE_ARG not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("fgbmk_task")
    if marker is None or not marker.args:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: a test that uses {CASE_ARG} needs "
            "@pytest.mark.fgbmk_task('attribute'|'granularity'|'knowledge_bias')"
        )
    task = marker.args[0]
    s = metafunc.config.stash[SESSION_KEY]
    params = []
    if not s.options.model:
        params.append(
            pytest.param(None, id="no-model", marks=pytest.mark.skip(reason=NO_MODEL_REASON))
        )
    else:
        try:
            cases = s.cases(task)
            missing = s.missing_for(task)
        except FgbmkError as exc:
            raise pytest.UsageError(f"FG-BMK data: {exc}") from None
        for case in cases:
            pid = case.dataset if task == "knowledge_bias" else case.id
            params.append(pytest.param(case, id=pid))
        for m in missing:
            reason = f"dataset {m.name} not found: {m.reason}"
            params.append(pytest.param(m, id=m.name, marks=pytest.mark.skip(reason=reason)))
        if not params:
            data = s.load_data()
            names = ", ".join(data.datasets) or "none"
            reason = f"no {task} case in the selected datasets ({names}) under {data.label}"
            params.append(
                pytest.param(None, id=f"no-{task}-case", marks=pytest.mark.skip(reason=reason))
            )
    metafunc.parametrize(CASE_ARG, params)


def _machine(config: pytest.Config) -> MachineSession:
    """The process's machine-oriented session (features, probes), made on first use."""
    machine = config.stash.get(MACHINE_KEY, None)
    if machine is None:
        write, rewrite = _writers(config)
        machine = MachineSession(config.stash[SESSION_KEY], write=write, rewrite=rewrite)
        config.stash[MACHINE_KEY] = machine
    return machine


def _parametrize_machine(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``fgbmk_machine_case`` per selected dataset (metadata only)."""
    marker = metafunc.definition.get_closest_marker("fgbmk_task")
    if marker is None or not marker.args:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: a test that uses {MACHINE_ARG} needs "
            "@pytest.mark.fgbmk_task('retrieval'|'linear_probe'|'alignment_effect'|"
            "'meta_categories'|'feature_robustness')"
        )
    if not metafunc.config.stash[SESSION_KEY].options.model:
        skip = pytest.mark.skip(reason=NO_MODEL_REASON)
        metafunc.parametrize(MACHINE_ARG, [pytest.param(None, id="no-model", marks=skip)])
        return
    try:
        planned = _machine(metafunc.config).params(marker.args[0])
    except FgbmkError as exc:
        raise pytest.UsageError(f"FG-BMK data: {exc}") from None
    params = [
        pytest.param(p.case, id=p.id, marks=pytest.mark.skip(reason=p.skip) if p.skip else ())
        for p in planned
    ]
    metafunc.parametrize(MACHINE_ARG, params)


def _item_case(item: pytest.Item) -> Any:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    case = callspec.params.get(CASE_ARG)
    if case is None or isinstance(case, MissingDataset) or item.get_closest_marker("skip"):
        return None
    return case


# -- fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fgbmk_session(request: pytest.FixtureRequest) -> FgbmkSession:
    """The process's FG-BMK session (skips when no model was chosen)."""
    s = request.config.stash[SESSION_KEY]
    if not s.options.model:
        pytest.skip(NO_MODEL_REASON)
    return s


@pytest.fixture(scope="session")
def fgbmk_model(fgbmk_session: FgbmkSession):
    """The model adapter, loaded once per process (once per xdist worker, its own GPU)."""
    try:
        return fgbmk_session.model()
    except FgbmkError as exc:
        pytest.fail(f"--fgbmk-model={fgbmk_session.options.model}: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def fgbmk_answers(request: pytest.FixtureRequest, fgbmk_session: FgbmkSession, fgbmk_model):
    """Answers every selected case's questions in one engine run before the first body.

    Under xdist a worker does not know in advance which tests it will get: it prepares the
    model for every selected dataset and answers each case when its test comes.
    """
    if not fgbmk_model.can_answer:
        return fgbmk_session
    cases = [c for c in map(_item_case, request.session.items) if c is not None]
    try:
        if hasattr(request.config, "workerinput"):
            fgbmk_session.prepare([c.dataset for c in cases])
        else:
            fgbmk_session.answer(cases)
    except FgbmkError as exc:
        pytest.fail(f"FG-BMK: {exc}", pytrace=False)
    return fgbmk_session


@pytest.fixture
def fgbmk_measurement(request: pytest.FixtureRequest, fgbmk_case, fgbmk_answers: FgbmkSession):
    """The measurement of this test's case; its figures go into the JUnit properties."""
    model = fgbmk_answers.model()
    if not model.can_answer:
        pytest.skip(
            f"model {fgbmk_answers.options.model} cannot answer questions "
            "(human-oriented cases need the answer capability)"
        )
    try:
        m = fgbmk_answers.measurement(fgbmk_case)
    except FgbmkError as exc:
        pytest.fail(f"FG-BMK {fgbmk_case.id}: {exc}", pytrace=False)
    request.node.user_properties.extend(measurement_properties(m))
    return m


@pytest.fixture(scope="session")
def fgbmk_machine(request: pytest.FixtureRequest, fgbmk_session: FgbmkSession):
    """The process's machine-oriented session: features once per dataset and split, probes."""
    machine = _machine(request.config)
    yield machine
    machine.close()


@pytest.fixture
def fgbmk_machine_measurement(request: pytest.FixtureRequest, fgbmk_machine_case, fgbmk_machine):
    """The measurement of this machine-oriented case (skips a model that cannot encode)."""
    try:
        reason = fgbmk_machine.skip_reason(fgbmk_machine_case)
        if reason:
            pytest.skip(reason)
        m = fgbmk_machine.measurement(fgbmk_machine_case)
    except FgbmkError as exc:
        pytest.fail(f"FG-BMK {fgbmk_machine_case.id}: {exc}", pytrace=False)
    request.node.user_properties.extend(measurement_properties(m))
    request.node.user_properties.extend(machine_properties(m))
    return m


class _RecordingGate:
    """Wraps the session's gate so its verdict properties reach the JUnit test case."""

    def __init__(self, gate: Any, node: pytest.Item) -> None:
        self._gate = gate
        self._node = node

    def check(self, case_id: str, measurement: Any):
        verdict = self._gate.check(case_id, measurement)
        self._node.user_properties.extend((str(k), str(v)) for k, v in verdict.properties)
        return verdict


@pytest.fixture
def fgbmk_gate(request: pytest.FixtureRequest):
    """The gate this test asserts through: ``check(case_id, measurement) -> Verdict``."""
    gate = request.config.stash[SESSION_KEY].gate
    if hasattr(gate, "for_test"):
        gate = gate.for_test(request)
    return _RecordingGate(gate, request.node)


# -- results, summary, xdist -----------------------------------------------------------


class ResultCollector:
    """Gathers measured cases from test reports (also those sent by xdist workers)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.rows: dict[str, SummaryRow] = {}
        self.worker_stats: list[EngineStats] = []
        self.fingerprints: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = properties_dict(report.user_properties)
        if not is_measured(props):
            return
        if report.when == "call" or (report.when == "setup" and report.failed):
            outcome = report.outcome
            self.rows[report.nodeid] = SummaryRow.from_properties(props, outcome)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        out = getattr(node, "workeroutput", {}) or {}
        data = out.get("fgbmk")
        if data:
            self.worker_stats.append(EngineStats.from_dict(data["stats"]))
            if data.get("fingerprint"):
                self.fingerprints.append(data["fingerprint"])

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        s = self.config.stash.get(SESSION_KEY, None)
        if s is not None and hasattr(self.config, "workerinput") and s.model_loaded:
            self.config.workeroutput["fgbmk"] = {
                "stats": s.stats.as_dict(),
                "fingerprint": s.model().fingerprint,
            }

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        s = config.stash.get(SESSION_KEY, None)
        if s is not None:
            s.close()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        s = self.config.stash.get(SESSION_KEY, None)
        if s is None or not s.options.model or hasattr(self.config, "workerinput"):
            return
        if not self.rows and not self.worker_stats and not s.model_loaded:
            return
        terminalreporter.section("FG-BMK summary")
        for line in format_table(list(self.rows.values())):
            terminalreporter.write_line(line)
        fingerprints = list(self.fingerprints)
        per_process = self.worker_stats or [s.stats]
        if not self.worker_stats and s.model_loaded:
            fingerprints.append(s.model().fingerprint)
        terminalreporter.write_line("")
        for i, stats in enumerate(per_process):
            lines = format_throughput(stats, fingerprints if i == 0 else ())
            prefix = f"worker {i}: " if len(per_process) > 1 else ""
            for line in lines:
                if line.startswith("engine"):
                    line = prefix + line
                terminalreporter.write_line(line)
