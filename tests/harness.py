"""What this project's tests share besides fixtures: how a run loads the plugin, and the
one JUnit reader. The fixtures (``synth_dir``, ``run``) are in ``tests/conftest.py``."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from importlib.metadata import entry_points
from pathlib import Path

#: The repository root: on ``sys.path`` and ``PYTHONPATH`` of every run, so that a run
#: finds this checkout's package and ``tests.fake_models``.
REPO = Path(__file__).resolve().parents[1]

#: How runs load the plugin: by its entry point once installed, else by module.
PLUGIN_INSTALLED = any(ep.value == "pytest_fgbmk.plugin" for ep in entry_points(group="pytest11"))
PLUGIN_ARGS: tuple[str, ...] = () if PLUGIN_INSTALLED else ("-p", "pytest_fgbmk.plugin")


def junit(path: Path) -> dict[str, dict[str, str]]:
    """A JUnit XML file as ``{test case name: {property: value, "_status": outcome,
    "_message": message and text of the failure, error or skip (absent when passed)}}``."""
    out = {}
    for tc in ET.parse(path).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in tc.iter("property")}
        props["_status"] = "passed"
        for child in tc:
            if child.tag in ("failure", "error", "skipped"):
                props["_status"] = child.tag
                props["_message"] = child.get("message", "") + (child.text or "")
        out[tc.get("name")] = props
    return out


def ran(result) -> int:
    """Cases run to a verdict (passed or failed: without a stored baseline the gate fails
    them)."""
    o = result.parseoutcomes()
    return o.get("passed", 0) + o.get("failed", 0)


def in_fresh_interpreters(code: str, hashseeds: tuple[int, ...] = (1, 2)) -> list[str]:
    """The printed output of ``python -c code`` in one new interpreter per hash seed
    (``PYTHONHASHSEED``), run side by side, with this checkout first on ``PYTHONPATH``.

    What must be the same on every machine and in every process (ids, seeds, cache keys)
    is compared across these: a value drawn from ``hash()`` of a string differs between
    two interpreters with different hash seeds, whatever this process's seed is.
    """
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": str(seed), "PYTHONPATH": path},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in hashseeds
    ]
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        out.append(stdout.strip())
    return out
