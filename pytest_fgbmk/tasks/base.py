"""The Task interface: what one FG-BMK task declares, and the cases it is made of.

A task (attribute recognition, knowledge bias, …) is one module under
:mod:`pytest_fgbmk.tasks` holding one :class:`Task` instance. From dataset metadata alone
it lists its cases (:meth:`Task.params`: one pytest parameter each, or a reason to skip);
it says what a case needs from the model (``needs``: answers or encoded features) and
which datasets' work a case shares (:meth:`Task.resources`: the run gives all cases that
share one to the same process); and it measures its cases (:meth:`Task.measure`) into
:class:`~pytest_fgbmk.measurement.Measurement` objects whose per-sample outcomes the
baseline gate pairs. The suite test that runs a task's cases is named by ``suite``
(module, test function), which also names its baselines' folder and files.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pytest_fgbmk.data.records import Dataset, Sample
    from pytest_fgbmk.measurement import Measurement
    from pytest_fgbmk.run.context import RunContext

#: What a task needs from the model: text answers to questions, or encoded features.
Need = Literal["answers", "features"]


@dataclass(frozen=True)
class Param:
    """One parameter of a suite test: its id, its case, or the reason it is skipped."""

    id: str
    case: Any = None
    skip: str | None = None


@dataclass(frozen=True)
class MachineCase:
    """One machine-oriented case: the task, the dataset, and (robustness control) a level."""

    task: str
    dataset: str
    level: str | None = None

    @property
    def param_id(self) -> str:
        """The test's parameter id: ``synth_birds`` or ``synth_birds-genus``."""
        return self.dataset if self.level is None else f"{self.dataset}-{self.level}"

    @property
    def id(self) -> str:
        return f"{self.task}-{self.param_id}"


class Task(ABC):
    """One FG-BMK task (see the module docstring); subclasses fill in the methods.

    Class attributes: ``name`` (written once, here), ``title``, ``kind`` (``human`` or
    ``machine``), ``needs``, ``suite`` (suite module, test function), ``fixture`` (the
    parameter the suite test is parametrized with) and ``order``.
    """

    name: str = ""
    title: str = ""
    kind: Literal["human", "machine"] = "human"
    needs: Need = "answers"
    suite: tuple[str, str] = ("", "")
    fixture: str = ""
    #: Where the task comes in the registry and the terminal summary (human tasks first).
    order: int = 0

    @abstractmethod
    def params(self, ctx: RunContext) -> list[Param]:
        """The suite's parameters for the run's datasets (metadata only: no image, no model)."""

    @abstractmethod
    def resources(self, ctx: RunContext, case: Any) -> frozenset[str]:
        """Names of the work a case shares with others (one process does all that share one)."""

    @abstractmethod
    def cost(self, ctx: RunContext, case: Any) -> float:
        """A rough relative cost of measuring ``case`` (balances the work over processes)."""

    def skip_reason(self, ctx: RunContext, case: Any) -> str | None:
        """Why the loaded model cannot run ``case`` (it lacks a capability), or None."""
        model = ctx.model()
        if self.needs == "answers" and not model.can_answer:
            return (
                f"model {ctx.options.model} cannot answer questions "
                "(human-oriented cases need the answer capability)"
            )
        if self.needs == "features" and not model.can_encode:
            return (
                f"model {ctx.options.model} cannot encode images "
                "(machine-oriented cases need the encode capability)"
            )
        return None

    def late_skip_reason(self, ctx: RunContext, case: Any) -> str | None:
        """Why ``case`` cannot be run, when telling needs the model's output on the data
        (the alignment effect: whether the features have an ``aligned`` view), or None.
        Called after the image check, so it may read the images :meth:`images` lists;
        :meth:`skip_reason` is called before it and must read none."""
        return None

    @abstractmethod
    def images(self, ctx: RunContext, case: Any) -> Iterable[tuple[Dataset, Sample]]:
        """Every image measuring ``case`` reads, as (dataset, sample) pairs (metadata only).

        The run checks each of them before any case is scored
        (:mod:`pytest_fgbmk.data.verify`): one rule for every task.
        """

    @abstractmethod
    def measure(self, ctx: RunContext, cases: Sequence[Any]) -> dict[str, Measurement]:
        """Measure ``cases`` (all this process measures of this task), by case id."""

    @abstractmethod
    def param_id(self, case: Any) -> str:
        """The case's pytest parameter id (part of its test name and baseline file name)."""
