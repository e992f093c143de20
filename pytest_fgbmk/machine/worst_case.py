"""The exact worst case of a linear head inside an L2 or L∞ ball (a certificate for PGD).

For ``logits = ((x - mean) / std) @ W + b`` a perturbation ``delta`` of the features moves
the margin of class ``y`` over class ``j``, ``m_j = z_y - z_j``, by ``delta · v_j`` with
``v_j = (W[:, y] - W[:, j]) / std``. Over the ball ``‖delta‖_p <= eps`` the smallest value
of ``delta · v_j`` is ``-eps ‖v_j‖_q`` (Hölder's inequality, tight), with ``q`` the dual
norm: L2 for an L2 ball, L1 for an L∞ ball. So a correctly classified sample keeps its
class against every perturbation in the ball exactly when, for every ``j != y``,

    m_j > eps · ‖v_j‖_q,

i.e. when ``eps`` is below its *breaking radius* ``min_j m_j / ‖v_j‖_q``. A tie
(``m_j = eps ‖v_j‖_q``) counts as broken: the attacker may reach it. No box constraint
applies in feature space (the feature attack never clamps), so this is the worst case of
the attack's own constraint set, not a bound on it. Arithmetic in float64 from the head's
stored (float32) parameters.

Source: the closed form is the standard certificate of a linear classifier under an
Lp-bounded perturbation (e.g. Hein & Andriushchenko, "Formal guarantees on the robustness
of a classifier against adversarial manipulation", NeurIPS 2017, the linear case).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.machine.linear_head import LinearHead

#: The dual norm's order of each attack norm (L2 -> L2, L∞ -> L1).
DUAL_ORDER = {"l2": 2, "linf": 1}


def _f64(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def _effective_weight(head: LinearHead) -> np.ndarray:
    """(D, C) float64 weight acting on the raw features (``W / std`` row-wise)."""
    w = _f64(head.weight)
    return w / _f64(head.std)[:, None] if head.std is not None and head.mean is not None else w


def dual_norms(head: LinearHead, norm: str) -> np.ndarray:
    """(C, C) float64: entry ``[y, j]`` is ``‖v_j‖_q`` for true class ``y`` (0 on the diagonal).

    Raises :class:`ConfigError` for a norm other than ``"l2"`` or ``"linf"``.
    """
    if norm not in DUAL_ORDER:
        raise ConfigError(f"robustness norm must be one of {tuple(DUAL_ORDER)}, got {norm!r}")
    w = _effective_weight(head)
    c = w.shape[1]
    out = np.empty((c, c))
    for y in range(c):  # one (D, C) difference at a time: C · D floats of memory
        out[y] = np.linalg.norm(w[:, [y]] - w, ord=DUAL_ORDER[norm], axis=0)
    return out


def margins(head: LinearHead, x: torch.Tensor, y: np.ndarray) -> np.ndarray:
    """(N, C) float64 margins ``z_y - z_j`` of each sample over each class (0 at ``y``)."""
    xd = _f64(x)
    if head.mean is not None and head.std is not None:
        xd = (xd - _f64(head.mean)) / _f64(head.std)
    z = xd @ _f64(head.weight) + _f64(head.bias)
    return z[np.arange(len(y)), y][:, None] - z


def breaking_radius(head: LinearHead, x: torch.Tensor, y: np.ndarray, norm: str) -> np.ndarray:
    """(N,) float64: the smallest ``eps`` whose ball holds a perturbation that changes the
    sample's prediction away from ``y`` (0 when a margin is already <= 0; ``inf`` when no
    class can overtake ``y``, its weights being ``y``'s)."""
    y = np.asarray(y, dtype=np.int64)
    m = margins(head, x, y)
    dual = dual_norms(head, norm)[y]  # (N, C)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(m <= 0, 0.0, np.where(dual > 0, m / dual, np.inf))
    r[np.arange(len(y)), y] = np.inf
    return r.min(axis=1) if r.shape[1] else np.full(len(y), np.inf)


def nearest_classes(
    head: LinearHead, x: torch.Tensor, y: np.ndarray, norm: str, k: int
) -> np.ndarray:
    """(N, k) int64: for each sample the ``k`` other classes nearest in the attack's norm
    (smallest ``m_j / ‖v_j‖_q``, nearest first): the targets of a targeted attack. The first
    is the class the exact worst case reaches first."""
    y = np.asarray(y, dtype=np.int64)
    m = margins(head, x, y)
    dual = dual_norms(head, norm)[y]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(dual > 0, m / dual, np.where(m <= 0, -np.inf, np.inf))
    r[np.arange(len(y)), y] = np.nan  # sorted last
    k = max(0, min(k, r.shape[1] - 1))
    return np.argsort(r, axis=1, kind="stable")[:, :k]


def exact_correct(
    head: LinearHead,
    x: torch.Tensor,
    y: Sequence[int] | np.ndarray,
    eps_abs: Sequence[float],
    norm: str,
    clean: np.ndarray,
) -> list[np.ndarray]:
    """For each absolute radius, (N,) bool: the sample is correct under every perturbation
    of the ball (``clean`` at radius 0, so the curve starts at the clean accuracy the head
    reports; above 0, ``clean`` and a breaking radius above ``eps``)."""
    r = breaking_radius(head, x, np.asarray(y, dtype=np.int64), norm)
    return [clean.copy() if e == 0 else clean & (r > e) for e in eps_abs]
