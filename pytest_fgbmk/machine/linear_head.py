"""The one linear-head type: weights, bias, and the predictions they make.

Two estimators fit it and stay different estimators:

* the linear-probe task's grid (:func:`pytest_fgbmk.machine.probe.train_probe`: SGD over
  ``views × learning rates × weight decays``, chosen on a validation split), whose members are
  :class:`~pytest_fgbmk.machine.probe.GridHead` (a head plus its grid coordinates);
* the ``probe:`` model's per-facet heads (:func:`pytest_fgbmk.models.probe.fit_linear`:
  L2-regularised L-BFGS-B), which are :class:`~pytest_fgbmk.models.probe.NamedHead` (a head
  plus the names of its outputs).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LinearHead:
    """``logits = ((x - mean) / std) @ weight + bias``; without ``mean``/``std``,
    ``x @ weight + bias``.

    ``weight``: (D, C); ``bias``: (C,); ``mean``, ``std``: (D,) or None (the input
    standardisation the head was trained with). ``multilabel``: C independent sigmoid
    outputs instead of one softmax over C classes.
    """

    weight: torch.Tensor
    bias: torch.Tensor
    multilabel: bool = False
    mean: torch.Tensor | None = None
    std: torch.Tensor | None = None

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C) logits of ``x`` (B, D); differentiable in ``x`` (attacks go through it)."""
        if self.mean is not None and self.std is not None:
            x = (x - self.mean) / self.std
        return x @ self.weight + self.bias

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) index of the highest logit of each row (no gradient)."""
        with torch.no_grad():
            return self.logits(x.to(self.weight.dtype)).argmax(1)

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C) class probabilities (softmax), or per-output probabilities (sigmoid) when
        ``multilabel``."""
        logits = self.logits(x)
        return torch.sigmoid(logits) if self.multilabel else torch.softmax(logits, dim=-1)
