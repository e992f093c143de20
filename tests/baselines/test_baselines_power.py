"""The gate states every case's minimum detectable drop (JUnit ``mdd``): against the
baseline's accuracy and the observed flips, or the measured value with no baseline."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_fgbmk.baselines.gate import BaselineGate, Entry
from pytest_fgbmk.baselines.record import build_record, dump_record
from pytest_fgbmk.measurement import Asked
from pytest_fgbmk.power import mcnemar_mdd, sign_flip_mdd
from tests.baselines.test_baselines_gate import PATH, gate_entry, measure


def props(verdict) -> dict[str, str]:
    return dict(verdict.properties)


def test_an_accuracy_case_uses_its_baseline_and_its_symmetric_flips():
    base = [True] * 150 + [False] * 50  # 75 %
    # 12 right -> wrong, 4 wrong -> right: background 2 * 4 / 200 = 4 %
    now = [False] * 12 + [True] * 138 + [True] * 4 + [False] * 46
    v = BaselineGate(family_size=10).verdict(gate_entry(base, now))
    expected = mcnemar_mdd(200, threshold=0.001, accuracy=75.0, flip_rate=0.04)
    assert props(v)["mdd"] == f"{expected:.1f}"
    # an exact boundary the background moves: no flips would need 10 of 200 (5.0 points)
    assert mcnemar_mdd(200, threshold=0.001, accuracy=75.0) == 5.0 < expected
    assert "4.0% symmetric background flip rate, baseline 75.0%" in props(v)["mdd_assumption"]
    assert "p <= 0.001 (alpha 0.01 / 10 cases: Bonferroni share" in props(v)["mdd_assumption"]


def test_a_case_without_a_baseline_assumes_its_measured_accuracy_and_no_flips():
    gate = BaselineGate(family_size=1)  # p <= 0.01: 7 one-way flips (2**-7 < 0.01 < 2**-6)
    v = gate.verdict(Entry("toy-a-tf", measure([True] * 30), PATH, None))
    assert not v.ok and props(v)["mdd"] == f"{100 * 7 / 30:.1f}" == "23.3"
    few = gate.verdict(Entry("toy-a-tf", measure([True] * 6 + [False] * 24), PATH, None))
    assert props(few)["mdd"] == "inf"  # 6 right answers to lose, 7 needed
    # a baseline of another configuration is no baseline: same assumption
    stored = dump_record(build_record(measure([True] * 30)))
    other = measure([True] * 30, asked=Asked("toy", "abc123", "original", "official", None, 0))
    v = gate.verdict(Entry("toy-a-tf", other, PATH, stored))
    assert "fingerprint differs" in v.message and props(v)["mdd"] == "23.3"


def test_knowledge_bias_is_stated_at_half_the_threshold():
    cats = [f"c{i % 4}" for i in range(40)]
    same = [True] * 40
    kb = BaselineGate(family_size=1).verdict(
        gate_entry(same, same, task="knowledge_bias", categories=cats)
    )
    plain = BaselineGate(family_size=1).verdict(gate_entry(same, same))
    # 0.005 needs 8 one-way flips, 0.01 needs 7
    assert (props(kb)["mdd"], props(plain)["mdd"]) == ("20.0", "17.5")


def test_a_per_query_case_uses_the_baselines_spread():
    ids = [f"q{i}" for i in range(200)]
    rng = np.random.default_rng(0)
    values = rng.uniform(0.2, 0.9, 200).round(6)
    base = {"per_query": list(zip(ids, values.tolist(), strict=True))}
    stored = dump_record(build_record(measure([True] * 200, ids=ids, details=base)))
    v = BaselineGate(family_size=5).verdict(
        Entry("x", measure([True] * 200, ids=ids, details=base), PATH, stored)
    )
    expected = sign_flip_mdd(
        200, threshold=0.002, spread=float(np.std(values)), ceiling=100 * float(np.mean(values))
    )
    assert math.isfinite(expected) and props(v)["mdd"] == f"{expected:.1f}"
    assert "sign-flip" in props(v)["mdd_assumption"]
    assert float(np.std(values)) == pytest.approx(0.7 / math.sqrt(12), rel=0.1)


def _family(drops: dict[int, int], cases: int = 48, n: int = 12) -> list[Entry]:
    """``cases`` cases of ``n`` questions, all right in the baseline; case ``i`` loses
    ``drops.get(i, 0)`` of them now (the others are unchanged)."""
    out = []
    for i in range(cases):
        lost = drops.get(i, 0)
        e = gate_entry([True] * n, [False] * lost + [True] * (n - lost))
        out.append(Entry(f"c{i}", e.measurement, PATH, e.text))
    return out


@pytest.mark.parametrize(
    ("lost", "others"),
    # the dropped case's attainable sizes charge the others' budget: 2**-12 + 13/4096
    # leaves t < 2**-7 (8 flips), 2**-10 leaves 2**-7 (7), 2**-8 leaves 2**-8 (8), and 2**-7
    # leaves any t just below 2**-7 (8)
    [(12, "66.7"), (10, "58.3"), (8, "66.7"), (7, "66.7")],
)
def test_a_case_that_fails_never_states_inf_and_its_drop_reaches_its_mdd(lost, others):
    """48 cases of 12 questions, one drops (a chance model's worst case, unchanged
    others): at the Bonferroni share (0.01 / 48) it would need 13 one-way flips of 12 (mdd
    inf, "cannot fail"), yet the run-level threshold with 47 unchanged cases charged nothing
    is almost all of alpha, and 7 flips (p = 1/128) fail it. The mdd is stated at that
    threshold: finite, and a drop that fails is at least it."""
    entries = _family({0: lost})
    gate = BaselineGate(family_size=48)
    gate.decide_family(entries)
    verdicts = [gate.verdict(e) for e in entries]
    assert not verdicts[0].ok  # p = 2**-lost <= 2**-7 < 0.01
    mdd = props(verdicts[0])["mdd"]
    assert mdd == "58.3"  # 7 of 12 at p <= 0.01 (1 - 1e-6): the others charge nothing
    assert float(mdd) <= 100 * lost / 12
    assert (
        "the run-level threshold this case would at least get"
        in props(verdicts[0])["mdd_assumption"]
    )
    assert all(v.ok and props(v)["mdd"] == others for v in verdicts[1:])


def test_every_failing_case_of_a_run_of_many_drops_states_a_drop_it_reached():
    """Many cases dropping at once charge the budget: the stated threshold falls with it
    (never below the Bonferroni share), and every case that fails has an mdd at or below its
    own drop."""
    drops = {i: w for i, w in enumerate([12, 12, 11, 11, 10, 10, 10] + [9] * 9 + [8] * 5)}
    entries = _family(drops)
    gate = BaselineGate(family_size=48)
    gate.decide_family(entries)
    for i, e in enumerate(entries):
        v = gate.verdict(e)
        mdd = float(props(v)["mdd"])
        if not v.ok:
            assert mdd <= 100 * drops[i] / 12, e.case_id
    # 9 one-way flips (p = 1/512) overflow the budget over the nine 9-flip cases: 10 needed
    assert props(gate.verdict(entries[20]))["mdd"] == "83.3"


def test_before_a_decision_the_mdd_uses_the_bonferroni_share():
    entry = _family({})[0]
    v = BaselineGate(family_size=48).verdict(entry)  # no decide_family: a case alone
    assert props(v)["mdd"] == "inf"  # 0.5**12 > 0.01 / 48
    assert "Bonferroni share" in props(v)["mdd_assumption"]


def test_the_baselines_right_answers_bound_the_drop_exactly_not_its_rounded_value():
    """7 of 12 right in the baseline is stored as 58.33 %; 58.33 % of 12 is 6.9996 answers.
    At p <= 0.01 a drop needs 7 one-way flips: the case can lose all 7 (mdd 58.3), not
    "6 answers to lose, mdd inf"."""
    base = [True] * 7 + [False] * 5
    v = BaselineGate(family_size=1).verdict(gate_entry(base, base))
    assert props(v)["baseline"] == "58.33"
    assert props(v)["mdd"] == "58.3"
