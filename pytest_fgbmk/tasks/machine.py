"""What the machine-oriented tasks share: one case per dataset, features, per-sample outcomes.

The cases of a machine task are parametrized per selected dataset from metadata alone; a
dataset without a train or test split, or (for single-label tasks) a multi-label one, is a
skipped parameter that says why. Features come from the run context (extracted once per
dataset split into the feature store, shared by every case); probes are trained once.

Per-sample outcomes: a probe case pairs each test image's correctness (exact McNemar), a
multi-label probe case and retrieval pair per-image/per-query values (sign-flip test).
Intervals: Wilson for correctness, percentile bootstrap of the mean for values.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_fgbmk import rule_versions
from pytest_fgbmk.hashing import stable_seed
from pytest_fgbmk.measurement import Asked, Measurement, Outcome
from pytest_fgbmk.stats import bootstrap_percent_interval, wilson_interval
from pytest_fgbmk.tasks.base import MachineCase, Param, Task

if TYPE_CHECKING:
    from pytest_fgbmk.data.records import Dataset, Sample
    from pytest_fgbmk.machine.probe import ProbeResult
    from pytest_fgbmk.run.context import RunContext

#: The parameter the machine-oriented suites are parametrized with.
MACHINE_FIXTURE = "fgbmk_machine_case"
#: Protocols whose numbers rest on a trained linear probe (its grid and head selection).
PROBE_PROTOCOLS = ("probe:", "alignment:", "meta:", "pgd:")
#: Protocols whose numbers rest on the feature-space attack (``machine/robustness.py``).
ATTACK_PROTOCOLS = ("pgd:",)
#: Protocols whose figures come from :mod:`pytest_fgbmk.machine.retrieval`.
RETRIEVAL_PROTOCOLS = ("retrieval:",)
#: A multi-label probe case's metric: the mean over test images of each image's AP over labels.
SAMPLE_MAP = "sample_mAP"


def split_problem(ds: Dataset) -> str | None:
    """Why a dataset cannot be measured by a machine task (no train or test split), or None."""
    missing = [s for s in ("train", "test") if not ds.split(s)]
    if missing:
        return (
            f"dataset {ds.name} has no {' and no '.join(missing)} split "
            "(machine-oriented cases probe on train and measure on test)"
        )
    return None


def finest_level(ds: Dataset) -> str:
    return ds.levels[-1] if ds.levels else "category"


class MachineTask(Task):
    """A task on the model's visual features (subclasses set the names and ``measure_one``)."""

    kind = "machine"
    needs = "features"
    fixture = MACHINE_FIXTURE
    #: Multi-label datasets are skipped by tasks that need single-label classes.
    single_label = False

    def params(self, ctx: RunContext) -> list[Param]:
        data = ctx.data()
        out = []
        for name, ds in data.datasets.items():
            reason = split_problem(ds) or self.dataset_problem(ctx, ds)
            case = None if reason else MachineCase(self.name, name)
            out.append(Param(name, case, reason))
            if case is not None:
                out += [Param(c.param_id, c) for c in self.extra_cases(ctx, ds)]
        if not out:
            reason = f"no dataset selected under {data.label} for {self.name}"
            out.append(Param(f"no-{self.name}-case", None, reason))
        return out

    def dataset_problem(self, ctx: RunContext, ds: Dataset) -> str | None:
        """Why this task cannot measure ``ds`` (beyond missing splits), or None."""
        if self.single_label and ds.multilabel:
            return (
                f"{self.name} needs single-label classes; {ds.name} is multi-label "
                "(its linear probe reports the sample-averaged mAP over labels)"
            )
        return None

    def extra_cases(self, ctx: RunContext, ds: Dataset) -> list[MachineCase]:
        """Cases beyond the dataset's own (the robustness task's coarse control)."""
        return []

    def param_id(self, case: MachineCase) -> str:
        return case.param_id

    def resources(self, ctx: RunContext, case: MachineCase) -> frozenset[str]:
        return frozenset({f"features:{case.dataset}"})

    def datasets_read(self, ctx: RunContext, case: MachineCase) -> list[str]:
        """The datasets whose features the case reads (its own; several for the union)."""
        return [case.dataset]

    def images(self, ctx: RunContext, case: MachineCase) -> Iterable[tuple[Dataset, Sample]]:
        """Every train and test image of the datasets the case reads (their features)."""
        out = []
        for name in self.datasets_read(ctx, case):
            ds = ctx.dataset(name)
            out += [(ds, s) for split in ("train", "test") for s in ds.split(split)]
        return out

    def cost(self, ctx: RunContext, case: MachineCase) -> float:
        # A dataset's features are shared by about five cases, and encoding an image costs
        # a fraction of answering a question (the vision tower alone): half a question an
        # image and case, roughly.
        return 0.5 * len(ctx.dataset(case.dataset).samples)

    def measure(self, ctx: RunContext, cases: Sequence[Any]) -> dict[str, Measurement]:
        return {case.id: self.measure_one(ctx, case) for case in cases}

    @abstractmethod
    def measure_one(self, ctx: RunContext, case: MachineCase) -> Measurement:
        """Measure one case of this task."""

    # -- helpers shared by the machine tasks ------------------------------------------

    @staticmethod
    def asked(ctx: RunContext, case: MachineCase, protocol: str) -> Asked:
        ds = ctx.dataset(case.dataset)
        return Asked(
            dataset=ds.name,
            dataset_hash=ds.index_hash,
            templates="-",
            scoring=protocol,
            limit=None,
            seed=ctx.options.seed,
            rules=rule_versions.rules(
                "images",
                "features",
                *(["probe"] if protocol.startswith(PROBE_PROTOCOLS) else []),
                *(["robustness"] if protocol.startswith(ATTACK_PROTOCOLS) else []),
                *(["retrieval"] if protocol.startswith(RETRIEVAL_PROTOCOLS) else []),
            ),
            exif_orientation=ds.exif_orientation,
            model_settings=ctx.model_settings(answers=False),
        )

    def measurement(
        self,
        ctx: RunContext,
        case: MachineCase,
        *,
        facet: str,
        qtype: str,
        metric: str,
        value: float,
        interval: tuple[float, float],
        outcomes: tuple[Outcome, ...],
        protocol: str,
        details: dict[str, Any],
    ) -> Measurement:
        """A machine case's measurement (``value`` and ``interval`` in percent; no answers
        to parse, so nothing unparsed and no errors)."""
        return Measurement(
            case_id=case.id,
            dataset=case.dataset,
            task=case.task,
            facet=facet,
            qtype=qtype,
            metric=metric,
            value=value,
            n=len(outcomes),
            low=interval[0],
            high=interval[1],
            unparsed_rate=0.0,
            errors=0,
            outcomes=outcomes,
            asked=self.asked(ctx, case, protocol),
            details=details,
        )

    @staticmethod
    def ids_and_names(ctx: RunContext, dataset: str) -> tuple[list[str], list[str]]:
        samples = ctx.dataset(dataset).split("test")
        return [s.id for s in samples], [s.category_name for s in samples]

    def sample_measurement(
        self,
        ctx: RunContext,
        case: MachineCase,
        per_sample: np.ndarray,
        *,
        multilabel: bool,
        value: float,
        protocol: str,
        props: dict[str, Any],
        facet: str,
        predictions: np.ndarray | None = None,
    ) -> Measurement:
        """A measurement from per-test-image outcomes: correctness, or AP over labels.

        ``value`` is a fraction (0–1); single-label cases get a Wilson interval and the
        gate pairs their correctness (McNemar); multi-label ones a bootstrap interval and
        per-image AP as paired values.
        """
        ids, names = self.ids_and_names(ctx, case.dataset)
        per = np.asarray(per_sample, dtype=float)
        keep = np.flatnonzero(~np.isnan(per))
        if multilabel:
            responses = [f"AP {per[i]:.4f}" for i in range(len(per))]
        elif predictions is not None:
            responses = [f"predicted {int(p)}" for p in predictions]
        else:
            responses = ["right" if x else "wrong" for x in per]
        outcomes = tuple(
            Outcome(
                question_id=ids[i],
                correct=bool(per[i] >= 1.0),
                response=responses[i],
                how=case.task,
                category=names[i],
                score=float(per[i]),
            )
            for i in keep
        )
        details: dict[str, Any] = {"properties": props}
        if multilabel:
            low, high = bootstrap_percent_interval(per[keep], stable_seed(case.dataset, case.task))
            details["per_query"] = [(o.question_id, o.score) for o in outcomes]
        else:
            low, high = (100 * x for x in wilson_interval(int(per[keep].sum()), int(keep.size)))
        return self.measurement(
            ctx,
            case,
            facet=facet,
            qtype="linear-probe",
            metric=SAMPLE_MAP if multilabel else "top1",
            value=100 * value,
            interval=(low, high),
            outcomes=outcomes,
            protocol=protocol,
            details=details,
        )

    def probe_measurement(
        self,
        ctx: RunContext,
        case: MachineCase,
        result: ProbeResult,
        protocol: str,
        props: dict[str, Any],
        facet: str,
    ) -> Measurement:
        """A probe case's measurement. Multi-label: the value is the sample-averaged mAP
        (mean over test images of each image's AP over labels), the statistic its interval
        and the gate's paired outcomes use; the label-averaged mAP is reported beside it as
        the ``label_mAP`` property. Single-label: top-1 and each image's correctness."""
        multilabel = result.head.multilabel
        value = probe_value(result)
        if multilabel:
            props = {**props, "label_mAP": 100 * result.top1}
            protocol = f"{protocol};value={SAMPLE_MAP}"
        return self.sample_measurement(
            ctx,
            case,
            result.per_sample,
            multilabel=multilabel,
            value=value,
            protocol=protocol,
            props=props,
            facet=facet,
            predictions=None if multilabel else result.predictions,
        )


