"""The plugin's ``--fgbmk-report DIR`` hook object: hands a session's figures to the writer.

Registered by the pytest layer when the option is given. It reads each measured
case from its test report (the JUnit properties, which also reach an xdist controller,
with the gate's baseline/delta/p and the outcome) and, in the process that ran the test,
the exact measurement from the run object (every process of a run holds every
measurement): a human case's per-question records with its questions, a machine case's
figures (recall@k, top-1, drop …). When the gate compared a case with a stored baseline
(JUnit property ``baseline_file``), the questions that flipped right → wrong are read from
that file and kept in the case's ``details["flipped"]`` for report.html; for a case whose
baseline stores per-query values (retrieval's AP), the queries whose value fell most, with
their images, are kept in ``details["value_drops"]``.
Registered as a plugin object; worker roles through xdist's helpers.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from xdist import get_xdist_worker_id

from pytest_fgbmk.pytest_plugin.options import _ConfigHolder, is_worker
from pytest_fgbmk.report.junit import is_measured, properties_dict
from pytest_fgbmk.report.results import (
    RunInfo,
    case_from_measurement,
    case_from_properties,
    environment,
    iter_samples,
    now,
)
from pytest_fgbmk.report.shown import VALUE_DROPS, value_drops
from pytest_fgbmk.report.writer import ReportWriter, dataset_info, plain
from pytest_fgbmk.tasks import get_task

#: Flipped question ids kept per case (the report shows a few; the counts are exact).
FLIPPED_KEPT = 50


def flips(measurement: Any, baseline_path: Path) -> dict[str, Any] | None:
    """Questions right in the stored baseline and wrong now (and the reverse count).

    Pairs the file's outcomes with the measurement's through
    :func:`pytest_fgbmk.baselines.record.paired_baseline`; None when the baseline stores
    per-query values (mAP) rather than right/wrong, or cannot be paired.
    """
    from pytest_fgbmk.baselines.record import paired_baseline, parse_record

    stored = parse_record(Path(baseline_path).read_text(encoding="utf-8"), Path(baseline_path))
    if stored.record["outcomes"].get("encoding") != "bitset-base64":
        return None
    try:
        before = paired_baseline(stored, measurement)
    except KeyError:  # questions the baseline does not hold: the gate reported it
        return None
    worse = [
        o.question_id
        for o, b in zip(measurement.outcomes, before, strict=True)
        if b >= 1.0 and not o.correct
    ]
    better = sum(
        1 for o, b in zip(measurement.outcomes, before, strict=True) if b < 1.0 and o.correct
    )
    return {
        "right_to_wrong": len(worse),
        "wrong_to_right": better,
        "ids": worse[:FLIPPED_KEPT],
        "baseline_file": str(baseline_path),
    }


def ap_drops(
    measurement: Any, baseline_path: Path, about: dict[str, dict[str, str]]
) -> dict[str, Any] | None:
    """A per-query-value case's samples (retrieval queries) whose value (AP) fell most
    against the stored baseline, with the counts that fell and rose; None when the baseline
    stores right/wrong outcomes or cannot be paired. ``about``: id → image, category."""
    from pytest_fgbmk.baselines.record import (
        paired_baseline,
        parse_record,
        per_query_values,
        values_now,
    )

    stored = parse_record(Path(baseline_path).read_text(encoding="utf-8"), Path(baseline_path))
    values = per_query_values(measurement)
    if stored.record["outcomes"].get("encoding") != "values" or values is None:
        return None
    try:
        before = paired_baseline(stored, measurement)
    except KeyError:  # queries the baseline does not hold: the gate reported it
        return None
    ids = [q for q, _ in values]
    found = value_drops(ids, before.tolist(), values_now(measurement).tolist(), FLIPPED_KEPT, about)
    return {**found, "baseline_file": str(baseline_path)}


class ReportHook:
    """Collects measured cases during the run and writes DIR at session finish."""

    def __init__(self, config: Any, run: Any, folder: Path) -> None:
        self.config = config
        self.run = run
        self.writer = ReportWriter(Path(folder))
        self.started = now()
        self.t0 = time.monotonic()
        self.written: list[Path] = []
        self.error: str | None = None

    @property
    def worker(self) -> str | None:
        """This xdist worker's id (``gw0`` …), None outside a worker."""
        if not is_worker(self.config):
            return None
        return get_xdist_worker_id(_ConfigHolder(self.config))  # type: ignore[arg-type]

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
        """The exact figures (and per-question records) of a case this process measured.

        Never loads a model nor measures anew: the run keeps what it measured.
        """
        run = self.run
        if run is None or not run.ctx.model_loaded:
            return
        try:
            m = run.measurement_of(case.case_id)
            if m is not None and get_task(case.task).kind == "human":
                self._samples(m)
        except Exception as e:  # the report must never break the run
            self.error = f"{case.case_id}: no exact figures ({e})"
            return
        if m is None:
            return
        # the measurement's exact figures (the JUnit properties are rounded to 2 decimals)
        exact = case_from_measurement(m, outcome=case.outcome, nodeid=case.nodeid, gate=case.gate)
        flipped = self._flips(case, m)
        if flipped is not None:
            exact = replace(exact, details={**exact.details, "flipped": flipped})
        drops = self._drops(case, m)
        if drops is not None:
            exact = replace(exact, details={**exact.details, VALUE_DROPS: drops})
        self.writer.add_case(exact)

    def _samples(self, m: Any) -> None:
        """A human case's per-question records (prompt, answer, how it was scored)."""
        from pytest_fgbmk.questions.cases import Case

        ctx = self.run.ctx
        c = Case(m.dataset, m.task, m.facet, m.qtype)
        records = iter_samples(m, ctx.questions(c), ctx.options.scoring)
        self.writer.add_samples(m.case_id, records)  # spooled to disk a record at a time

    def _flips(self, case: Any, m: Any) -> dict[str, Any] | None:
        """Right → wrong questions against the stored baseline the gate compared with."""
        name = case.gate.get("baseline_file")
        if not name or "baseline" not in case.gate:
            return None
        path = Path(name)
        if not path.is_absolute():
            path = Path(self.config.rootpath) / path
        try:
            found = flips(m, path)
        except Exception as e:  # an unreadable baseline was the gate's to report
            self.error = f"{case.case_id}: flipped questions not read from {path} ({e})"
            return None
        return None if found is None else {**found, "baseline_file": name}

    def _drops(self, case: Any, m: Any) -> dict[str, Any] | None:
        """Per-query values (retrieval AP) that fell against the stored baseline."""
        name = case.gate.get("baseline_file")
        if not name or "baseline" not in case.gate or get_task(case.task).kind == "human":
            return None
        path = Path(name)
        if not path.is_absolute():
            path = Path(self.config.rootpath) / path
        try:
            ds = self.run.ctx.dataset(m.dataset)
            about = {
                s.id: {"image": s.path, "category": s.category_name, "dataset": ds.name}
                for s in ds.samples
            }
            found = ap_drops(m, path, about)
        except Exception as e:  # an unreadable baseline was the gate's to report
            self.error = f"{case.case_id}: per-query drops not read from {path} ({e})"
            return None
        return None if found is None else {**found, "baseline_file": name}

    def _info(self) -> dict[str, Any]:
        s = self.run.ctx
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
        s = self.run
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
        s = self.run.ctx
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
        data = s.data() if s.data_loaded else None
        datasets = dict(data.datasets) if data is not None else {}
        run = RunInfo(
            model=model,
            generation=generation,
            batch_size=s.options.batch_size or (engines[0].get("batch_size") if engines else None),
            seed=s.options.seed,
            templates=s.options.templates,
            scoring=s.options.scoring,
            judge=";".join(filter(None, [s.options.judge, *s.options.judge_args])),
            exif_orientation=s.options.exif_orientation,
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
