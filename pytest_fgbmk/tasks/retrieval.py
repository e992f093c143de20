"""FG-BMK image retrieval: mAP over the whole ranked gallery, recall@1/@10.

Query = each test image, gallery = the train split, cosine similarity on L2-normalised
``cls`` features (:func:`pytest_fgbmk.machine.retrieval.retrieval_metrics`). Outcome per
query: its average precision (paired by the gate's sign-flip test) and whether its nearest
gallery item is of its class. Interval: percentile bootstrap of the mean per-query AP
(2,000 resamples, seeded by dataset and task). Queries without a positive in the gallery
are left out and counted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.hashing import stable_seed
from pytest_fgbmk.measurement import Measurement, Outcome
from pytest_fgbmk.stats import bootstrap_percent_interval
from pytest_fgbmk.task_names import RETRIEVAL
from pytest_fgbmk.tasks.base import MachineCase
from pytest_fgbmk.tasks.machine import MachineTask

if TYPE_CHECKING:
    from pytest_fgbmk.run.context import RunContext

RETRIEVAL_VIEW = "cls"
RECALL_KS = (1, 10)


class Retrieval(MachineTask):
    name = RETRIEVAL
    title = "image retrieval"
    suite = ("test_retrieval", "test_retrieval")
    order = 40
    single_label = True

    def measure_one(self, ctx: RunContext, case: MachineCase) -> Measurement:
        from pytest_fgbmk.machine.retrieval import retrieval_metrics

        train = ctx.features(case.dataset, "train")
        test = ctx.features(case.dataset, "test")
        if RETRIEVAL_VIEW not in train:
            raise ConfigError(f"the model's features have no {RETRIEVAL_VIEW!r} view")
        ytr, _ = ctx.labels(case.dataset, "train")
        yte, _ = ctx.labels(case.dataset, "test")
        r = retrieval_metrics(test[RETRIEVAL_VIEW], yte, train[RETRIEVAL_VIEW], ytr, ks=RECALL_KS)
        ids, names = self.ids_and_names(ctx, case.dataset)
        valid = np.flatnonzero(r.valid)
        outcomes = tuple(
            Outcome(
                question_id=ids[i],
                correct=bool(r.hits[1][i]),
                response=f"AP {r.ap[i]:.4f}",
                how="retrieval",
                category=names[i],
                score=float(r.ap[i]),
            )
            for i in valid
        )
        low, high = bootstrap_percent_interval(r.ap[valid], stable_seed(case.dataset, case.task))
        props: dict[str, Any] = {"mAP": 100 * r.mean_ap if valid.size else 0.0}
        for k in RECALL_KS:
            props[f"recall@{k}"] = 100 * r.recall(k) if valid.size else 0.0
        props.update(
            view=RETRIEVAL_VIEW,
            gallery=len(ytr),
            queries_without_positive=r.without_positive,
            interval_method="percentile bootstrap of per-query AP",
        )
        if ctx.options.protocol == "release":
            props.update(release_properties(ctx, case, test[RETRIEVAL_VIEW], train[RETRIEVAL_VIEW]))
        return self.measurement(
            ctx,
            case,
            facet=RETRIEVAL_VIEW,
            qtype="test-vs-train",
            metric="mAP",
            value=props["mAP"],
            interval=(low, high),
            outcomes=outcomes,
            protocol=f"retrieval:{RETRIEVAL_VIEW};cosine;test-vs-train",
            details={
                "per_query": [(o.question_id, o.score) for o in outcomes],
                "properties": props,
            },
        )


def release_properties(
    ctx: RunContext, case: MachineCase, query: Any, gallery: Any
) -> dict[str, Any]:
    """The release's retrieval figures (``--fgbmk-protocol release``), labelled, never gated:
    its "mAP" (the class's reciprocal rank among the 10 nearest neighbours' classes, Euclidean
    distance) and its recall@k averaged per class."""
    from pytest_fgbmk.machine.release_protocol import (
        RELEASE_KS,
        RELEASE_LABEL,
        release_retrieval,
    )

    ytr, c = ctx.labels(case.dataset, "train")
    yte, _ = ctx.labels(case.dataset, "test")
    rel = release_retrieval(query, yte, gallery, ytr, n_classes=c)
    props: dict[str, Any] = {
        "release_protocol": RELEASE_LABEL,
        "release_mAP": 100 * rel.mean_reciprocal_rank,
    }
    for k in RELEASE_KS:
        props[f"release_recall@{k}"] = 100 * rel.recall(k)
    props["release_metric"] = (
        "mAP: class reciprocal rank over the 10 nearest neighbours (Euclidean); "
        "recall@k averaged per class"
    )
    return props


TASK = Retrieval()