def probe_metric(result: ProbeResult) -> str:
    """The name of what a probe case measures: ``top1``, or ``sample_mAP`` (multi-label)."""
    return SAMPLE_MAP if result.head.multilabel else "top1"


def probe_value(result: ProbeResult) -> float:
    """A probe's figure (a fraction) under :func:`probe_metric`: top-1, or for a
    multi-label head the mean over test images of each image's AP over its labels (0 when
    no image has a positive label); ``ProbeResult.top1`` of a multi-label head is the
    label-averaged mAP, reported as ``label_mAP`` and never under the case's metric."""
    if not result.head.multilabel:
        return float(result.top1)
    per = np.asarray(result.per_sample, dtype=float)
    return float(np.nanmean(per)) if np.isfinite(per).any() else 0.0


def probe_properties(result: ProbeResult) -> dict[str, Any]:
    """A probe case's reported figures: top-1 and mean per-class accuracy (a multi-label
    head: ``label_mAP``, the label-averaged mAP, beside the case's sample-averaged value),
    the chosen head, and how it was chosen (``folds`` 0: on a held-out split; k: by k-fold
    cross-validation)."""
    h = result.head
    figures = (
        {"label_mAP": 100 * result.top1}
        if h.multilabel
        else {"top1": 100 * result.top1, "mean_per_class": 100 * result.mean_per_class}
    )
    return {
        **figures,
        "view": h.view,
        "lr": f"{h.lr:.3g}",
        "weight_decay": f"{h.weight_decay:.3g}",
        "val_score": 100 * max(result.val_scores.values()),
        "n_fit": result.n_fit,
        "n_val": result.n_val,
        "folds": result.folds,
    }
