"""FG-BMK image classification on frozen features: the DINOv2-protocol linear probe.

Top-1 of the probe (:mod:`pytest_fgbmk.machine.probe`, its default grid: views
``cls``/``cls4`` ± mean patch × learning rates × weight decays on preconditioned features;
the head chosen on a validation split carved from train, never on test). Outcome per test
image: correct or not (McNemar); interval: Wilson. Multi-label datasets (DeepFashion,
SkinCon) report one statistic for value, interval and gate: the sample-averaged mAP
(``sample_mAP``: each test image's AP over its labels, averaged over images; percentile
bootstrap interval; the gate pairs the per-image APs), with the label-averaged mAP beside
it as the property ``label_mAP``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_fgbmk.measurement import Measurement
from pytest_fgbmk.task_names import LINEAR_PROBE
from pytest_fgbmk.tasks.base import MachineCase
from pytest_fgbmk.tasks.machine import MachineTask, probe_properties

if TYPE_CHECKING:
    from pytest_fgbmk.run.context import RunContext


class LinearProbe(MachineTask):
    name = LINEAR_PROBE
    title = "linear probe"
    suite = ("test_linear_probe", "test_linear_probe")
    order = 50

    def measure_one(self, ctx: RunContext, case: MachineCase) -> Measurement:
        result = ctx.probe(case.dataset)
        ytr, _ = ctx.labels(case.dataset, "train")
        protocol = "probe:" + ctx.probe_settings(ytr).key()
        props = probe_properties(result)
        if ctx.options.protocol == "release":
            props.update(release_probe_properties(ctx, case, ytr))
        return self.probe_measurement(ctx, case, result, protocol, props, result.head.view)


def release_probe_properties(ctx: RunContext, case: MachineCase, ytr: Any) -> dict[str, Any]:
    """The release's probe (``--fgbmk-protocol release``): its grid and schedule, the head
    with the best top-1 on the test split; labelled, never gated. Single-label only."""
    from pytest_fgbmk.machine.release_protocol import (
        RELEASE_LABEL,
        release_probe,
        release_probe_settings,
        release_views,
    )

    if ytr.ndim != 1:
        return {
            "release_protocol": RELEASE_LABEL,
            "release_top1": "not computed: multi-label (the release's probe here is single-label)",
        }
    settings = release_probe_settings(ctx.options.seed)
    yte, c = ctx.labels(case.dataset, "test")
    train = release_views(ctx.features(case.dataset, "train"), settings.blocks)
    test = release_views(ctx.features(case.dataset, "test"), settings.blocks)
    r = release_probe(train, ytr, test, yte, c, settings)
    return {
        "release_protocol": RELEASE_LABEL,
        "release_top1": 100 * r.top1,
        "release_mean_per_class": 100 * r.mean_per_class,
        "release_head": r.head,
        "release_settings": settings.key(),
    }


TASK = LinearProbe()
