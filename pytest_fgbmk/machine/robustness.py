"""Robustness: projected gradient descent (PGD) against a trained linear head.

Feature space by default: the attack perturbs the frozen features the head reads, within
an L∞ or L2 ball whose radius is given *relative to the feature scale*:

* L2: ``eps = eps_rel · mean ‖x‖₂`` over the attacked features;
* L∞: ``eps = eps_rel · mean ‖x‖₂ / √d`` (the root-mean-square coordinate).

Each attack starts at a random point of the ball, takes ``steps`` ascent steps on the
margin loss ``max_{k≠y} z_k − z_y`` (sign of the gradient for L∞, the normalised gradient
for L2; cross-entropy is an option, but its gradient vanishes in float32 on confident
samples, so the attack would stall inside the ball) of size ``2.5 · eps / steps``, so the boundary is reached (the release's PGD never
reaches its bound), and projects back onto the ball after every step.

Reported per radius: perturbed top-1 and every sample's correctness. A perturbation within
a smaller ball is inside every larger one, so a sample broken at one radius counts as broken
at all larger ones: perturbed accuracy is monotone non-increasing in eps by construction,
and eps = 0 is the clean accuracy exactly. Pixel space is an option through
:func:`pgd` with a differentiable ``encoder → head`` forward and a ``[0, 1]`` clamp.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.machine.linear_head import LinearHead
from pytest_fgbmk.machine.probe import GridHead

NORMS = ("linf", "l2")
DEFAULT_EPS = (0.0, 0.01, 0.02, 0.05, 0.1)
DEFAULT_STEPS = 20
STEP_FACTOR = 2.5


@dataclass(frozen=True)
class RobustnessResult:
    """Clean and perturbed top-1 (fractions 0–1) for each relative radius."""

    norm: str
    eps_rel: tuple[float, ...]
    eps_abs: tuple[float, ...]
    clean_correct: np.ndarray
    correct: dict[float, np.ndarray]
    max_perturbation: dict[float, float]

    @property
    def clean_top1(self) -> float:
        return float(self.clean_correct.mean())

    def top1(self, eps_rel: float) -> float:
        return float(self.correct[eps_rel].mean())

    def drop(self, eps_rel: float) -> float:
        return self.clean_top1 - self.top1(eps_rel)


def _margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    true = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.scatter(1, y[:, None], -torch.inf).amax(1)
    return (other - true).sum()


def _cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(logits, y, reduction="sum")


LOSSES = {"margin": _margin, "ce": _cross_entropy}


def _norm_of(delta: torch.Tensor, norm: str) -> torch.Tensor:
    flat = delta.flatten(1)
    return flat.abs().amax(1) if norm == "linf" else flat.norm(dim=1)


def _project(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    if norm == "linf":
        return delta.clamp(-eps, eps)
    n = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
    factor = (eps / n).clamp(max=1.0)
    return delta * factor.view(-1, *([1] * (delta.ndim - 1)))


def _random_start(shape: torch.Size, eps: float, norm: str, gen: torch.Generator) -> torch.Tensor:
    if norm == "linf":
        return (torch.rand(shape, generator=gen) * 2 - 1) * eps
    d = int(np.prod(shape[1:]))
    direction = torch.randn(shape, generator=gen)
    direction = direction / direction.flatten(1).norm(dim=1).clamp_min(1e-12).view(
        -1, *([1] * (len(shape) - 1))
    )
    radius = torch.rand(shape[0], generator=gen) ** (1.0 / d) * eps
    return direction * radius.view(-1, *([1] * (len(shape) - 1)))


def pgd(
    forward: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    norm: str = "linf",
    steps: int = DEFAULT_STEPS,
    step_size: float | None = None,
    random_start: bool = True,
    seed: int = 0,
    clamp: tuple[float, float] | None = None,
    batch_size: int = 4096,
    loss: str = "margin",
) -> torch.Tensor:
    """The perturbation ``delta`` (same shape as ``x``) that PGD finds against ``forward``.

    ``forward`` maps inputs to logits and must be differentiable in its input. ``eps`` is
    absolute here. ``clamp`` keeps ``x + delta`` inside a box (pixels), then re-projects.
    """
    if norm not in NORMS:
        raise ConfigError(f"PGD norm must be one of {NORMS}, got {norm!r}")
    if eps < 0 or not math.isfinite(eps):
        raise ConfigError(f"PGD radius must be a finite number >= 0, got {eps}")
    if steps < 1:
        raise ConfigError(f"PGD steps must be at least 1, got {steps}")
    if loss not in LOSSES:
        raise ConfigError(f"PGD loss must be one of {tuple(LOSSES)}, got {loss!r}")
    objective = LOSSES[loss]
    if eps == 0:
        return torch.zeros_like(x)
    alpha = STEP_FACTOR * eps / steps if step_size is None else step_size
    gen = torch.Generator().manual_seed(seed)
    out = []
    for s in range(0, x.shape[0], batch_size):
        xb, yb = x[s : s + batch_size].detach(), y[s : s + batch_size]
        delta = (
            _random_start(xb.shape, eps, norm, gen).to(xb.device, xb.dtype)
            if random_start
            else torch.zeros_like(xb)
        )
        delta = _box(xb, delta, clamp, eps, norm)
        for _ in range(steps):
            delta.requires_grad_(True)
            (grad,) = torch.autograd.grad(objective(forward(xb + delta), yb), delta)
            with torch.no_grad():
                if norm == "linf":
                    delta = delta + alpha * grad.sign()
                else:
                    g = grad.flatten(1).norm(dim=1).clamp_min(1e-12)
                    delta = delta + alpha * grad / g.view(-1, *([1] * (grad.ndim - 1)))
                delta = _box(xb, _project(delta, eps, norm), clamp, eps, norm)
        out.append(delta.detach())
    return torch.cat(out)


def _box(
    x: torch.Tensor, delta: torch.Tensor, clamp: tuple[float, float] | None, eps: float, norm: str
) -> torch.Tensor:
    if clamp is None:
        return delta
    # clamping only shrinks each coordinate's magnitude, so the ball constraint still holds
    return (x + delta).clamp(*clamp) - x


def feature_robustness(
    head: GridHead | LinearHead,
    features: torch.Tensor,
    labels: Sequence[int] | np.ndarray,
    *,
    eps_rel: Sequence[float] = DEFAULT_EPS,
    norm: str = "linf",
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
) -> RobustnessResult:
    """PGD in feature space against ``head`` at each relative radius (see the module doc)."""
    if head.multilabel:
        raise ConfigError("robustness needs a single-label head (this dataset is multi-label)")
    x = torch.as_tensor(features).to(head.weight.device, head.weight.dtype)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64, device=x.device)
    if x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ConfigError(f"features {tuple(x.shape)} do not match {y.shape[0]} labels")
    radii = tuple(sorted({float(e) for e in eps_rel}))
    if any(e < 0 for e in radii):
        raise ConfigError(f"relative radii must be >= 0, got {radii}")
    scale = float(x.norm(dim=1).mean())
    if norm == "linf":
        scale /= math.sqrt(x.shape[1])
    with torch.no_grad():
        clean = (head.logits(x).argmax(1) == y).cpu().numpy()
    still = clean.copy()
    correct: dict[float, np.ndarray] = {}
    reached: dict[float, float] = {}
    eps_abs = []
    for e in radii:
        eps = e * scale
        eps_abs.append(eps)
        delta = pgd(head.logits, x, y, eps, norm=norm, steps=steps, seed=seed)
        with torch.no_grad():
            ok = (head.logits(x + delta).argmax(1) == y).cpu().numpy()
        still = still & ok
        correct[e] = still.copy()
        reached[e] = float(_norm_of(delta, norm).max()) if len(delta) else 0.0
    return RobustnessResult(
        norm=norm,
        eps_rel=radii,
        eps_abs=tuple(eps_abs),
        clean_correct=clean,
        correct=correct,
        max_perturbation=reached,
    )
