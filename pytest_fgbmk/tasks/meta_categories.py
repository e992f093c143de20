"""FG-BMK classification across meta-categories: one probe over the union of datasets' classes.

The multiple (union-of-datasets) probe's top-1 on each dataset's test split; properties:
single top-1 (the dataset's own probe), multiple top-1 and the drop. Needs at least two
single-label datasets; the union probe is trained once for all of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pytest_fgbmk.measurement import Measurement
from pytest_fgbmk.task_names import META_CATEGORIES
from pytest_fgbmk.tasks.base import MachineCase
from pytest_fgbmk.tasks.machine import MachineTask, split_problem

if TYPE_CHECKING:
    from pytest_fgbmk.data.records import Dataset
    from pytest_fgbmk.run.context import RunContext


def meta_names(ctx: RunContext) -> list[str]:
    """The datasets combined across meta-categories: every selected single-label one."""
    data = ctx.data()
    return [n for n, d in data.datasets.items() if not d.multilabel and not split_problem(d)]


class MetaCategories(MachineTask):
    name = META_CATEGORIES
    title = "classification across meta-categories"
    suite = ("test_meta_categories", "test_meta_categories")
    order = 70
    single_label = True

    def dataset_problem(self, ctx: RunContext, ds: Dataset) -> str | None:
        reason = super().dataset_problem(ctx, ds)
        single = meta_names(ctx)
        if reason is None and len(single) < 2:
            have = ", ".join(single) or "none"
            return (
                "classification across meta-categories needs at least 2 single-label datasets "
                f"selected (have: {have}); select more with --fgbmk-datasets"
            )
        return reason

    def resources(self, ctx: RunContext, case: MachineCase) -> frozenset[str]:
        # the union probe needs every combined dataset's features
        return frozenset(f"features:{n}" for n in meta_names(ctx))

    def datasets_read(self, ctx: RunContext, case: MachineCase) -> list[str]:
        return meta_names(ctx)

    def cost(self, ctx: RunContext, case: MachineCase) -> float:
        return 0.5 * sum(len(ctx.dataset(n).samples) for n in meta_names(ctx))

    def measure_one(self, ctx: RunContext, case: MachineCase) -> Measurement:
        from pytest_fgbmk.machine.meta import ProbeTask, across_meta_categories

        names = meta_names(ctx)
        tasks = []
        for n in names:
            ytr, c = ctx.labels(n, "train")
            yte, _ = ctx.labels(n, "test")
            tasks.append(ProbeTask(n, ctx.views(n, "train"), ytr, ctx.views(n, "test"), yte, c))
        # the largest class decides the validation fraction; offsets keep classes apart
        offsets = np.cumsum([0] + [t.n_classes for t in tasks])
        union = np.concatenate([t.train_labels + offsets[i] for i, t in enumerate(tasks)])
        settings = ctx.probe_settings(union)
        key = "meta_categories:" + ",".join(names)
        if key not in ctx.shared:
            ctx.shared[key] = across_meta_categories(
                tasks, settings=settings, progress=ctx.progress, label="fgbmk meta-categories"
            )
        outcome = ctx.shared[key][case.dataset]
        hashes = ctx.data().datasets
        combined = "+".join(f"{n}@{hashes[n].index_hash[:12]}" for n in names)
        props = {
            "single_top1": 100 * outcome.single_top1,
            "multiple_top1": 100 * outcome.multiple_top1,
            "drop": 100 * outcome.drop,
            "datasets": ",".join(names),
            "union_classes": int(offsets[-1]),
        }
        return self.sample_measurement(
            ctx,
            case,
            outcome.multiple_correct,
            multilabel=False,
            value=outcome.multiple_top1,
            protocol=f"meta:{combined};probe:{settings.key()}",
            props=props,
            facet="union",
        )


TASK = MetaCategories()
