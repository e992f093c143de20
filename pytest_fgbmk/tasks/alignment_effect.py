"""FG-BMK alignment effect: the linear probe on an LVLM's ``aligned`` (post-projector) view.

Compared with the same probe on the vision encoder's own views ("origin"); properties:
aligned and origin top-1 and the delta. Only for a model whose features have an
``aligned`` view; others skip with that reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_fgbmk.measurement import Measurement
from pytest_fgbmk.task_names import ALIGNMENT_EFFECT
from pytest_fgbmk.tasks.base import MachineCase
from pytest_fgbmk.tasks.machine import MachineTask

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
        props = {
            "aligned_top1": 100 * effect.aligned.top1,
            "origin_top1": 100 * effect.origin.top1,
            "delta": 100 * effect.delta,
            "origin_view": effect.origin.head.view,
        }
        protocol = "alignment:" + ctx.probe_settings(ytr).key()
        return self.probe_measurement(ctx, case, effect.aligned, protocol, props, "aligned")


TASK = AlignmentEffect()
