"""The plugin's ``--fgbmk-report DIR`` hook object: hands a session's figures to the writer.

Registered by :mod:`pytest_fgbmk.plugin` when the option is given. It reads each measured
case from its test report (the JUnit properties, which also reach an xdist controller,
with the gate's baseline/delta/p and the outcome) and, in the process that measured it,
the case's per-question records through the session's public ``measurement``/``questions``.
Duck-typed hook methods: this module does not import pytest.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pytest_fgbmk.report.junit import is_measured, properties_dict
from pytest_fgbmk.report.results import (
    RunInfo,
    case_from_measurement,
    case_from_properties,
    environment,
    now,
    samples_from_measurement,
)
from pytest_fgbmk.report.writer import ReportWriter, dataset_info, plain

#: Human-oriented tasks: their per-question records come from the session's questions.
HUMAN_TASKS = ("attribute", "knowledge_bias", "granularity")


class ReportHook:
    """Collects measured cases during the run and writes DIR at session finish."""

    def __init__(self, config: Any, session: Any, folder: Path) -> None:
        self.config = config
        self.session = session
        self.writer = ReportWriter(Path(folder))
        self.started = now()
        self.t0 = time.monotonic()
        self.written: list[Path] = []
        self.error: str | None = None

    @property
    def worker(self) -> str | None:
        wi = getattr(self.config, "workerinput", None)
        return None if wi is None else str(wi.get("workerid", "gw"))

    def pytest_runtest_logreport(self, report: Any) -> None:
        props = properties_dict(report.user_properties)
        if not is_measured(props):
            return
        if report.when == "call" or (report.when == "setup" and report.failed):
            case = case_from_properties(props, outcome=report.outcome, nodeid=report.nodeid)
            self.writer.add_case(case)
            if report.when == "call":
                self._samples_here(case)

    def _samples_here(self, case: Any) -> None:
        """Per-question records of a case this process measured (never loads a model)."""
        s = self.session
        if case.task not in HUMAN_TASKS or s is None or not s.model_loaded:
            return
        from pytest_fgbmk.questions.cases import Case

        c = Case(case.dataset, case.task, case.facet, case.qtype)
        try:
            m = s.measurement(c)
            records = samples_from_measurement(m, s.questions(c), s.options.scoring)
        except Exception as e:  # the report must never break the run
            self.error = f"{case.case_id}: no per-question records ({e})"
            return
        self.writer.add_samples(case.case_id, records)
        # the measurement's exact figures (the JUnit properties are rounded to 2 decimals)
        exact = case_from_measurement(m, outcome=case.outcome, nodeid=case.nodeid, gate=case.gate)
        self.writer.add_case(exact)

    def _info(self) -> dict[str, Any]:
        s = self.session
        info: dict[str, Any] = {"model": {"spec": s.options.model}, "engine": {}}
        if s.model_loaded:
            model = s.model()
            info["model"].update(
                fingerprint=model.fingerprint,
                name=getattr(model, "name", ""),
                can_answer=bool(getattr(model, "can_answer", False)),
                can_encode=bool(getattr(model, "can_encode", False)),
            )
            info["engine"] = s.stats.as_dict()
        return info

    def pytest_sessionfinish(self, session: Any, exitstatus: Any) -> None:
        s = self.session
        if s is None or not s.options.model:
            return
        try:
            if self.worker is not None:
                self.writer.save_part(self.worker, self._info())
                return
            self._write(int(exitstatus))
        except Exception as e:  # reported in the summary; the test outcome stays as it is
            self.error = f"could not write the report to {self.writer.folder}: {e}"

    def _write(self, exitstatus: int) -> None:
        s = self.session
        infos = [self._info(), *self.writer.merge_parts()]
        model: dict[str, Any] = {"spec": s.options.model}
        for i in infos:
            model.update({k: v for k, v in i.get("model", {}).items() if v not in (None, "")})
        try:
            model["args"] = {k: str(v) for k, v in s.model_args().items()}
            generation = plain(s.settings())
        except Exception as e:
            model["args_error"] = str(e)
            generation = {}
        engines = [i["engine"] for i in infos if i.get("engine")]
        data = s.data
        datasets = dict(data.datasets) if data is not None else {}
        run = RunInfo(
            model=model,
            generation=generation,
            batch_size=s.options.batch_size or (engines[0].get("batch_size") if engines else None),
            seed=s.options.seed,
            templates=s.options.templates,
            scoring=s.options.scoring,
            limit=s.options.limit,
            data=data.label if data is not None else "",
            datasets={n: dataset_info(d) for n, d in datasets.items()},
            missing_datasets=dict(data.missing) if data is not None else {},
            environment=environment(),
            engine={"processes": engines},
            started=self.started,
            finished=now(),
            exit_status=exitstatus,
        )
        self.written = self.writer.write(run, datasets=datasets)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.worker is not None:
            return
        if self.error:
            terminalreporter.write_line(f"fgbmk report: {self.error}", yellow=True)
        if self.written:
            names = ", ".join(p.name for p in self.written)
            terminalreporter.write_line(f"fgbmk report: {self.writer.folder.resolve()} ({names})")
