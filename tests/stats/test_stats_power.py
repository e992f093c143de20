"""The stated power (``pytest_fgbmk.power``): exact values, scipy references, Monte Carlo."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from scipy import stats as st

from pytest_fgbmk.power import (
    accuracy_detectable,
    bonferroni_share,
    flip_rate,
    format_mdd,
    limit_for,
    mcnemar_critical,
    mcnemar_mdd,
    mcnemar_power,
    sign_flip_mdd,
    sign_flip_power,
    values_detectable,
)
from pytest_fgbmk.stats import mcnemar_counts, mcnemar_p, needed_count, sign_flip_drop


@given(hs.integers(0, 80), hs.sampled_from([1e-2, 1e-3, 2.08e-4, 5e-5, 0.5**10, 1e-7]))
@settings(max_examples=80, deadline=None)
def test_the_critical_count_is_scipys_binomtest_boundary(k, t):
    c = int(mcnemar_critical(k, t))
    p_at = lambda w: st.binomtest(w, k, 0.5, alternative="greater").pvalue if k else 1.0  # noqa: E731
    if c <= k:
        assert p_at(c) <= t * (1 + 1e-9)
    else:
        assert c == k + 1 and 0.5**k > t
    if 0 < c <= k:
        assert c == 0 or p_at(c - 1) > t


def test_no_background_needs_ceil_log2_of_one_over_t_flips_or_the_margin():
    t = 0.01 / 48  # the Bonferroni share over 48 cases
    k = math.ceil(math.log2(1 / t))
    assert k == 13
    assert mcnemar_mdd(12, threshold=t) == math.inf  # 0.5**12 > t: never at this threshold
    assert mcnemar_mdd(13, threshold=t) == 100.0  # every answer must flip
    assert mcnemar_mdd(100, threshold=t) == 13.0
    assert mcnemar_mdd(360, threshold=0.01 / 67) == pytest.approx(100 * 13 / 360)
    # the margin dominates: 1 pt of 5000 is 50 flips, more than 13
    assert mcnemar_mdd(5000, threshold=t) == pytest.approx(1.0)
    assert mcnemar_mdd(5001, threshold=t) == pytest.approx(100 * 51 / 5001)
    # a 12.0 % baseline has 12 right answers of 100: fewer than 13 to lose
    assert mcnemar_mdd(100, threshold=t, accuracy=12.0) == math.inf
    assert mcnemar_mdd(100, threshold=t, accuracy=13.0) == 13.0
    # exactly 2**-13: the boundary counts as reached (the gate's p <= t)
    assert mcnemar_mdd(100, threshold=0.5**13) == 13.0
    assert mcnemar_power(100, 12, threshold=t) == 0.0
    assert mcnemar_power(100, 13, threshold=t) == 1.0


@given(
    hs.integers(1, 3000),
    hs.integers(1, 3000),
    hs.sampled_from([0.0, 0.01, 0.04, 0.1]),
    hs.sampled_from([1e-2, 2e-4, 1e-5]),
    hs.sampled_from([0.0, 1.0, 2.0]),
)
@settings(max_examples=60, deadline=None)
def test_mdd_shrinks_with_n_up_to_one_item(n1, n2, rate, t, margin):
    lo, hi = sorted((n1, n2))
    a = mcnemar_mdd(lo, threshold=t, min_drop=margin, flip_rate=rate)
    b = mcnemar_mdd(hi, threshold=t, min_drop=margin, flip_rate=rate)
    # more items never need a larger drop, but for a step of one item (one more flip
    # needed at the larger n), and what cannot fail at n may fail at more
    assert b <= a + 100.0 / hi + 1e-9 or math.isinf(a)
    if math.isinf(b):
        assert math.isinf(a)


@given(hs.integers(1, 400), hs.integers(0, 60), hs.sampled_from([0.0, 0.05, 0.2]))
@settings(max_examples=60, deadline=None)
def test_power_grows_with_the_drop(n, extra, rate):
    kw = {"threshold": 1e-3, "min_drop": 1.0, "flip_rate": rate}
    assert mcnemar_power(n, extra, **kw) <= mcnemar_power(n, extra + 1, **kw) + 1e-12


@pytest.mark.parametrize("n,rate,unstable", [(40, 0.1, None), (60, 0.05, 30)])
def test_power_equals_a_brute_force_sum_over_every_flip_outcome(n, rate, unstable):
    """Every (right→wrong, wrong→right) background outcome enumerated with its multinomial
    probability, each judged by the gate's own p-value and margin."""
    t, margin = 1e-3, 2.0
    u = n if unstable is None else unstable
    q = rate * n / u / 2  # each pool item: right→wrong q, wrong→right q
    for extra in (0, 6, 10, 14, 20):
        total = 0.0
        for w0 in range(u + 1):
            for b0 in range(u + 1 - w0):
                prob = st.multinomial.pmf([w0, b0, u - w0 - b0], u, [q, q, 1 - 2 * q])
                fails = mcnemar_p(w0 + extra, b0) <= t and w0 + extra - b0 >= needed_count(
                    n, margin
                )
                total += prob * fails
        got = mcnemar_power(n, extra, threshold=t, min_drop=margin, flip_rate=rate, unstable=u)
        assert got == pytest.approx(total, abs=1e-9)


