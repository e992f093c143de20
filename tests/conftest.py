"""The shared harness of this project's tests.

- ``synth_dir``: one folder for the synthetic datasets of the whole session (each
  configuration is rendered once, whichever test asks first);
- ``run``: runs the packaged suites through pytester with the plugin and the small
  synthetic data; the models the tests use are in :mod:`tests.fake_models`, loaded by
  spec (``--fgbmk-model=tests.fake_models:NAME``);
- the JUnit reader and the plugin arguments are in :mod:`tests.harness`.

Tests that run for more than 5 s on a quiet machine carry the ``slow`` marker, so that
``pytest -m "not slow" tests/`` is the quick check.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness import PLUGIN_ARGS, REPO

pytest_plugins = ["pytester"]

#: What every run gets: the plugin, no cache provider (nothing written to the repository),
#: the packaged suites and the small synthetic data.
SUITES = (*PLUGIN_ARGS, "-p", "no:cacheprovider", "--pyargs", "pytest_fgbmk.suites")

#: Loaded before the first inline run and kept across runs (see ``run``).
#: torch._dynamo: torch's optimizers import it at their first step; first imported inside an
#: inline run, it was dropped and its re-import failed ("Only a single TORCH_LIBRARY can be
#: used to register the namespace _inductor_test"; tests/plugin/test_plugin_machine.py then
#: tests/machine/test_machine_release_protocol.py in one process).
INLINE_KEEP = ("numpy", "torch", "torch._dynamo", "matplotlib.figure", "pytest_fgbmk.report.plots")


@pytest.fixture(scope="session", autouse=True)
def _heavy_modules_loaded_once() -> None:
    """Import numpy, torch and matplotlib before any test's pytester snapshot is taken.

    pytester restores ``sys.modules`` after each test to what it was when the test's
    ``pytester`` fixture was made; a module first imported inside a test is dropped, and
    numpy, torch and matplotlib cannot be imported a second time in one process (torch
    crashes the interpreter). Importing them here, before the first test, keeps them.
    """
    for name in INLINE_KEEP:
        importlib.import_module(name)


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory) -> Path:
    """``$FGBMK_SYNTH_DIR`` of every run: the synthetic data, rendered once a session."""
    return tmp_path_factory.mktemp("synth")


@pytest.fixture
def run(pytester, synth_dir, monkeypatch) -> Callable[..., pytest.RunResult]:
    """``run(*args, subprocess=False)``: pytest on the packaged suites in ``pytester.path``
    with ``--fgbmk-synth=small`` and ``args`` (the model, ``-m``, ``-k`` …), inline or in
    a subprocess; the repository root is on ``sys.path`` and ``PYTHONPATH`` for both."""
    # numpy, torch and matplotlib are already loaded (_heavy_modules_loaded_once): a later
    # inline run re-importing them failed ("'Figure' object has no attribute 'items'")
    monkeypatch.setenv("FGBMK_SYNTH_DIR", str(synth_dir))
    monkeypatch.syspath_prepend(str(REPO))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )

    def _run(*args: str, subprocess: bool = False) -> pytest.RunResult:
        full = (*SUITES, "--fgbmk-synth=small", *args)
        if subprocess:
            return pytester.runpytest_subprocess(*full)
        return pytester.runpytest(*full)

    return _run
