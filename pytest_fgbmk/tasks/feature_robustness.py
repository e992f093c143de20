"""FG-BMK robustness: top-1 after a projected-gradient (PGD) perturbation of the features.

L∞ PGD in feature space against a linear head, at the relative radius
:data:`DEFAULT_EPS_REL` (:mod:`pytest_fgbmk.machine.robustness`), beside the exact worst
case of the same ball (:mod:`pytest_fgbmk.machine.worst_case`; property ``exact_top1`` and
``exact_curve``, reported, never gated: a certificate PGD cannot pass, where PGD is the
paper's procedure). The head is the plain
DINOv2 grid (:data:`ROBUSTNESS_PROBE`: no preconditioner, 60 epochs, 3 weight decays), as
in the release: the preconditioned head is more accurate but leans on low-variance
directions that an L∞ attack breaks at once (on the synthetic birds at eps 0.01: 0.3 %
left against 25.6 %), which would measure the head rather than the encoder's features.
Properties: clean top-1, the drop and the whole curve, each radius's PGD figure with its
exact one. On the bundled synthetic data
``synth_birds`` gets a coarse control case at its taxonomy level with the number of
classes nearest :data:`COARSE_TARGET` (the genus, 8 classes at the default size): the same
images and features, coarse labels, as CIFAR-100 is the generic control when present.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pytest_fgbmk.measurement import Measurement
from pytest_fgbmk.task_names import FEATURE_ROBUSTNESS
from pytest_fgbmk.tasks.base import MachineCase
from pytest_fgbmk.tasks.machine import MachineTask, finest_level

if TYPE_CHECKING:
    from pytest_fgbmk.data.records import Dataset
    from pytest_fgbmk.run.context import RunContext

#: Relative L∞ radius of the gated robustness figure (see :mod:`pytest_fgbmk.machine.robustness`).
DEFAULT_EPS_REL = 0.01
ROBUSTNESS_NORM = "linf"
#: The coarse control's level: the one whose class count is nearest this.
COARSE_TARGET = 10
COARSE_DATASET = "synth_birds"
#: Probe settings of the robustness head (see the module docstring): the plain DINOv2 grid.
ROBUSTNESS_PROBE = {
    "shrinkage": 0.0,
    "epochs": 60,
    "min_steps": 0,
    "weight_decays": (1e-4, 1e-3, 1e-2),
}


def coarse_level(dataset: Dataset) -> str | None:
    """The taxonomy level (coarser than the categories, ≥ 2 classes) nearest :data:`COARSE_TARGET`."""
    best: tuple[int, int, str] | None = None
    n_fine = len(dataset.categories)
    for i, level in enumerate(dataset.levels):
        n = len({c.taxonomy[i] for c in dataset.categories if len(c.taxonomy) > i})
        if 2 <= n < n_fine:
            key = (abs(n - COARSE_TARGET), i, level)
            best = key if best is None or key < best else best
    return None if best is None else best[2]


class FeatureRobustness(MachineTask):
    name = FEATURE_ROBUSTNESS
    title = "feature robustness"
    suite = ("test_feature_robustness", "test_feature_robustness")
    order = 80
    single_label = True

    def extra_cases(self, ctx: RunContext, ds: Dataset) -> list[MachineCase]:
        if not ctx.data().synthetic or ds.name != COARSE_DATASET:
            return []
        level = coarse_level(ds)
        return [] if level is None else [MachineCase(self.name, ds.name, level)]

    def measure_one(self, ctx: RunContext, case: MachineCase) -> Measurement:
        from pytest_fgbmk.machine.robustness import DEFAULT_EPS, DEFAULT_STEPS, feature_robustness

        result = ctx.probe(case.dataset, case.level, ROBUSTNESS_PROBE, purpose="robustness head")
        head = result.head
        yte, _ = ctx.labels(case.dataset, "test", case.level)
        radii = tuple(sorted({*DEFAULT_EPS, DEFAULT_EPS_REL}))
        rob = feature_robustness(
            head,
            ctx.views(case.dataset, "test")[head.view],
            yte,
            eps_rel=radii,
            norm=ROBUSTNESS_NORM,
            steps=DEFAULT_STEPS,
            seed=ctx.options.seed,
        )
        level = case.level or finest_level(ctx.dataset(case.dataset))
        props = {
            "clean_top1": 100 * rob.clean_top1,
            "perturbed_top1": 100 * rob.top1(DEFAULT_EPS_REL),
            "drop": 100 * rob.drop(DEFAULT_EPS_REL),
            "eps_rel": f"{DEFAULT_EPS_REL:g}",
            "eps_abs": f"{rob.eps_abs[radii.index(DEFAULT_EPS_REL)]:.4g}",
            "norm": ROBUSTNESS_NORM,
            "level": level,
            "view": head.view,
            "curve": json.dumps({f"{e:g}": round(100 * rob.top1(e), 2) for e in radii}),
            "exact_top1": 100 * rob.exact_top1(DEFAULT_EPS_REL),
            "exact_curve": json.dumps({f"{e:g}": round(100 * rob.exact_top1(e), 2) for e in radii}),
        }
        ytr, _ = ctx.labels(case.dataset, "train", case.level)
        protocol = (
            f"pgd:{ROBUSTNESS_NORM};eps={DEFAULT_EPS_REL:g};steps={DEFAULT_STEPS};"
            f"level={case.level or '-'};probe:{ctx.probe_settings(ytr, ROBUSTNESS_PROBE).key()}"
        )
        return self.sample_measurement(
            ctx,
            case,
            rob.correct[DEFAULT_EPS_REL],
            multilabel=False,
            value=rob.top1(DEFAULT_EPS_REL),
            protocol=protocol,
            props=props,
            facet=level,
        )


TASK = FeatureRobustness()
