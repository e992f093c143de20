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
