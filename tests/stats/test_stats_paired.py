"""Paired tests and intervals against scipy and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from scipy import stats as st

from pytest_fgbmk.stats import (
    mcnemar_counts,
    mcnemar_drop,
    mcnemar_p,
    needed_count,
    paired_bootstrap_interval,
    sign_flip_drop,
    wilson_interval,
)


def test_mcnemar_exact_values():
    assert mcnemar_p(8, 0) == 1 / 256
    assert mcnemar_p(0, 0) == 1.0
    # P(X >= 3 | Bin(4, 1/2)) = 5/16
    assert mcnemar_p(3, 1) == pytest.approx(5 / 16, abs=1e-15)
    assert mcnemar_p(0, 5) == 1.0


@given(hs.integers(0, 60), hs.integers(0, 60))
@settings(max_examples=60, deadline=None)
def test_mcnemar_matches_scipy_binomtest(worse, better):
    k = worse + better
    expected = 1.0 if k == 0 else st.binomtest(worse, k, 0.5, alternative="greater").pvalue
    assert mcnemar_p(worse, better) == pytest.approx(expected, rel=1e-12, abs=1e-300)


def test_mcnemar_drop_from_vectors():
    base = [True] * 10 + [False] * 10
    now = [False] * 7 + [True] * 3 + [True] * 1 + [False] * 9
    t = mcnemar_drop(base, now, min_drop=1.0)
    assert (t.worse, t.better, t.n) == (7, 1, 20)
    assert t.delta == pytest.approx(-30.0)
    assert t.p == pytest.approx(st.binom.sf(6, 8, 0.5))
    assert t.min_p == 0.5**8
    assert t.margin_met
    with pytest.raises(ValueError, match="20 items"):
        mcnemar_drop(base, now[:-1])


def test_mcnemar_min_p_needs_the_margin_to_be_reachable():
    # 1 point of 500 is 5 questions: 4 discordant pairs can never fail
    assert needed_count(500, 1.0) == 5
    assert needed_count(200, 1.0) == 2
    assert needed_count(10, 0.0) == 1
    assert mcnemar_counts(4, 0, 500).min_p == 1.0
    assert mcnemar_counts(5, 0, 500).min_p == 1 / 32
    assert not mcnemar_counts(6, 2, 500).margin_met  # net 4 of 500 = 0.8 points
    assert mcnemar_counts(7, 2, 500).margin_met


def test_improvement_has_large_p_and_never_meets_the_margin():
    t = mcnemar_counts(2, 27, 500)
    assert t.p > 0.99 and t.delta == pytest.approx(5.0) and not t.margin_met


def _scipy_paired_less(b, c):
    return st.permutation_test(
        (b, c),
        lambda x, y, axis: np.mean(y - x, axis=axis),
        permutation_type="samples",
        n_resamples=np.inf,
        alternative="less",
    ).pvalue


@given(hs.lists(hs.tuples(hs.integers(0, 8), hs.integers(0, 8)), min_size=2, max_size=10))
@settings(max_examples=40, deadline=None)
def test_sign_flip_exact_matches_scipy_permutation_test(pairs):
    b = np.array([p[0] for p in pairs], dtype=float) / 8
    c = np.array([p[1] for p in pairs], dtype=float) / 8
    t = sign_flip_drop(b, c, min_drop=0.0)
    if np.all(b == c):
        assert t.p == 1.0
        return
    assert t.method == "sign-flip exact"
    assert t.p == pytest.approx(_scipy_paired_less(b, c), abs=1e-12)


def test_sign_flip_values_and_min_p():
    b = np.array([0.9, 0.8, 0.7, 0.5, 0.4])
    c = np.array([0.6, 0.8, 0.6, 0.45, 0.4])
    t = sign_flip_drop(b, c)
    # 3 non-zero differences, all negative: the smallest of 8 sign patterns
    assert (t.worse, t.better, t.p, t.min_p) == (3, 0, 1 / 8, 1 / 8)
    assert t.delta == pytest.approx(-9.0)


def test_sign_flip_normal_limit_on_binary_values_is_mcnemars_normal_approximation():
    rng = np.random.default_rng(3)
    b = rng.random(400) < 0.7
    c = b.copy()
    flip = rng.choice(400, 40, replace=False)
    c[flip[:28]] = False
    c[flip[28:]] = True
    t = sign_flip_drop(b.astype(float), c.astype(float))
    worse, better = int(np.sum(b & ~c)), int(np.sum(~b & c))
    assert t.method == "sign-flip normal"
    assert t.p == pytest.approx(st.norm.cdf((better - worse) / math.sqrt(worse + better)))


def test_paired_bootstrap_interval():
    b = np.zeros(50)
    assert paired_bootstrap_interval(b, b + 0.02) == pytest.approx((2.0, 2.0))
    rng = np.random.default_rng(0)
    base = rng.random(300)
    now = base - 0.05 + rng.normal(0, 0.1, 300)
    low, high = paired_bootstrap_interval(base, now, seed=1)
    assert low < 100 * np.mean(now - base) < high
    assert (low, high) == paired_bootstrap_interval(base, now, seed=1)
    # close to the normal interval of the mean difference
    se = 100 * np.std(now - base, ddof=1) / math.sqrt(300)
    mean = 100 * np.mean(now - base)
    assert low == pytest.approx(mean - 1.96 * se, abs=0.25 * se)
    assert high == pytest.approx(mean + 1.96 * se, abs=0.25 * se)


@given(hs.integers(0, 200).flatmap(lambda n: hs.tuples(hs.integers(0, n), hs.just(n))))
@settings(max_examples=60, deadline=None)
def test_wilson_matches_scipy(kn):
    k, n = kn
    if n == 0:
        assert wilson_interval(k, n) == (0.0, 1.0)
        return
    ci = st.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson_interval(k, n)
    assert low == pytest.approx(ci.low, abs=1e-12)
    assert high == pytest.approx(ci.high, abs=1e-12)
