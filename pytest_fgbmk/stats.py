"""Paired tests, intervals and run-level error control for the regression gate (no pytest).

The gate compares a run with its baseline on the *same* items, one-sided: it asks only
whether the model got worse. Every test here returns a :class:`PairedTest` that carries,
besides the p-value, the smallest p-value the test could have reached on this data
(``min_p``). That is what run-level control needs.

Run-level control (:func:`control_run`). A run has hundreds of cases, and a user cares
about the chance that an unchanged model fails *anywhere* (the family-wise error). The
default, ``discrete-holm``, is Holm's step-down with each case charged its *exact* size
instead of the nominal threshold (the discrete Bonferroni of Tarone 1990 and
Westfall & Wolfinger 1997, made step-down as in Hommel & Krummenauer 1998): an exact
McNemar test on ``k`` discordant pairs can only reach the p-values of ``k`` coin flips,
and only those with a net drop above the margin can fail. A case with a handful of flips
cannot fail at all and costs nothing; a case that could only fail at p = 1e-6 costs 1e-6.
The threshold ``t`` is the largest with ``sum_i size_i(t) <= alpha``; conditional on
every case's flip count the chance that any unchanged case fails is at most ``alpha``.
Tests without a known discrete support (sign-flip, grouped cases) are charged ``t`` once
their smallest reachable p-value is below it (Tarone's bound). ``tarone-holm``, ``holm``,
``bonferroni``, ``bh`` (Benjamini–Hochberg over cases) and ``none`` are there for
comparison; ``benchmarks/bench_gate_calibration.py`` measures them all.

A case fails only when its run-level test rejects *and* the drop is at least the
practical margin; an improvement can never fail (its one-sided p-value is at least 0.5
and its delta is positive).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as _st

#: Run-level procedures :func:`control_run` knows.
CONTROL_METHODS = ("discrete-holm", "tarone-holm", "holm", "bonferroni", "bh", "none")
#: Sign-flip tests enumerate every sign pattern up to this many non-zero differences.
EXACT_SIGN_FLIP_MAX = 20
_EPS = 1e-9


@dataclass(frozen=True)
class PairedTest:
    """One paired one-sided comparison of ``now`` against ``baseline`` on the same items.

    ``delta`` is now − baseline in points (percent); ``p`` is the one-sided p-value for a
    drop; ``min_p`` is the smallest p-value reachable on these items while the drop also
    meets the margin (1.0 when it cannot, e.g. too few flips). ``worse``/``better`` count
    the items that went down/up (right→wrong and wrong→right for accuracy).
    """

    method: str
    n: int
    delta: float
    p: float
    min_p: float
    worse: int
    better: int
    min_drop: float

    @property
    def margin_met(self) -> bool:
        """True when the drop is at least the practical margin (a positive drop)."""
        return self.delta < 0 and -self.delta >= self.min_drop - _EPS


def p_and_threshold(p: float, threshold: float, digits: int = 3) -> tuple[str, str]:
    """``p`` and the ``threshold`` it is compared with, written with ``digits`` significant
    digits, or more until the written values keep their order: ``p > threshold`` never
    prints as two equal numbers ("p=0.00195 p_threshold=0.00195" for a passing case whose
    p is 2**-9 = 0.001953125 and whose threshold is just below it). Equal values print
    equal; at most 17 digits (a float's round trip)."""
    for d in range(digits, 18):
        ps, ts = f"{p:.{d}g}", f"{threshold:.{d}g}"
        if (float(ps) > float(ts)) == (p > threshold) and (float(ps) < float(ts)) == (
            p < threshold
        ):
            return ps, ts
    return repr(p), repr(threshold)


def needed_count(n: int, min_drop: float) -> int:
    """Net right→wrong items a drop of ``min_drop`` points needs on ``n`` items (≥ 1)."""
    if n <= 0:
        return 1
    return max(1, math.ceil(min_drop * n / 100.0 - _EPS))


def mcnemar_p(worse: int, better: int) -> float:
    """Exact one-sided McNemar p-value that flips lean right→wrong.

    ``P(X >= worse)`` for ``X ~ Binomial(worse + better, 1/2)``; 1.0 with no discordant pair.
    """
    k = worse + better
    if k == 0:
        return 1.0
    return float(_st.binom.sf(worse - 1, k, 0.5))


def mcnemar_counts(
    worse: int, better: int, n: int, *, min_drop: float = 1.0, method: str = "mcnemar"
) -> PairedTest:
    """The exact one-sided McNemar test from counts of flips on ``n`` paired items."""
    if min(worse, better, n) < 0 or worse + better > n:
        raise ValueError(f"flip counts {worse}+{better} do not fit in n={n}")
    k = worse + better
    min_p = 0.5**k if k >= needed_count(n, min_drop) and k > 0 else 1.0
    delta = 100.0 * (better - worse) / n if n else 0.0
    return PairedTest(method, n, delta, mcnemar_p(worse, better), min_p, worse, better, min_drop)


def mcnemar_drop(
    baseline: Sequence[bool], now: Sequence[bool], *, min_drop: float = 1.0
) -> PairedTest:
    """Exact one-sided McNemar test of per-item correctness (same items, same order)."""
    b = np.asarray(baseline, dtype=bool)
    c = np.asarray(now, dtype=bool)
    if b.shape != c.shape:
        raise ValueError(f"baseline has {b.size} items but now has {c.size}")
    worse = int(np.count_nonzero(b & ~c))
    better = int(np.count_nonzero(~b & c))
    return mcnemar_counts(worse, better, int(b.size), min_drop=min_drop)


def _sign_flip_exact_cdf(d: np.ndarray, observed: float) -> float:
    """P(sum of ±d_i <= observed) over all 2**k equally likely sign patterns."""
    k = d.size
    total = 0
    chunk_bits = min(k, 16)
    low = (np.arange(2**chunk_bits)[:, None] >> np.arange(chunk_bits)) & 1
    low_sums = ((1 - 2 * low) * d[:chunk_bits]).sum(axis=1)
    rest = k - chunk_bits
    for hi in range(2**rest):
        bits = (hi >> np.arange(rest)) & 1
        offset = float(((1 - 2 * bits) * d[chunk_bits:]).sum()) if rest else 0.0
        total += int(np.count_nonzero(low_sums + offset <= observed + _EPS * max(1.0, d.sum())))
    return total / 2**k


def sign_flip_drop(
    baseline: Sequence[float],
    now: Sequence[float],
    *,
    min_drop: float = 1.0,
    scale: float = 100.0,
) -> PairedTest:
    """Paired permutation (sign-flip) test that per-item values went down.

    For per-query values such as average precision (``scale=100`` turns a 0–1 value into
    points). Under no change every difference is as likely negative as positive; the
    p-value is ``P(sum of ±|d| <= sum d)``, exact over all sign patterns when at most
    :data:`EXACT_SIGN_FLIP_MAX` differences are non-zero, else from the normal limit of
    the same permutation distribution (mean 0, variance ``sum d**2``).
    """
    b = np.asarray(baseline, dtype=float)
    c = np.asarray(now, dtype=float)
    if b.shape != c.shape:
        raise ValueError(f"baseline has {b.size} items but now has {c.size}")
    n = int(b.size)
    diff = c - b
    d = np.abs(diff[np.abs(diff) > _EPS])
    k = int(d.size)
    worse = int(np.count_nonzero(diff < -_EPS))
    better = int(np.count_nonzero(diff > _EPS))
    delta = scale * float(diff.sum()) / n if n else 0.0
    reachable = n > 0 and k > 0 and scale * float(d.sum()) / n >= min_drop - _EPS
    observed = float(diff[np.abs(diff) > _EPS].sum())
    if k == 0:
        return PairedTest("sign-flip", n, delta, 1.0, 1.0, 0, 0, min_drop)
    if k <= EXACT_SIGN_FLIP_MAX:
        p = _sign_flip_exact_cdf(d, observed)
        min_p = _sign_flip_exact_cdf(d, -float(d.sum())) if reachable else 1.0
        method = "sign-flip exact"
    else:
        sd = math.sqrt(float((d * d).sum()))
        p = float(_st.norm.cdf(observed / sd))
        min_p = float(_st.norm.cdf(-float(d.sum()) / sd)) if reachable else 1.0
        method = "sign-flip normal"
    return PairedTest(method, n, delta, min(1.0, p), min_p, worse, better, min_drop)


#: Resamples of the percentile bootstraps (the machine cases' intervals, paired intervals).
BOOTSTRAP_RESAMPLES = 2000
#: Resampled means computed per vectorised step (bounds the index matrix's memory).
_BOOTSTRAP_CELLS = 2_000_000


def bootstrap_mean_interval(
    values: Sequence[float] | np.ndarray,
    *,
    seed: int,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    quantiles: tuple[float, float] = (0.025, 0.975),
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (same unit as the values).

    ``values``: a 1-D array of n ≥ 1 numbers. ``n_resamples`` means of n items drawn with
    replacement by ``numpy.random.default_rng(seed)`` (drawn in blocks of whole resamples,
    so the stream, and hence the result, does not depend on the block size), and their
    ``quantiles`` (linear interpolation). The one bootstrap of this project: the machine
    cases' intervals (:func:`bootstrap_percent_interval`) and the paired intervals
    (:func:`paired_bootstrap_interval`) are this function. Raises ValueError when empty.
    """
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        raise ValueError("cannot bootstrap the mean of no values")
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    step = max(1, _BOOTSTRAP_CELLS // v.size)
    for start in range(0, n_resamples, step):
        stop = min(n_resamples, start + step)
        idx = rng.integers(0, v.size, size=(stop - start, v.size))
        means[start:stop] = v[idx].mean(axis=1)
    low, high = np.quantile(means, list(quantiles))
    return float(low), float(high)


def bootstrap_percent_interval(
    values: Sequence[float] | np.ndarray, seed: int, n_resamples: int = BOOTSTRAP_RESAMPLES
) -> tuple[float, float]:
    """95 % percentile bootstrap interval of the mean of per-sample values in 0–1, in percent
    and clipped to [0, 100]; (0, 100) when there are no values.

    Bit for bit the interval the machine cases report (formerly
    ``machine_session.bootstrap_interval``).
    """
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return 0.0, 100.0
    low, high = bootstrap_mean_interval(v, seed=seed, n_resamples=n_resamples)
    return float(max(0.0, 100 * low)), float(min(100.0, 100 * high))


def paired_bootstrap_interval(
    baseline: Sequence[float],
    now: Sequence[float],
    *,
    confidence: float = 0.95,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    scale: float = 100.0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean paired difference (now − baseline) × scale.

    Items are resampled together, so the pairing is kept; seeded, so it is reproducible.
    Raises ValueError unless both are non-empty and of the same shape.
    """
    b = np.asarray(baseline, dtype=float)
    c = np.asarray(now, dtype=float)
    if b.shape != c.shape or b.size == 0:
        raise ValueError(f"need paired non-empty values, got {b.size} and {c.size}")
    tail = (1 - confidence) / 2
    return bootstrap_mean_interval(
        (c - b) * scale, seed=seed, n_resamples=n_resamples, quantiles=(tail, 1 - tail)
    )


#: z of the two-sided 95 % normal interval (``scipy.stats.norm.ppf(0.975)``, exactly).
Z95 = 1.959963984540054


def wilson_interval(
    successes: int, n: int, confidence: float = 0.95, *, z: float | None = None
) -> tuple[float, float]:
    """Wilson score interval of a proportion, as fractions in [0, 1]; (0, 1) when ``n`` ≤ 0.

    ``z`` overrides ``confidence`` (the normal quantile of the two-sided interval). The one
    Wilson interval of this project (``scoring.wilson`` gives it in percent). Raises
    ValueError when ``successes`` is not in [0, n].
    """
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"{successes} successes do not fit in n={n}")
    if z is None:
        z = Z95 if confidence == 0.95 else float(_st.norm.ppf(1 - (1 - confidence) / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


# -- multiplicity ----------------------------------------------------------------------


def holm_adjust(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (same order as given)."""
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(1.0, stepped)
    return out


def bh_adjust(pvalues: Sequence[float]) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values), same order as given."""
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    stepped = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(1.0, stepped)
    return out


def simes_p(pvalues: Sequence[float]) -> float:
    """Simes' combined p-value of the global null (the smallest BH-adjusted p-value)."""
    p = np.sort(np.asarray(pvalues, dtype=float))
    if p.size == 0:
        return 1.0
    return float(min(1.0, np.min(p * p.size / np.arange(1, p.size + 1))))


def tarone_count(min_ps: Sequence[float], alpha: float) -> int:
    """Tarone's K: the smallest K ≥ 1 with at most K tests able to reach ``alpha / K``."""
    mp = np.sort(np.asarray(min_ps, dtype=float))
    if mp.size == 0:
        return 1
    ks = np.arange(1, mp.size + 1)
    counts = np.searchsorted(mp, alpha / ks * (1 + _EPS), side="right")
    return int(ks[np.argmax(counts <= ks)])


def tarone_holm_reject(
    p: np.ndarray, min_p: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray, int]:
    """Holm's step-down with Tarone's K at every step, on arrays.

    Returns (rejected mask, the threshold each test met or missed, K of the first step).
    At each step the smallest remaining p-value is compared with ``alpha / K`` where K is
    Tarone's count over the tests not yet rejected; the first miss stops the procedure.
    """
    p = np.asarray(p, dtype=float)
    min_p = np.asarray(min_p, dtype=float)
    order = np.argsort(p, kind="stable")
    remaining = np.ones(p.size, dtype=bool)
    rejected = np.zeros(p.size, dtype=bool)
    first_k = tarone_count(min_p, alpha)
    thresholds = np.full(p.size, alpha / first_k)
    for j in order:
        t = alpha / tarone_count(min_p[remaining], alpha)
        thresholds[j] = t
        if p[j] > t * (1 + _EPS):
            break
        rejected[j] = True
        remaining[j] = False
    return rejected, thresholds, first_k


@functools.lru_cache(maxsize=65536)
def mcnemar_sizes(k: int, need: int, alpha: float) -> tuple[float, ...]:
    """What an exact McNemar test on ``k`` discordant pairs can reach, ascending.

    The p-values at most ``alpha`` that come with a net drop of at least ``need`` items.
    Each is also the test's exact size at that threshold: with no change,
    ``P(p <= a and the margin holds | k) = a`` for every ``a`` listed, and smaller
    thresholds in between buy nothing.
    """
    if k <= 0 or k < need:
        return ()
    w_min = math.ceil((k + need) / 2)
    crit = int(_st.binom.isf(alpha, k, 0.5))
    lo = max(w_min, crit - 1)
    hi = min(k, lo + int(12 * math.sqrt(k)) + 60)
    if lo > hi:
        return ()
    w = np.arange(lo, hi + 1)
    p = _st.binom.sf(w - 1, k, 0.5)
    return tuple(sorted(float(v) for v in p if 0 < v <= alpha))


def attainable_sizes(test: PairedTest | CaseTest, alpha: float) -> tuple[float, ...] | None:
    """A test's attainable sizes for :func:`discrete_threshold`; None when only its
    ``min_p`` is known (then it is charged the full threshold once ``min_p`` is reachable)."""
    if isinstance(test, PairedTest) and test.method == "mcnemar":
        return mcnemar_sizes(test.worse + test.better, needed_count(test.n, test.min_drop), alpha)
    return None


def discrete_threshold(
    sizes: Sequence[Sequence[float] | None], min_p: Sequence[float], alpha: float
) -> float:
    """The largest t with ``sum_i size_i(t) <= alpha``: the discrete Bonferroni threshold.

    ``size_i(t)`` is the largest of test i's attainable sizes that is at most t (0 if none);
    for a test without sizes it is ``t`` once ``min_p[i] <= t`` (Tarone's bound). A test with
    few flips can never fail and costs nothing; one that can fail only at a p-value far below
    t is charged that p-value, not t.
    """
    budget = alpha * (1 - 1e-9)
    parts = [np.asarray(a, dtype=float) for a in sizes if a is not None and len(a)]
    cont = np.sort(
        np.array(
            [m for a, m in zip(sizes, min_p, strict=True) if a is None and m <= alpha], dtype=float
        )
    )
    pts = np.concatenate([*parts, cont, [0.0]])
    inc = pts.copy()
    if parts:
        disc = int(sum(a.size for a in parts))
        starts = np.cumsum([0] + [a.size for a in parts[:-1]])
        inc[1:disc] -= pts[: disc - 1]
        inc[starts] = pts[starts]
    inc[pts.size - cont.size - 1 :] = 0.0
    order = np.argsort(pts, kind="stable")
    pts = pts[order]
    s_disc = np.cumsum(inc[order])
    last = np.r_[pts[1:] != pts[:-1], True]
    pts, s_disc = pts[last], s_disc[last]
    charged = np.searchsorted(cont, pts, side="right")
    ok = s_disc + pts * charged <= budget
    j = int(np.flatnonzero(ok)[-1])
    if not charged[j]:
        return float(alpha if j + 1 == pts.size else pts[j])
    t = (budget - s_disc[j]) / charged[j]
    if j + 1 < pts.size:
        t = min(t, float(np.nextafter(pts[j + 1], 0.0)))
    return float(min(alpha, max(t, pts[j])))


def discrete_holm_reject(
    p: np.ndarray,
    margin: np.ndarray,
    sizes: Sequence[Sequence[float] | None],
    min_p: np.ndarray,
    alpha: float,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Holm's step-down over :func:`discrete_threshold`, on arrays.

    A test is rejected when ``p <= t`` and its margin holds, t being the discrete threshold
    of the tests not yet rejected; repeat until nothing new is rejected. Returns (rejected
    mask, the threshold each test was last compared with, the first step's threshold).

    A step's threshold is never below the previous one: ``discrete_threshold`` returns the
    largest attainable size that fits, which over fewer tests can be a smaller point (even
    0, when every remaining size alone overflows) although the previous threshold still
    fits them (fewer tests are charged no more at any t). Taking the larger of the two
    rejects nothing new (a test with ``p`` at or below the previous threshold and its margin
    met was rejected then) and keeps each shown threshold one the remaining tests can use.
    """
    p = np.asarray(p, dtype=float)
    margin = np.asarray(margin, dtype=bool)
    min_p = np.asarray(min_p, dtype=float)
    rejected = np.zeros(p.size, dtype=bool)
    first = discrete_threshold(sizes, min_p, alpha)
    thresholds = np.full(p.size, first)
    t = first
    while True:
        new = ~rejected & margin & (p <= t)
        if not new.any():
            return rejected, thresholds, first
        rejected |= new
        keep = np.flatnonzero(~rejected)
        t = max(t, discrete_threshold([sizes[i] for i in keep], min_p[keep], alpha))
        thresholds[keep] = t


@dataclass(frozen=True)
class RunDecision:
    """The run-level verdict on a family of cases.

    ``rejected``: the cases whose drop is significant at the run level (the margin is a
    separate, per-case condition); ``thresholds``: the p-value each case was compared with
    (its last step for step-down methods); ``adjusted``: run-level adjusted p-values
    where the method has them; ``k``: the number of cases alpha was split over.
    """

    method: str
    alpha: float
    rejected: frozenset[str]
    thresholds: Mapping[str, float] = field(default_factory=dict)
    adjusted: Mapping[str, float] = field(default_factory=dict)
    k: int = 0


def control_run(
    tests: Mapping[str, PairedTest | CaseTest],
    *,
    alpha: float = 0.01,
    method: str = "discrete-holm",
) -> RunDecision:
    """Decide which cases' drops are significant with the run's error held at ``alpha``.

    ``tests`` maps case ids to their paired tests (anything with ``p`` and ``min_p``).
    See the module docstring for the methods.
    """
    if method not in CONTROL_METHODS:
        raise ValueError(f"unknown run-level control {method!r}; use {', '.join(CONTROL_METHODS)}")
    ids = list(tests)
    p = np.array([tests[i].p for i in ids], dtype=float)
    m = len(ids)
    if m == 0:
        return RunDecision(method, alpha, frozenset(), {}, {}, 0)
    if method == "none":
        return RunDecision(
            method,
            alpha,
            frozenset(i for i, v in zip(ids, p, strict=True) if v <= alpha),
            dict.fromkeys(ids, alpha),
            dict(zip(ids, p.tolist(), strict=True)),
            1,
        )
    if method == "bonferroni":
        t = alpha / m
        adj = np.minimum(1.0, p * m)
        rej = frozenset(i for i, v in zip(ids, p, strict=True) if v <= t)
        return RunDecision(
            method, alpha, rej, dict.fromkeys(ids, t), dict(zip(ids, adj.tolist(), strict=True)), m
        )
    if method == "bh":
        adj = bh_adjust(p)
        rej = frozenset(i for i, v in zip(ids, adj, strict=True) if v <= alpha)
        return RunDecision(
            method,
            alpha,
            rej,
            dict.fromkeys(ids, alpha),
            dict(zip(ids, adj.tolist(), strict=True)),
            m,
        )
    if method == "holm":
        adj = holm_adjust(p)
        rej = frozenset(i for i, v in zip(ids, adj, strict=True) if v <= alpha)
        order = np.argsort(p, kind="stable")
        thresholds = {ids[j]: alpha / (m - r) for r, j in enumerate(order)}
        return RunDecision(
            method, alpha, rej, thresholds, dict(zip(ids, adj.tolist(), strict=True)), m
        )
    min_p = np.array([tests[i].min_p for i in ids], dtype=float)
    if method == "tarone-holm":
        return _tarone_holm(ids, p, min_p, alpha)
    margin = np.array([_margin_met(tests[i]) for i in ids], dtype=bool)
    sizes = [attainable_sizes(tests[i], alpha) for i in ids]
    rejected, thresholds, first = discrete_holm_reject(p, margin, sizes, min_p, alpha)
    return RunDecision(
        method,
        alpha,
        frozenset(i for i, r in zip(ids, rejected, strict=True) if r),
        dict(zip(ids, thresholds.tolist(), strict=True)),
        {},
        round(alpha / first) if first > 0 else len(ids),
    )


@dataclass(frozen=True)
class IfDropped:
    """The p-value threshold each case of a run would at least be compared with if it
    dropped (see :func:`thresholds_if_dropped`): ``cases`` by case id, for the cases the
    run decided; ``other``: for a case outside that family (no comparable baseline)."""

    cases: Mapping[str, float]
    other: float

    def get(self, case_id: str) -> float:
        return self.cases.get(case_id, self.other)


def thresholds_if_dropped(
    tests: Mapping[str, PairedTest | CaseTest],
    *,
    alpha: float = 0.01,
    method: str = "discrete-holm",
    family_size: int | None = None,
) -> IfDropped:
    """For each case of ``tests``: the first-step threshold of ``method`` when that case is
    charged in full (as if it dropped) and every other case as observed.

    What a case's minimum detectable drop is computed at (:mod:`pytest_fgbmk.power`): the
    run's other cases, unchanged, charge the discrete Holm budget only their attainable
    sizes (nothing at all when they have too few flips to fail), so a run whose cases did
    not move leaves each case almost all of ``alpha``, far above the Bonferroni share
    ``alpha / family_size`` (which this never goes below: the discrete threshold never
    does). A case that did drop is compared with at least this (Holm's later steps only
    raise thresholds). ``family_size``: the run's gated cases (default ``len(tests)``).
    Methods: ``discrete-holm`` and ``tarone-holm`` as described; ``none``: ``alpha``; the
    others (``holm``, ``bonferroni``, ``bh``): the Bonferroni share, their first step's
    threshold or below it. Raises ValueError for an unknown method.

    Where the discrete threshold stops just below an attainable size (the next size would
    overflow), the value is shaved by one part in a million, so a power computation that
    compares p-values with a relative tolerance (:func:`pytest_fgbmk.power.mcnemar_critical`)
    does not count that size as reachable. Cases with the same attainable sizes share one
    computation (most of a run's cases have none: too few flips to fail).
    """
    if method not in CONTROL_METHODS:
        raise ValueError(f"unknown run-level control {method!r}; use {', '.join(CONTROL_METHODS)}")
    share = alpha / max(1, family_size if family_size is not None else len(tests))
    ids = list(tests)
    if method == "none":
        return IfDropped(dict.fromkeys(ids, alpha), alpha)
    if method == "tarone-holm":
        min_p = [tests[i].min_p for i in ids]
        out = {
            i: max(share, alpha / tarone_count([*min_p[:j], *min_p[j + 1 :], 0.0], alpha))
            for j, i in enumerate(ids)
        }
        return IfDropped(out, max(share, alpha / tarone_count([*min_p, 0.0], alpha)))
    if method != "discrete-holm":
        return IfDropped(dict.fromkeys(ids, share), share)
    sizes = [attainable_sizes(tests[i], alpha) for i in ids]
    min_p = [tests[i].min_p for i in ids]

    def charged_in_full(j: int | None) -> float:
        keep = [k for k in range(len(ids)) if k != j]
        t = discrete_threshold(
            [*(sizes[k] for k in keep), None], [*(min_p[k] for k in keep), 0.0], alpha
        )
        return max(share, t * (1 - 1e-6))

    by_key: dict[tuple, float] = {}
    out = {}
    for j, i in enumerate(ids):
        key = (sizes[j], min_p[j])
        if key not in by_key:
            by_key[key] = charged_in_full(j)
        out[i] = by_key[key]
    return IfDropped(out, charged_in_full(None))


def _margin_met(test: PairedTest | CaseTest) -> bool:
    if isinstance(test, PairedTest):
        return test.margin_met
    return test.overall.margin_met or any(t.margin_met for t in test.categories.values())


def _tarone_holm(ids: list[str], p: np.ndarray, min_p: np.ndarray, alpha: float) -> RunDecision:
    rejected, thresholds, k = tarone_holm_reject(p, min_p, alpha)
    return RunDecision(
        "tarone-holm",
        alpha,
        frozenset(i for i, r in zip(ids, rejected, strict=True) if r),
        dict(zip(ids, thresholds.tolist(), strict=True)),
        {},
        k,
    )


# -- grouped cases (knowledge bias) -----------------------------------------------------


@dataclass(frozen=True)
class CaseTest:
    """A case tested on its overall score and on its categories (knowledge bias).

    ``p = min(1, 2 * min(p_overall, Simes over categories))`` (Bonferroni over the two
    routes), so it enters :func:`control_run` like any other case. Within the case the
    categories are compared with Benjamini–Hochberg (``category_q``).
    """

    overall: PairedTest
    categories: Mapping[str, PairedTest]
    p: float
    min_p: float
    category_q: Mapping[str, float]

    @property
    def delta(self) -> float:
        return self.overall.delta

    @property
    def n(self) -> int:
        return self.overall.n

    def dropped_categories(self, threshold: float) -> list[tuple[str, PairedTest, float]]:
        """Categories whose BH q-value is within ``threshold / 2`` and whose drop meets the
        margin, worst (smallest q, then largest drop) first."""
        out = [
            (name, t, self.category_q[name])
            for name, t in self.categories.items()
            if self.category_q[name] <= threshold / 2 * (1 + _EPS) and t.margin_met
        ]
        return sorted(out, key=lambda item: (item[2], item[1].delta, item[0]))

    def fails(self, threshold: float) -> bool:
        """True when the overall drop or a category drop is significant at ``threshold``."""
        if self.p > threshold * (1 + _EPS):
            return False
        overall = 2 * self.overall.p <= threshold * (1 + _EPS) and self.overall.margin_met
        return overall or bool(self.dropped_categories(threshold))


def grouped_test(overall: PairedTest, categories: Mapping[str, PairedTest]) -> CaseTest:
    """Combine a case's overall test with its per-category tests (see :class:`CaseTest`)."""
    names = list(categories)
    cat_p = [categories[c].p for c in names]
    q = bh_adjust(cat_p) if names else np.array([])
    simes = simes_p(cat_p)
    mins = np.sort(np.array([categories[c].min_p for c in names], dtype=float))
    simes_min = float(np.min(mins * mins.size / np.arange(1, mins.size + 1))) if names else 1.0
    p = min(1.0, 2 * min(overall.p, simes))
    min_p = min(1.0, 2 * min(overall.min_p, simes_min))
    return CaseTest(overall, dict(categories), p, min_p, dict(zip(names, q.tolist(), strict=True)))
