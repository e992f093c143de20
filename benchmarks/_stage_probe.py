"""A pytest plugin for ``bench_full_scale.py``: wall time, CPU time and peak RSS per stage.

Loaded with ``-p _stage_probe`` (``benchmarks/`` on ``PYTHONPATH``). It wraps the functions
each stage of a run goes through (data loading, question generation, the image check, the
engine, scoring, the gate, tests, JUnit, the report) and pytest's own phases (session
start, collection, the test loop, the summary). Stages nest (questions are built inside the
image check); each stage's figures are *exclusive*: a nested stage's wall and CPU time are
subtracted from its parent's. Peak RSS is per stage: the kernel's high-water mark
(``VmHWM``) is reset through ``/proc/self/clear_refs`` on entering and leaving each stage
(Linux ≥ 4.0), so a stage's peak is the most resident memory while it ran.

At exit the figures go as JSON to the file named by ``FGBMK_STAGES_OUT``:
``{"stages": {name: {"wall_s", "cpu_s", "peak_rss_mb", "calls"}}, "peak_rss_mb": …}``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

_STACK: list[dict[str, Any]] = []
STAGES: dict[str, dict[str, float]] = {}
_CLEAR = Path("/proc/self/clear_refs")


def _status_mb(key: str) -> float:
    """A memory line of /proc/self/status (``VmHWM:``, ``VmRSS:``) in MiB."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    return 0.0


def _hwm_mb() -> float:
    """The resident high-water mark since the last reset, in MiB (VmHWM)."""
    return _status_mb("VmHWM:")


def _reset_hwm() -> None:
    with contextlib.suppress(OSError):
        _CLEAR.write_text("5")


def _enter(name: str) -> None:
    if _STACK:
        _STACK[-1]["peak"] = max(_STACK[-1]["peak"], _hwm_mb())
    _reset_hwm()
    _STACK.append(
        {
            "name": name,
            "wall": time.perf_counter(),
            "cpu": time.process_time(),
            "cw": 0.0,
            "cc": 0.0,
            "peak": 0.0,
        }
    )


def _leave() -> None:
    frame = _STACK.pop()
    wall = time.perf_counter() - frame["wall"]
    cpu = time.process_time() - frame["cpu"]
    peak = max(frame["peak"], _hwm_mb())
    s = STAGES.setdefault(
        frame["name"],
        {"wall_s": 0.0, "cpu_s": 0.0, "peak_rss_mb": 0.0, "rss_after_mb": 0.0, "calls": 0},
    )
    s["wall_s"] += wall - frame["cw"]
    s["cpu_s"] += cpu - frame["cc"]
    s["peak_rss_mb"] = max(s["peak_rss_mb"], peak)
    s["rss_after_mb"] = _status_mb("VmRSS:")
    s["calls"] += 1
    if _STACK:
        parent = _STACK[-1]
        parent["cw"] += wall
        parent["cc"] += cpu
        parent["peak"] = max(parent["peak"], peak)
    _reset_hwm()


def _wrap(owner: Any, attr: str, name: str) -> None:
    original = getattr(owner, attr)

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        _enter(name)
        try:
            return original(*args, **kwargs)
        finally:
            _leave()

    setattr(owner, attr, timed)


def _install() -> None:
    from _pytest.junitxml import LogXML

    from pytest_fgbmk.engine import Engine
    from pytest_fgbmk.pytest_plugin.report import ReportHook
    from pytest_fgbmk.report import html, writer
    from pytest_fgbmk.run.context import RunContext
    from pytest_fgbmk.run.run import Run
    from pytest_fgbmk.tasks import human

    _wrap(RunContext, "data", "data load")
    _wrap(RunContext, "questions", "questions")
    _wrap(Run, "_verify", "image check")
    _wrap(Engine, "run", "engine")
    _wrap(human, "measure_questions", "scoring")
    _wrap(Run, "_decide", "gate")
    _wrap(ReportHook, "_write", "report: other")
    _wrap(writer.ReportWriter, "add_samples", "report: samples spooled")
    # samples.jsonl from the spool files (and a worker's part: the writer's only other use)
    _wrap(writer, "atomic_write_text", "report: samples.jsonl")
    _wrap(writer, "write_results", "report: results.json")
    _wrap(writer, "write_chosen", "report: thumbnails")
    _wrap(html, "build_report", "report: report.html")
    _wrap(LogXML, "pytest_sessionfinish", "junit")


_install()


def _phase(name: str):
    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def hook(*args: Any, **kwargs: Any):
        _enter(name)
        try:
            yield
        finally:
            _leave()

    return hook


pytest_sessionstart = _phase("session start")
pytest_collection = _phase("collection")
pytest_runtestloop = _phase("tests")
pytest_terminal_summary = _phase("summary")
pytest_sessionfinish = _phase("session finish")


#: When this plugin was imported (the interpreter's start and pytest's imports are before).
IMPORTED = time.time()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Write the figures; ``imported``/``unconfigured`` (epoch seconds) let the caller
    split the rest of the process's wall time into start-up and exit."""
    out = os.environ.get("FGBMK_STAGES_OUT")
    if out:
        peak = max([s["peak_rss_mb"] for s in STAGES.values()] + [_hwm_mb()])
        doc = {
            "stages": STAGES,
            "peak_rss_mb": peak,
            "imported": IMPORTED,
            "unconfigured": time.time(),
        }
        Path(out).write_text(json.dumps(doc, indent=1))