@pytest.mark.parametrize(
    "n,extra,rate,t", [(500, 29, 0.02, 5e-5), (200, 20, 0.05, 1e-3), (60, 10, 0.1, 1e-2)]
)
def test_power_agrees_with_a_monte_carlo_of_the_gates_test(n, extra, rate, t):
    rng = np.random.default_rng(7)
    runs = 20000
    k0 = rng.binomial(n, rate, runs)
    w0 = rng.binomial(k0, 0.5)
    fails = np.array(
        [
            (r := mcnemar_counts(int(w + extra), int(k - w), n, min_drop=1.0)).p <= t
            and r.margin_met
            for k, w in zip(k0, w0, strict=True)
        ]
    )
    predicted = mcnemar_power(n, extra, threshold=t, flip_rate=rate)
    se = math.sqrt(predicted * (1 - predicted) / runs)
    assert abs(fails.mean() - predicted) <= 4 * se + 1e-3


def test_sign_flip_power_and_mdd_agree_with_a_monte_carlo_of_the_gates_test():
    rng = np.random.default_rng(3)
    n, spread, t = 300, 0.25, 2e-4
    mdd = sign_flip_mdd(n, threshold=t, spread=spread)
    assert 4.0 < mdd < 8.0
    for drop, expect in ((mdd, 0.9), (mdd * 0.6, None)):
        runs = 1500
        hits = 0
        for _ in range(runs):
            d = -drop / 100 + spread * rng.standard_normal(n)
            test = sign_flip_drop(np.zeros(n), d, min_drop=1.0)
            hits += test.p <= t and test.margin_met
        predicted = sign_flip_power(n, drop, threshold=t, spread=spread)
        if expect is not None:
            assert predicted == pytest.approx(expect, abs=2e-3)
        assert abs(hits / runs - predicted) <= 4 * math.sqrt(0.25 / runs)


def test_sign_flip_limits():
    # at most 20 values: the exact test never goes below 0.5**n
    assert sign_flip_mdd(10, threshold=1e-4, spread=0.2) == math.inf
    assert sign_flip_power(14, 50.0, threshold=0.5**14, spread=0.0) == 1.0
    # sum d / sqrt(sum d**2) >= -sqrt(n): z_t = 3.72 needs n >= 14 (normal limit)
    assert sign_flip_power(21, 30.0, threshold=1e-12, spread=0.1) == 0.0
    # no spread: any drop past the margin is certain once sqrt(n) >= z
    assert sign_flip_mdd(100, threshold=1e-3, spread=0.0, min_drop=1.0) == pytest.approx(
        1.0, abs=0.01
    )
    # values cannot fall below 0: a 2-point baseline cannot drop 5 points
    assert sign_flip_mdd(50, threshold=1e-3, spread=0.3, ceiling=2.0) == math.inf


def test_sign_flip_power_is_statsmodels_normal_power_with_the_permutation_variance():
    """Without a margin the power is statsmodels' ``normal_power_het``: the statistic's null
    SD is the permutation one, sqrt(s**2 + d**2) per item, its SD under the drop is s."""
    from statsmodels.stats.power import normal_power_het

    for n, spread, t, drop in ((2000, 0.3, 1e-3, 2.5), (400, 0.2, 1e-4, 4.0), (60, 0.1, 1e-2, 3.0)):
        d = drop / 100
        ref = normal_power_het(
            d, n, t, std_null=math.hypot(spread, d), std_alternative=spread, alternative="larger"
        )
        ours = sign_flip_power(n, drop, threshold=t, min_drop=0.0, spread=spread)
        assert ours == pytest.approx(float(ref), rel=1e-9, abs=1e-12)


def test_detectable_states_its_assumption_and_the_grouped_route():
    plain = accuracy_detectable(100, alpha=0.01, family_size=48, min_drop=1.0, accuracy=100.0)
    grouped = accuracy_detectable(
        100, alpha=0.01, family_size=48, min_drop=1.0, accuracy=100.0, grouped=True
    )
    assert plain.threshold == bonferroni_share(0.01, 48) == pytest.approx(0.01 / 48)
    assert (plain.mdd, grouped.mdd) == (13.0, 14.0)  # half the threshold: one more flip
    assert grouped.threshold == pytest.approx(0.01 / 96)
    assert "Bonferroni share, conservative" in plain.assumption
    assert "0.0% symmetric background" in plain.assumption
    v = values_detectable(360, alpha=0.01, family_size=65, min_drop=1.0, spread=0.112, ceiling=22.5)
    assert v.test == "sign-flip" and "spread" in v.assumption and math.isfinite(v.mdd)
    assert (format_mdd(7.25), format_mdd(math.inf), format_mdd(13.0)) == ("7.2", "inf", "13.0")
    assert flip_rate(7, 3, 100) == 0.06 and flip_rate(0, 9, 100) == 0.0


def test_limit_for_finds_the_least_n_that_reaches_the_drop():
    t = 0.01 / 67
    at = lambda n: mcnemar_mdd(n, threshold=t)  # noqa: E731
    # 13 flips all one way: 13 / n <= 5 % from n = 260
    assert limit_for(5.0, at, 360) == 260
    assert at(260) <= 5.0 < at(259)
    assert limit_for(5.0, at, 200) is None
    assert limit_for(3.0, at, 10_000) == math.ceil(100 * 13 / 3)
    assert needed_count(260, 1.0) == 3
