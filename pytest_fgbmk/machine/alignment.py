"""Origin vs aligned (the paper's Table 4): the same probe on an LVLM's vision-encoder
features (``cls`` / ``patch_mean`` / ``blocks``: "origin") and on its projector output
(``aligned``), on the same samples, splits and grid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.machine.probe import ProbeResult, ProbeSettings, dinov2_views, train_probe


@dataclass(frozen=True)
class AlignmentEffect:
    """Both probes; ``delta`` = aligned top-1 − origin top-1 (fractions)."""

    origin: ProbeResult
    aligned: ProbeResult

    @property
    def delta(self) -> float:
        return self.aligned.top1 - self.origin.top1


def alignment_effect(
    train: Mapping[str, torch.Tensor],
    train_labels: Sequence[int] | np.ndarray,
    test: Mapping[str, torch.Tensor],
    test_labels: Sequence[int] | np.ndarray,
    *,
    n_classes: int | None = None,
    settings: ProbeSettings | None = None,
    device: str | torch.device | None = None,
) -> AlignmentEffect:
    """Probe the origin views (:func:`dinov2_views`) and the ``aligned`` view separately."""
    if "aligned" not in train or "aligned" not in test:
        raise ConfigError(
            "the model's features have no 'aligned' view (only LVLMs with a projector have one)"
        )
    kw = {"n_classes": n_classes, "settings": settings, "device": device}
    origin = train_probe(dinov2_views(train), train_labels, dinov2_views(test), test_labels, **kw)
    aligned = train_probe(
        {"aligned": train["aligned"]}, train_labels, {"aligned": test["aligned"]}, test_labels, **kw
    )
    return AlignmentEffect(origin=origin, aligned=aligned)
