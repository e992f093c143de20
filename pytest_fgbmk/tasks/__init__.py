"""The Task registry: every module of this package holding a :class:`Task` as ``TASK``.

Adding a task means adding one module here (its ``order`` places it; human-oriented tasks
come first). Each task's name is written once, in its module; everything else looks tasks
up here.
"""

from __future__ import annotations

import pkgutil
from importlib import import_module

from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.tasks.base import MachineCase, Param, Task


def _discover() -> dict[str, Task]:
    found: list[Task] = []
    for info in pkgutil.iter_modules(__path__):
        task = getattr(import_module(f"{__name__}.{info.name}"), "TASK", None)
        if isinstance(task, Task):
            found.append(task)
    found.sort(key=lambda t: (t.order, t.name))
    return {t.name: t for t in found}


TASKS: dict[str, Task] = _discover()


def get_task(name: str) -> Task:
    """The registered task called ``name``; :class:`ConfigError` listing the names otherwise."""
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigError(f"unknown FG-BMK task {name!r}; use one of {', '.join(TASKS)}") from None


__all__ = ["TASKS", "MachineCase", "Param", "Task", "get_task"]
