"""The ``pytest11`` entry point (``-p pytest_fgbmk.plugin``): the hooks and fixtures of
:mod:`pytest_fgbmk.pytest_plugin.hooks`, re-exported under the name existing installs and
``conftest.py`` register."""

from pytest_fgbmk.pytest_plugin.hooks import (
    COLLECTOR_KEY,
    RUN_KEY,
    CaseGate,
    ResultCollector,
    fgbmk_gate,
    fgbmk_machine_measurement,
    fgbmk_measurement,
    fgbmk_model,
    fgbmk_run,
    pytest_addoption,
    pytest_configure,
    pytest_generate_tests,
    pytest_report_header,
    pytest_runtestloop,
    pytest_sessionstart,
)

__all__ = [
    "COLLECTOR_KEY",
    "RUN_KEY",
    "CaseGate",
    "ResultCollector",
    "fgbmk_gate",
    "fgbmk_machine_measurement",
    "fgbmk_measurement",
    "fgbmk_model",
    "fgbmk_run",
    "pytest_addoption",
    "pytest_configure",
    "pytest_generate_tests",
    "pytest_report_header",
    "pytest_runtestloop",
    "pytest_sessionstart",
]
