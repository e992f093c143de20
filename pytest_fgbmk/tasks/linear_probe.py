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

from typing import TYPE_CHECKING

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
        return self.probe_measurement(
            ctx, case, result, protocol, probe_properties(result), result.head.view
        )


TASK = LinearProbe()
