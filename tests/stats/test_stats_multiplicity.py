"""Multiple testing and run-level control: exact values, references and properties."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from scipy import stats as st

from pytest_fgbmk.stats import (
    attainable_sizes,
    bh_adjust,
    control_run,
    discrete_threshold,
    grouped_test,
    holm_adjust,
    mcnemar_counts,
    mcnemar_sizes,
    simes_p,
    tarone_count,
)

pvals = hs.lists(hs.floats(1e-6, 1.0), min_size=1, max_size=7)


def test_holm_exact_values():
    got = holm_adjust([0.01, 0.04, 0.03, 0.005])
    assert got == pytest.approx([0.03, 0.06, 0.06, 0.02])


@given(pvals)
@settings(max_examples=50, deadline=None)
def test_holm_equals_closed_testing_with_bonferroni(ps):
    m = len(ps)
    expected = []
    for i in range(m):
        worst = 0.0
        for r in range(1, m + 1):
            for subset in itertools.combinations(range(m), r):
                if i in subset:
                    worst = max(worst, min(1.0, r * min(ps[j] for j in subset)))
        expected.append(worst)
    assert holm_adjust(ps) == pytest.approx(expected)


@given(pvals)
@settings(max_examples=50, deadline=None)
def test_bh_matches_scipy_and_simes_is_its_minimum(ps):
    assert bh_adjust(ps) == pytest.approx(st.false_discovery_control(ps, method="bh"))
    assert simes_p(ps) == pytest.approx(min(st.false_discovery_control(ps, method="bh")))


def test_tarone_count():
    # 180 tests that can reach 2**-10 ≈ 0.001 and one that can reach 1e-6
    assert tarone_count([0.5**10] * 180 + [1e-6], 0.01) == 11
    assert tarone_count([1.0] * 50, 0.01) == 1
    assert tarone_count([1e-9] * 5, 0.05) == 5


def test_mcnemar_sizes_are_the_attainable_tail_probabilities():
    # k = 12 discordant pairs, margin 5 items: worse must be at least 9 (9 - 3 = 6 >= 5)
    sizes = mcnemar_sizes(12, 5, 0.01)
    expected = sorted(st.binom.sf(w - 1, 12, 0.5) for w in range(9, 13))
    assert sizes == pytest.approx([v for v in expected if v <= 0.01])
    assert mcnemar_sizes(4, 5, 0.01) == ()
    assert mcnemar_sizes(6, 5, 0.01) == ()  # 2**-6 = 0.0156 > alpha


def test_discrete_threshold_charges_each_case_its_exact_size():
    a = [1 / 4096, 1 / 1024]
    # two such cases: at t = 1/1024 the sum is 2/1024 <= 0.01; every point is affordable
    assert discrete_threshold([a, a], [a[0], a[0]], 0.01) == 0.01
    # a budget of 0.0015: 1/1024 + 1/4096 = 0.00122 fits, 2/1024 does not
    assert discrete_threshold([a, a], [a[0], a[0]], 0.0015) == 1 / 4096
    # a test without known sizes is charged t itself once its min_p is reached
    assert discrete_threshold([None], [1e-4], 0.01) == pytest.approx(0.01)
    assert discrete_threshold([None, None], [1e-4, 1e-4], 0.01) == pytest.approx(0.005, rel=1e-6)


def _flips(rng, runs, cases, n=500, unstable=20):
    a = 0.25
    d = rng.multinomial(unstable, [a, a, 1 - 2 * a], size=(runs, cases))
    return d[..., 0], d[..., 1]


def test_discrete_holm_false_alarm_is_within_alpha_on_unchanged_runs():
    rng = np.random.default_rng(11)
    worse, better = _flips(rng, 150, 100)
    fails = 0
    for r in range(150):
        tests = {
            f"c{c}": mcnemar_counts(int(worse[r, c]), int(better[r, c]), 500) for c in range(100)
        }
        fails += bool(control_run(tests, alpha=0.05).rejected)
    # at alpha = 0.05 the expected count is at most 7.5 of 150
    assert fails <= 12


def test_one_real_drop_is_caught_and_only_it():
    rng = np.random.default_rng(5)
    worse, better = _flips(rng, 1, 200)
    tests = {f"c{c}": mcnemar_counts(int(worse[0, c]), int(better[0, c]), 500) for c in range(200)}
    tests["dropped"] = mcnemar_counts(32, 4, 500)
    tests["improved"] = mcnemar_counts(4, 32, 500)
    for method in ("discrete-holm", "tarone-holm", "holm", "bonferroni", "bh"):
        d = control_run(tests, alpha=0.01, method=method)
        assert d.rejected == {"dropped"}, method
    ours = control_run(tests, alpha=0.01)
    assert ours.thresholds["dropped"] > 4 * (0.01 / 202)  # well above Bonferroni's share


@given(hs.lists(hs.tuples(hs.integers(0, 25), hs.integers(0, 25)), min_size=1, max_size=30))
@settings(max_examples=40, deadline=None)
def test_stepdown_rejections_nest(counts):
    tests = {f"c{i}": mcnemar_counts(w, b, 500) for i, (w, b) in enumerate(counts)}
    margin = {i for i, t in tests.items() if t.margin_met}
    bonf = control_run(tests, method="bonferroni").rejected & margin
    holm = control_run(tests, method="holm").rejected & margin
    tarone = control_run(tests, method="tarone-holm").rejected & margin
    ours = control_run(tests).rejected
    assert bonf <= holm <= tarone
    assert holm <= ours <= margin
    assert all(tests[i].delta < 0 for i in ours)


def test_grouped_test_names_the_dropped_category():
    cats = {f"cat{i}": mcnemar_counts(1, 1, 40) for i in range(20)}
    cats["cat7"] = mcnemar_counts(14, 0, 40)
    overall = mcnemar_counts(34, 20, 800)
    g = grouped_test(overall, cats)
    simes = min(st.false_discovery_control([c.p for c in cats.values()], method="bh"))
    assert g.p == pytest.approx(min(1.0, 2 * min(overall.p, simes)))
    assert g.fails(0.01)
    assert [name for name, _, _ in g.dropped_categories(0.01)] == ["cat7"]
    calm = grouped_test(mcnemar_counts(20, 20, 800), {k: mcnemar_counts(1, 1, 40) for k in cats})
    assert not calm.fails(0.01) and calm.p == 1.0
    d = control_run({"kb": g, "other": mcnemar_counts(2, 2, 500)}, alpha=0.01)
    assert d.rejected == {"kb"}


def test_unknown_method_is_an_error():
    with pytest.raises(ValueError, match="unknown run-level control"):
        control_run({"a": mcnemar_counts(1, 1, 10)}, method="fdr")


def test_stepdown_thresholds_never_fall_after_a_rejection():
    """Seven cases of 12 questions lose 9 to 12 answers, twenty more 3 to 9 (a chance model
    against oracle baselines, ``--fgbmk-synth=small``): the seven are rejected at the first
    step's threshold; over the rest alone every attainable size overflows the budget, and
    the discrete threshold of that step is 0. The thresholds shown stay at the first step's
    (0 read as "this case could never fail"), and the rejections are the same."""
    drops = [12, 12, 11, 11, 10, 10, 10] + [9] * 9 + [8] * 5 + [7] * 3 + [5, 4, 3]
    tests = {f"c{i}": mcnemar_counts(w, 0, 12) for i, w in enumerate(drops)}
    rest = [f"c{i}" for i in range(7, len(drops))]
    sizes = [attainable_sizes(tests[i], 0.01) for i in rest]
    assert discrete_threshold(sizes, [tests[i].min_p for i in rest], 0.01) == 0.0
    d = control_run(tests, alpha=0.01)
    assert d.rejected == {f"c{i}" for i in range(7)}
    first = discrete_threshold(
        [attainable_sizes(t, 0.01) for t in tests.values()], [t.min_p for t in tests.values()], 0.01
    )
    assert first == 0.5**10  # 2 x 1/4096 + 2 x 13/4096 + 3 x 1/1024 fit; 9 x 1/512 do not
    assert set(d.thresholds.values()) == {first}


@given(hs.lists(hs.tuples(hs.integers(0, 11), hs.integers(0, 3)), min_size=1, max_size=40))
@settings(max_examples=40, deadline=None)
def test_a_rejected_family_keeps_thresholds_at_least_the_first_steps(counts):
    tests = {f"c{i}": mcnemar_counts(w, b, 14) for i, (w, b) in enumerate(counts)}
    sizes = [attainable_sizes(t, 0.01) for t in tests.values()]
    first = discrete_threshold(sizes, [t.min_p for t in tests.values()], 0.01)
    d = control_run(tests, alpha=0.01)
    assert min(d.thresholds.values()) >= first


def test_the_threshold_a_dropping_case_would_get():
    """What the gate states each case's mdd at (``thresholds_if_dropped``)."""
    from pytest_fgbmk.stats import thresholds_if_dropped

    still = {f"c{i}": mcnemar_counts(0, 0, 12) for i in range(48)}  # nothing moved
    d = thresholds_if_dropped(still, alpha=0.01)
    assert set(d.cases.values()) == {d.other} and d.other == pytest.approx(0.01 * (1 - 1e-6))
    # every other case able to fail at its only size 2**-12: each is charged it
    moved = {f"c{i}": mcnemar_counts(12, 0, 12) for i in range(48)}
    d = thresholds_if_dropped(moved, alpha=0.01)
    t = d.get("c0")  # 47 others x 2**-12 = 0.01147 > 0.01: none of them fits, t < 2**-12
    assert 0.01 / 48 <= t < 2.0**-12 and d.get("not-decided") <= t
    assert thresholds_if_dropped(moved, alpha=0.01, method="none").get("c0") == 0.01
    for method in ("holm", "bonferroni", "bh"):
        assert thresholds_if_dropped(moved, alpha=0.01, method=method).get("c0") == 0.01 / 48
    assert thresholds_if_dropped(still, alpha=0.01, method="tarone-holm").get("c0") == 0.01
    with pytest.raises(ValueError, match="unknown run-level control 'x'"):
        thresholds_if_dropped(still, method="x")
