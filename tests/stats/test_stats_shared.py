"""The one Wilson interval and the one bootstrap reproduce their former copies bit for bit."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_fgbmk.scoring import wilson
from pytest_fgbmk.stats import (
    bootstrap_mean_interval,
    bootstrap_percent_interval,
    paired_bootstrap_interval,
    wilson_interval,
)


def _former_scoring_wilson(correct: int, n: int) -> tuple[float, float]:
    """scoring.wilson as it was before it called stats.wilson_interval."""
    z = 1.959963984540054
    if n <= 0:
        return 0.0, 100.0
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half) * 100, min(1.0, centre + half) * 100


def _former_paired(b, c, *, confidence=0.95, n_resamples=2000, seed=0, scale=100.0):
    """stats.paired_bootstrap_interval as it was before it called bootstrap_mean_interval."""
    diff = (np.asarray(c, float) - np.asarray(b, float)) * scale
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    step = max(1, 2_000_000 // diff.size)
    for start in range(0, n_resamples, step):
        stop = min(n_resamples, start + step)
        idx = rng.integers(0, diff.size, size=(stop - start, diff.size))
        means[start:stop] = diff[idx].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


@given(st.integers(0, 400).flatmap(lambda n: st.tuples(st.integers(0, max(n, 0)), st.just(n))))
def test_scoring_wilson_is_the_stats_interval_in_percent_bit_for_bit(kn):
    k, n = kn
    assert wilson(k, n) == _former_scoring_wilson(k, n)
    low, high = wilson_interval(k, n)
    assert wilson(k, n) == (low * 100, high * 100)


def machine_bootstrap_interval(values: np.ndarray, seed: int) -> tuple[float, float]:
    """The machine session's former copy, kept verbatim as the reference."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return 0.0, 100.0
    rng = np.random.default_rng(seed)
    means = np.empty(2000)
    step = max(1, 2_000_000 // v.size)
    for start in range(0, 2000, step):
        stop = min(2000, start + step)
        means[start:stop] = v[rng.integers(0, v.size, size=(stop - start, v.size))].mean(1)
    low, high = np.quantile(means, [0.025, 0.975])
    return float(max(0.0, 100 * low)), float(min(100.0, 100 * high))


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(0, 1, allow_nan=False), min_size=0, max_size=300),
    st.integers(0, 2**32 - 1),
)
def test_percent_bootstrap_equals_the_machine_sessions_copy(values, seed):
    v = np.asarray(values, dtype=float)
    assert bootstrap_percent_interval(v, seed) == machine_bootstrap_interval(v, seed)


def test_percent_bootstrap_equals_the_machine_copy_on_a_large_input():
    """More than 1000 values: the resamples are drawn in several blocks."""
    v = (np.random.default_rng(3).random(4321) < 0.7).astype(float)
    assert bootstrap_percent_interval(v, 17) == machine_bootstrap_interval(v, 17)


@settings(max_examples=20, deadline=None)
@given(
    st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=200),
    st.integers(0, 1000),
    st.sampled_from([0.8, 0.9, 0.95]),
)
def test_paired_bootstrap_is_unchanged(values, seed, confidence):
    b = np.asarray(values)
    c = np.roll(b, 1)
    got = paired_bootstrap_interval(b, c, seed=seed, confidence=confidence)
    assert got == _former_paired(b, c, seed=seed, confidence=confidence)


def test_bootstrap_mean_interval_holds_the_mean_and_rejects_empty():
    v = np.random.default_rng(0).normal(5.0, 1.0, 500)
    low, high = bootstrap_mean_interval(v, seed=1)
    assert low < v.mean() < high
    try:
        bootstrap_mean_interval([], seed=0)
    except ValueError as exc:
        assert "no values" in str(exc)
    else:
        raise AssertionError("an empty input must raise")
