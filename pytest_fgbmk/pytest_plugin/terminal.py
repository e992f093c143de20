"""Where the run's progress lines go under pytest: the terminal, a plain log, or a worker's stderr.

In one process (or the xdist controller) lines go through pytest's terminal writer with
output capture suspended: redrawn in place on a terminal, whole lines in a plain log. An
xdist worker's stdout is not shown by the controller, but its stderr is the controller's
own (inherited), so a worker writes whole lines prefixed with its id (``[gw1]``) there,
with capture suspended: under ``-n N`` the progress of every worker reaches the
controller's output, terminal or log.
"""

from __future__ import annotations

import contextlib
import sys

import pytest
from xdist import get_xdist_worker_id

from pytest_fgbmk.progress import ProgressOutput
from pytest_fgbmk.pytest_plugin.options import _ConfigHolder, is_worker


def _suspended(config: pytest.Config) -> contextlib.AbstractContextManager[None]:
    capman = config.pluginmanager.get_plugin("capturemanager")
    return capman.global_and_fixture_disabled() if capman else contextlib.nullcontext()


def progress_output(config: pytest.Config) -> ProgressOutput | None:
    """The run's progress output for this process (call once the terminal reporter is up)."""
    if is_worker(config):
        prefix = f"[{get_xdist_worker_id(_ConfigHolder(config))}] "  # type: ignore[arg-type]

        def worker_write(line: str) -> None:
            if not line:
                return
            with _suspended(config):
                sys.stderr.write(prefix + line + "\n")
                sys.stderr.flush()

        return ProgressOutput(worker_write, None)
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr is None:
        return None

    def write(line: str) -> None:
        with _suspended(config):
            tr.write_line(line)

    def rewrite(line: str) -> None:
        with _suspended(config):
            tr.rewrite(line, erase=True)

    return ProgressOutput(write, rewrite if getattr(tr, "isatty", False) else None)
