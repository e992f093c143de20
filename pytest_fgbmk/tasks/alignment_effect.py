"""FG-BMK alignment effect: the linear probe on an LVLM's ``aligned`` (post-projector) view.

Compared with the same probe on the vision encoder's own views ("origin"); properties:
aligned and origin top-1 and the delta (a multi-label dataset: the case's own statistic,
``aligned_sample_mAP``/``origin_sample_mAP`` and their delta, as the value and gate use). Only for a model whose features have an
``aligned`` view; others skip with that reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_fgbmk.measurement import Measurement
from pytest_fgbmk.task_names import ALIGNMENT_EFFECT
from pytest_fgbmk.tasks.base import MachineCase
from pytest_fgbmk.tasks.machine import MachineTask, probe_metric, probe_value

if TYPE_CHECKING:
    from pytest_fgbmk.run.context import RunContext


class AlignmentEffect(MachineTask):
    name = ALIGNMENT_EFFECT
    title = "alignment effect"
    suite = ("test_linear_probe", "test_alignment_effect")
    order = 60

    def late_skip_reason(self, ctx: RunContext, case: Any) -> str | None:
        """Whether the model's features have an ``aligned`` view is known only from its
        features: asked after the image check (extracting reads the train images)."""
        views = ctx.features(case.dataset, "train")
        if "aligned" not in views:
            return (
                f"model {ctx.options.model} has no 'aligned' feature view "
                f"(it gives {', '.join(sorted(views))}); the alignment effect needs an "
                "LVLM with a projector (e.g. tiny-llava, hf:llava-…)"
            )
        return None

    def measure_one(self, ctx: RunContext, case: MachineCase) -> Measurement:
        from pytest_fgbmk.machine.alignment import alignment_effect

        ytr, c = ctx.labels(case.dataset, "train")
        yte, _ = ctx.labels(case.dataset, "test")
        effect = alignment_effect(
            ctx.features(case.dataset, "train"),
            ytr,
            ctx.features(case.dataset, "test"),
            yte,
            n_classes=c,
            settings=ctx.probe_settings(ytr),
        )
        # the case's own statistic for both probes (multi-label: sample-averaged mAP)
        metric = probe_metric(effect.aligned)
        aligned, origin = probe_value(effect.aligned), probe_value(effect.origin)
        props = {
            f"aligned_{metric}": 100 * aligned,
            f"origin_{metric}": 100 * origin,
            "delta": 100 * (aligned - origin),
            "origin_view": effect.origin.head.view,
        }
        protocol = "alignment:" + ctx.probe_settings(ytr).key()
        return self.probe_measurement(ctx, case, effect.aligned, protocol, props, "aligned")


TASK = AlignmentEffect()
