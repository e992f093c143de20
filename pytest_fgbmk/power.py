"""Power of the regression gate: the smallest drop a case detects at its n (no pytest).

Every gated case states its *minimum detectable drop* (``mdd``, points): the smallest drop
that the gate's own paired test, with its margin, fails with probability
:data:`POWER` (90 %). ``inf`` when no drop the case can have (down to no right answer,
or a value of 0) reaches that: the case is too small to fail.

The threshold. The gate decides a run's cases together (discrete Holm, see
:mod:`pytest_fgbmk.stats`); its threshold depends on every case's flips and is known only
after the run. Once the run is decided, a case's mdd is computed at the threshold the run
would at least give it if it dropped (:func:`~pytest_fgbmk.stats.thresholds_if_dropped`:
the other cases charged as observed, this one in full): unchanged cases with too few flips
to fail charge nothing, so this is usually far above the Bonferroni share. Before a
decision (no baseline to compare with; ``--fgbmk-plan``) the Bonferroni share ``alpha /
family_size`` (:func:`bonferroni_share`) is used: the discrete threshold is never below it
(each case is charged at most ``t``, so ``t = alpha / m`` always fits the budget). Either
way the mdd stated is conservative, an upper bound on the drop the run really detects; at
the Bonferroni share a case of a run whose other cases did not move could be stated
``inf`` and still fail on a large drop (12-question cases: ``0.5**12`` is above 0.01 / 48
but below the 0.0017 that run gave them).

The assumptions (what a "drop of D points" is):

* accuracy (exact one-sided McNemar with margin, :func:`mcnemar_power`): besides a
  background of symmetric flips (each item flips with probability ``flip_rate``, half
  right→wrong and half wrong→right, as an unchanged checkpoint's run-to-run noise), the
  changed model turns ``D * n / 100`` further right answers wrong, all one way. The
  background rate is the case's own observed one against its baseline (twice the smaller
  of its two flip counts over n, so the drop itself does not inflate it), zero when there is
  no baseline yet. Computed exactly from binomial distributions (no simulation).
* knowledge bias (grouped test): its overall McNemar route, which the grouped test
  compares with half the case's threshold (Bonferroni over the overall and the category
  routes); a drop concentrated in a few categories can be detected sooner.
* per-query values (retrieval AP, multi-label probe AP; sign-flip test,
  :func:`sign_flip_power`): the per-query differences have mean ``-D`` points and the
  standard deviation of the baseline's per-query values (its per-sample spread); the power
  is that of the test's normal limit (the sign-flip statistic ``sum d / sqrt(sum d**2)``).

Sources: the exact binomial power of McNemar's test conditional on the discordant count
(Miettinen 1968; Lachin 1992, *Stat. Med.* 11:1239), here summed over a binomial
discordant count; the normal power of a one-sample location test for the sign-flip case.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

from pytest_fgbmk.stats import EXACT_SIGN_FLIP_MAX, needed_count

#: The power an mdd is stated at.
POWER = 0.9
#: Background flip counts beyond these binomial tail masses are left out of the sums.
_TAIL = 1e-13
_EPS = 1e-9


def bonferroni_share(alpha: float, family_size: int) -> float:
    """``alpha / family_size``: the per-case threshold an mdd is computed at.

    A lower bound of the gate's discrete-Holm threshold over the same family (see the
    module docstring), so the mdd it gives is conservative.
    """
    return alpha / max(1, int(family_size))


def format_mdd(mdd: float) -> str:
    """An mdd as the JUnit property shows it: ``"7.3"`` (points) or ``"inf"``."""
    return "inf" if math.isinf(mdd) else f"{mdd:.1f}"


# -- accuracy: exact McNemar ------------------------------------------------------------


def mcnemar_critical(k: np.ndarray | int, threshold: float) -> np.ndarray:
    """Per discordant count ``k``: the smallest right→wrong count ``w`` whose exact one-sided
    McNemar p-value ``P(Binomial(k, 1/2) >= w)`` is at most ``threshold``; ``k + 1`` when
    even ``w = k`` (p = 0.5**k) is above it. Integer array shaped like ``k``."""
    k = np.asarray(k, dtype=np.int64)
    limit = threshold * (1 + _EPS)
    c = np.asarray(_st.binom.isf(threshold, k, 0.5), dtype=float)
    c = np.where(np.isnan(c), k, c).astype(np.int64) + 1
    c = np.clip(c, 0, k + 1)
    for _ in range(2):  # isf works in floating point: settle the boundary exactly
        lower = np.maximum(c - 1, 0)
        c = np.where((c > 0) & (_st.binom.sf(lower - 1, k, 0.5) <= limit), lower, c)
        c = np.where((c <= k) & (_st.binom.sf(c - 1, k, 0.5) > limit), c + 1, c)
    return np.minimum(c, k + 1)


def _background(n: int, flip_rate: float, unstable: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Background discordant counts ``K0 ~ Binomial(u, flip_rate * n / u)`` (``u`` the
    items that may flip, default n) and their probabilities."""
    u = n if unstable is None else int(unstable)
    if flip_rate <= 0 or n <= 0 or u <= 0:
        return np.zeros(1, dtype=np.int64), np.ones(1)
    r = min(1.0, flip_rate * n / u)
    lo = int(_st.binom.ppf(_TAIL, u, r))
    hi = int(_st.binom.isf(_TAIL, u, r)) + 1
    k0 = np.arange(max(0, lo), min(u, hi) + 1, dtype=np.int64)
    return k0, _st.binom.pmf(k0, u, r)


