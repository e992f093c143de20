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
from collections.abc import Callable
from typing import Any

import pytest
from xdist import get_xdist_worker_id

from pytest_fgbmk.pytest_plugin.options import _ConfigHolder, is_worker


class Output:
    """Whole lines (``write``) and, on a terminal, an in-place redraw (``rewrite``, else None).

    The terminal reporter is looked up at each write (it is registered after this plugin
    is configured).
    """

    def __init__(self, config: pytest.Config) -> None:
        self._config = config
        self._prefix = ""
        if is_worker(config):
            holder = _ConfigHolder(config)
            self._prefix = f"[{get_xdist_worker_id(holder)}] "  # type: ignore[arg-type]

    def _reporter(self) -> Any:
        if self._prefix:
            return None
        return self._config.pluginmanager.get_plugin("terminalreporter")

    def write(self, line: str) -> None:
        with _suspended(self._config):
            tr = self._reporter()
            if tr is None:
                sys.stderr.write(self._prefix + line + "\n")
                sys.stderr.flush()
            else:
                tr.write_line(line)

    @property
    def rewrite(self) -> Callable[[str], None] | None:
        tr = self._reporter()
        if tr is None or not getattr(tr, "isatty", False):
            return None

        def redraw(line: str) -> None:
            with _suspended(self._config):
                tr.rewrite(line, erase=True)

        return redraw


def _suspended(config: pytest.Config) -> contextlib.AbstractContextManager[None]:
    capman = config.pluginmanager.get_plugin("capturemanager")
    return capman.global_and_fixture_disabled() if capman else contextlib.nullcontext()


def progress_output(config: pytest.Config) -> Output:
    """The run's progress output for this process (see the module docstring)."""
    return Output(config)
