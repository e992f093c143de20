"""The Task registry: one module per FG-BMK task, each holding one :class:`Task` as ``TASK``.

Adding a task means adding one module here and its name to :data:`MODULES` (the order is
the terminal summary's: human-oriented tasks first). Each task's name is written once, in
its module; everything else looks tasks up here.
"""

from __future__ import annotations

from importlib import import_module

from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.tasks.base import MachineCase, Param, Task

MODULES = (
    "attribute",
    "knowledge_bias",
    "granularity",
    "retrieval",
    "linear_probe",
    "alignment_effect",
    "meta_categories",
    "feature_robustness",
)

TASKS: dict[str, Task] = {}
for _module in MODULES:
    _task: Task = import_module(f"pytest_fgbmk.tasks.{_module}").TASK
    TASKS[_task.name] = _task


def get_task(name: str) -> Task:
    """The registered task called ``name``; :class:`ConfigError` listing the names otherwise."""
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigError(f"unknown FG-BMK task {name!r}; use one of {', '.join(TASKS)}") from None


def human_tasks() -> list[Task]:
    return [t for t in TASKS.values() if t.kind == "human"]


def machine_tasks() -> list[Task]:
    return [t for t in TASKS.values() if t.kind == "machine"]


__all__ = ["TASKS", "MachineCase", "Param", "Task", "get_task", "human_tasks", "machine_tasks"]
