"""Classification across meta-categories: one probe over the union of several datasets.

Each dataset's train split joins one training set, its labels offset past the previous
datasets' classes; the probe (grid, validation choice) is the single-dataset one. Each
dataset's test split is then scored over the *union* of classes, so an image taken for a
class of another dataset counts wrong. Reported per dataset: single-dataset top-1 (its own
probe), multiple top-1 (the union probe) and the drop (the paper's Figure 8).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.machine.probe import ProbeResult, ProbeSettings, train_probe
from pytest_fgbmk.progress import ProgressOutput


@dataclass(frozen=True)
class ProbeTask:
    """One dataset's cached probe inputs (views by name; labels are class indices)."""

    name: str
    train_views: Mapping[str, torch.Tensor]
    train_labels: np.ndarray
    test_views: Mapping[str, torch.Tensor]
    test_labels: np.ndarray
    n_classes: int


@dataclass(frozen=True)
class MetaOutcome:
    """One dataset's single vs multiple top-1 (fractions 0–1) and per-sample correctness."""

    name: str
    single: ProbeResult
    multiple_correct: np.ndarray

    @property
    def single_top1(self) -> float:
        return self.single.top1

    @property
    def multiple_top1(self) -> float:
        return float(self.multiple_correct.mean())

    @property
    def drop(self) -> float:
        return self.single_top1 - self.multiple_top1


def across_meta_categories(
    tasks: Sequence[ProbeTask],
    *,
    settings: ProbeSettings | None = None,
    device: str | torch.device | None = None,
    progress: ProgressOutput | None = None,
    label: str = "meta-categories",
) -> dict[str, MetaOutcome]:
    """Single-dataset probes and one union probe, each dataset tested on its own test split.

    ``progress``: each probe's epochs (see :func:`train_probe`), in lines starting with
    ``"{label} {dataset} alone:"`` for the single-dataset probes, then
    ``"{label} union of {n} datasets:"`` for the union probe (usually the longest: every
    dataset's train split, every class); None: silent. Reporting changes no number.
    Raises :class:`ConfigError` for fewer than two datasets, repeated names, or no feature
    view of one dimension shared by all.
    """
    if len(tasks) < 2:
        raise ConfigError("classification across meta-categories needs at least two datasets")
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise ConfigError(f"dataset names repeat: {names}")
    views = set(tasks[0].train_views)
    for t in tasks[1:]:
        views &= set(t.train_views)
    views = {v for v in views if len({t.train_views[v].shape[1] for t in tasks}) == 1}
    if not views:
        raise ConfigError(f"datasets {names} share no feature view of one dimension")
    singles = {
        t.name: train_probe(
            {v: t.train_views[v] for v in views},
            t.train_labels,
            {v: t.test_views[v] for v in views},
            t.test_labels,
            n_classes=t.n_classes,
            settings=settings,
            device=device,
            progress=progress,
            label=f"{label} {t.name} alone:",
        )
        for t in tasks
    }
    offsets = np.cumsum([0] + [t.n_classes for t in tasks])
    union_train = {v: torch.cat([torch.as_tensor(t.train_views[v]) for t in tasks]) for v in views}
    union_labels = np.concatenate(
        [np.asarray(t.train_labels) + offsets[i] for i, t in enumerate(tasks)]
    )
    union_test = {v: torch.cat([torch.as_tensor(t.test_views[v]) for t in tasks]) for v in views}
    test_labels = np.concatenate(
        [np.asarray(t.test_labels) + offsets[i] for i, t in enumerate(tasks)]
    )
    union = train_probe(
        union_train,
        union_labels,
        union_test,
        test_labels,
        n_classes=int(offsets[-1]),
        settings=settings,
        device=device,
        progress=progress,
        label=f"{label} union of {len(tasks)} datasets:",
    )
    out = {}
    start = 0
    for t in tasks:
        n = len(t.test_labels)
        out[t.name] = MetaOutcome(t.name, singles[t.name], union.per_sample[start : start + n])
        start += n
    return out