def mcnemar_power(
    n: int,
    extra: int,
    *,
    threshold: float,
    min_drop: float = 1.0,
    flip_rate: float = 0.0,
    unstable: int | None = None,
) -> float:
    """Exact probability that the gate's McNemar test fails a case of ``n`` items that lost
    ``extra`` right answers (on top of the background; see the module docstring).

    The case fails when ``P(Binomial(W + B, 1/2) >= W) <= threshold`` and the net drop
    ``W - B`` reaches the margin (:func:`~pytest_fgbmk.stats.needed_count`), ``W`` and ``B``
    being its right→wrong and wrong→right counts. Background: ``K0 ~ Binomial(n,
    flip_rate)`` discordant items, ``W0 | K0 ~ Binomial(K0, 1/2)`` of them right→wrong;
    ``W = W0 + extra``, ``B = K0 - W0``. Summed exactly over ``K0`` (tails below 1e-13
    left out). ``unstable``: when only that many items can flip (a share of unstable
    questions), ``K0 ~ Binomial(unstable, flip_rate * n / unstable)`` instead (same mean).
    Returns a probability in [0, 1].
    """
    if n <= 0 or extra < 0:
        return 0.0
    need = needed_count(n, min_drop)
    k0, weight = _background(n, flip_rate, unstable)
    crit = mcnemar_critical(k0 + extra, threshold)
    unreachable = crit > k0 + extra
    # W0 must reach both the significance and the margin
    w0_min = np.maximum(crit - extra, -((extra - need - k0) // 2))
    prob = np.where(unreachable, 0.0, _st.binom.sf(w0_min - 1, k0, 0.5))
    return float(min(1.0, max(0.0, np.sum(weight * prob))))


def mcnemar_mdd(
    n: int,
    *,
    threshold: float,
    min_drop: float = 1.0,
    accuracy: float = 100.0,
    flip_rate: float = 0.0,
    unstable: int | None = None,
    power: float = POWER,
) -> float:
    """The smallest drop in points (``100 * extra / n``) that :func:`mcnemar_power` fails with
    probability ``power``; ``inf`` when even every right answer turning wrong does not.

    ``accuracy``: the baseline's accuracy in points (it bounds the drop: only right answers
    can turn wrong); ``flip_rate``: the background's discordant share of items (0–1);
    ``threshold``: the case's p-value threshold (e.g. :func:`bonferroni_share`). The power
    grows with ``extra`` (one more right→wrong item lowers the p-value and raises the net
    drop), so the least ``extra`` is found by bisection. With no background it is
    ``max(ceil(log2(1 / threshold)), needed_count(n, min_drop))`` items: ``k`` items all
    flipping one way reach ``p = 0.5**k``.
    """
    if n <= 0:
        return math.inf
    most = math.floor(accuracy / 100.0 * n + _EPS)
    kw = {"threshold": threshold, "min_drop": min_drop, "flip_rate": flip_rate}
    kw["unstable"] = unstable
    if most < 1 or mcnemar_power(n, most, **kw) < power:
        return math.inf
    lo, hi = 0, most  # power(lo) < power <= power(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if mcnemar_power(n, mid, **kw) >= power:
            hi = mid
        else:
            lo = mid
    return 100.0 * hi / n


# -- per-query values: sign-flip --------------------------------------------------------


def sign_flip_power(
    n: int, drop: float, *, threshold: float, min_drop: float = 1.0, spread: float
) -> float:
    """Probability that the gate's sign-flip test fails ``n`` per-query values whose paired
    differences have mean ``-drop`` points and standard deviation ``spread`` (0–1 units).

    The test rejects when ``Phi(S / sqrt(Q)) <= threshold`` (``S = sum d``, ``Q = sum d**2``)
    and ``-100 * S / n >= min_drop``; with ``S ~ Normal(-n δ, n σ²)`` and ``Q`` at its mean
    ``n (σ² + δ²)`` (δ = drop / 100, σ = spread) the power is
    ``Phi((n δ - max(z sqrt(n (σ² + δ²)), n min_drop / 100)) / (sqrt(n) σ))``, z the
    upper ``threshold`` quantile of the normal (the same formula with at most
    :data:`~pytest_fgbmk.stats.EXACT_SIGN_FLIP_MAX` queries, where the test is exact: an
    approximation there). The power is 0 where the test cannot reach the threshold: the
    exact test never goes below ``0.5**n``, the normal one below ``Phi(-sqrt(n))``
    (``S / sqrt(Q) >= -sqrt(n)``, Cauchy–Schwarz); with no spread every difference is
    ``-drop`` and the test reaches exactly those bounds.
    """
    if n <= 0 or drop <= 0:
        return 0.0
    z = float(_st.norm.isf(threshold))
    d = drop / 100.0
    exact = n <= EXACT_SIGN_FLIP_MAX
    if exact and 0.5**n > threshold * (1 + _EPS):
        return 0.0
    if not exact and math.sqrt(n) < z * (1 - _EPS):
        return 0.0
    if spread <= 0:  # every difference -d: p = 0.5**n (exact) or Phi(-sqrt(n))
        return 1.0 if d >= min_drop / 100.0 * (1 - _EPS) else 0.0
    bound = max(z * math.sqrt(n * (spread**2 + d * d)), n * min_drop / 100.0)
    return float(_st.norm.cdf((n * d - bound) / (math.sqrt(n) * spread)))


def sign_flip_mdd(
    n: int,
    *,
    threshold: float,
    min_drop: float = 1.0,
    spread: float,
    ceiling: float = 100.0,
    power: float = POWER,
) -> float:
    """The smallest drop in points that :func:`sign_flip_power` fails with probability
    ``power`` (to 0.01 point); ``inf`` when a drop of the whole ``ceiling`` (the baseline's
    value in points: values cannot go below 0) does not."""
    kw = {"threshold": threshold, "min_drop": min_drop, "spread": spread}
    if n <= 0 or ceiling <= 0 or sign_flip_power(n, ceiling, **kw) < power:
        return math.inf
    lo, hi = 0.0, float(ceiling)
    while hi - lo > 0.005:
        mid = (lo + hi) / 2
        if sign_flip_power(n, mid, **kw) >= power:
            hi = mid
        else:
            lo = mid
    return hi


# -- one case ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Detectable:
    """A case's minimum detectable drop and what it assumes.

    ``mdd``: points, ``inf`` when no drop fails the case with 90 % power at the threshold; ``test``:
    ``mcnemar`` or ``sign-flip``; ``threshold``: the per-case p-value threshold used (the
    Bonferroni share, halved for the grouped knowledge-bias test); ``assumption``: one line
    for the JUnit output.
    """

    mdd: float
    test: str
    n: int
    threshold: float
    assumption: str


def accuracy_detectable(
    n: int,
    *,
    alpha: float,
    family_size: int,
    min_drop: float,
    accuracy: float,
    flip_rate: float = 0.0,
    grouped: bool = False,
    power: float = POWER,
    run_threshold: float | None = None,
) -> Detectable:
    """The mdd of an accuracy case (``grouped``: knowledge bias' overall route, at half the
    threshold). ``accuracy`` in points, ``flip_rate`` 0–1; see :func:`mcnemar_mdd`.
    ``run_threshold``: the threshold the run's decision gives the case if it dropped
    (:func:`~pytest_fgbmk.stats.thresholds_if_dropped`); None: the Bonferroni share."""
    t = _case_threshold(alpha, family_size, run_threshold) / (2 if grouped else 1)
    mdd = mcnemar_mdd(
        n, threshold=t, min_drop=min_drop, accuracy=accuracy, flip_rate=flip_rate, power=power
    )
    route = "overall McNemar of the grouped test at threshold/2" if grouped else "exact McNemar"
    text = (
        f"{100 * power:.0f}% power, {route}, p <= {t:.3g} "
        f"({_threshold_basis(alpha, family_size, run_threshold)}), margin "
        f"{min_drop:g} pt; drop = extra right->wrong answers on top of a "
        f"{100 * flip_rate:.1f}% symmetric background flip rate, baseline {accuracy:.1f}%"
    )
    return Detectable(mdd, "mcnemar", n, t, text)


def values_detectable(
    n: int,
    *,
    alpha: float,
    family_size: int,
    min_drop: float,
    spread: float,
    ceiling: float,
    power: float = POWER,
    run_threshold: float | None = None,
) -> Detectable:
    """The mdd of a per-query value case; ``spread``: the per-query SD (0–1), ``ceiling``:
    the baseline value in points; ``run_threshold`` as for :func:`accuracy_detectable`;
    see :func:`sign_flip_mdd`."""
    t = _case_threshold(alpha, family_size, run_threshold)
    mdd = sign_flip_mdd(
        n, threshold=t, min_drop=min_drop, spread=spread, ceiling=ceiling, power=power
    )
    text = (
        f"{100 * power:.0f}% power, sign-flip test (normal limit), p <= {t:.3g} "
        f"({_threshold_basis(alpha, family_size, run_threshold)}), "
        f"margin {min_drop:g} pt; per-query differences of mean -drop and SD "
        f"{100 * spread:.1f} pts (the baseline's per-query spread)"
    )
    return Detectable(mdd, "sign-flip", n, t, text)


def _case_threshold(alpha: float, family_size: int, run_threshold: float | None) -> float:
    share = bonferroni_share(alpha, family_size)
    return share if run_threshold is None else max(share, float(run_threshold))


def _threshold_basis(alpha: float, family_size: int, run_threshold: float | None) -> str:
    """Where a Detectable's threshold comes from, for its assumption line."""
    if run_threshold is None:
        return (
            f"alpha {alpha:g} / {family_size} cases: Bonferroni share, conservative vs the "
            "run-level threshold"
        )
    return (
        f"the run-level threshold this case would at least get if it dropped: alpha "
        f"{alpha:g} over {family_size} cases, the others' observed flips charged"
    )


def flip_rate(worse: int, better: int, n: int) -> float:
    """The symmetric background flip rate of an observed comparison: ``2 * min(worse,
    better) / n`` (a one-way drop or rise in this run does not count as background)."""
    return 2.0 * min(worse, better) / n if n > 0 else 0.0


def limit_for(drop: float, mdd_at: Callable[[int], float], full: int) -> int | None:
    """The n (≤ ``full``) that bisection finds with ``mdd_at(n) <= drop`` and
    ``mdd_at(n - 1) > drop``; None when even ``full`` items do not reach it.

    The mdd shrinks with n except for steps of about one item (``100 / n`` points, where
    one more item needed to fail outweighs one more item asked), so this is the smallest such
    n up to those steps, and ``mdd_at`` holds at the n returned."""
    if full <= 0 or mdd_at(full) > drop:
        return None
    lo, hi = 0, full  # mdd_at(hi) <= drop
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if mdd_at(mid) <= drop:
            hi = mid
        else:
            lo = mid
    return hi
