"""Baseline records and the gate's verdicts on constructed measurements (no pytest run)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from pytest_fgbmk.baselines.gate import BaselineGate, Entry
from pytest_fgbmk.baselines.record import (
    build_record,
    decode_bits,
    decode_ids,
    differences,
    dump_record,
    encode_bits,
    encode_ids,
    parse_record,
)
from pytest_fgbmk.baselines.store import default_alias, update_command
from pytest_fgbmk.errors import DataFormatError
from pytest_fgbmk.measurement import Asked, Measurement, Outcome

ASKED = Asked("toy", "abc123", "original", "strict", None, 0)
PATH = Path("baselines/m/test_x/test_x[toy-a-tf].json")


def measure(correct, *, task="attribute", asked=ASKED, categories=None, ids=None, details=None):
    n = len(correct)
    ids = ids or [f"q{i:04d}" for i in range(n)]
    cats = categories or ["c"] * n
    outcomes = tuple(
        Outcome(
            ids[i], bool(correct[i]), "yes" if correct[i] else "no", "tf", f"Is it {i}?", cats[i]
        )
        for i in range(n)
    )
    value = 100.0 * sum(correct) / n
    if details and "per_query" in details:  # a per-query metric's value: 100 x their mean
        value = 100.0 * sum(v for _, v in details["per_query"]) / len(details["per_query"])
    return Measurement(
        "toy-a-tf",
        "toy",
        task,
        "a",
        "tf",
        "accuracy",
        value,
        n,
        value - 5,
        value + 5,
        0.0,
        0,
        outcomes,
        asked,
        details or {},
    )


@given(hs.lists(hs.booleans(), max_size=70))
@settings(max_examples=40, deadline=None)
def test_bitset_roundtrip(bits):
    assert decode_bits(encode_bits(bits), len(bits)).tolist() == bits


def test_record_roundtrip_is_small_and_metric_first():
    m = measure([i % 3 != 0 for i in range(500)])
    text = dump_record(build_record(m, "fp-1"))
    assert text.startswith('{\n  "metric": "accuracy",\n  "value": 66.6')
    # ids: 8-byte digests (5,336 base64 characters for 500), outcomes: 1 bit per question
    assert len(text) < 6100
    stored = parse_record(text, PATH)
    assert stored.value == pytest.approx(66.6)
    assert sum(stored.outcomes.values()) == 333 and len(stored.outcomes) == 500
    assert differences(stored, m) == []


def test_corrupt_files_name_the_file():
    m = measure([True] * 10)
    text = dump_record(build_record(m))
    with pytest.raises(DataFormatError, match=r"test_x\[toy-a-tf\]\.json.*not valid JSON"):
        parse_record(text[:50], PATH)
    broken = text.replace('"correct": "', '"correct": "AAAA')
    with pytest.raises(DataFormatError, match="bitset holds"):
        parse_record(broken, PATH)


def test_differences_say_what_changed():
    m = measure([True] * 20)
    stored = parse_record(dump_record(build_record(m)), PATH)
    other = Asked("toy", "abc123", "extended", "strict", 12, 0)
    now = measure(
        [True] * 12, asked=other, ids=[f"q{i:04d}" for i in range(8)] + ["n1", "n2", "n3", "n4"]
    )
    assert differences(stored, now) == [
        "templates: original → extended",
        "limit: none → 12",
        "12 question ids missing, 4 new question ids",
    ]


def gate_entry(base, now, **kw):
    stored = dump_record(build_record(measure(base, **kw)))
    return Entry("toy-a-tf", measure(now, **kw), PATH, stored)


def test_a_significant_drop_fails_with_the_table_and_flipped_questions():
    base = [True] * 150 + [False] * 50
    now = [False] * 30 + [True] * 120 + [False] * 50
    gate = BaselineGate(update_command="pytest x --fgbmk-update-baselines")
    v = gate.verdict(gate_entry(base, now))
    assert not v.ok
    props = dict(v.properties)
    assert props["baseline"] == "75.00" and props["delta"] == "-15.00"
    assert float(props["p"]) == pytest.approx(2.0**-30, rel=1e-6)
    assert "dropped significantly" in v.message
    assert "baseline  now   delta" in v.message
    assert "right → wrong: 30 questions (first 5):" in v.message
    assert "  q0004 (category c)\n    prompt: Is it 4?\n    answer: no\n" in v.message
    assert "q0005" not in v.message


def test_noise_below_the_margin_or_significance_passes():
    base = [True] * 150 + [False] * 50
    small = [False] * 3 + [True] * 147 + [False] * 50  # 3 of 200 = 1.5 pts, p = 1/8
    assert BaselineGate().verdict(gate_entry(base, small)).ok
    tiny = [False] * 1 + [True] * 149 + [False] * 50
    assert BaselineGate(alpha=0.9, min_drop=1.0).verdict(gate_entry(base, tiny)).ok  # 0.5 pt


def test_an_improvement_passes_and_is_reported():
    base = [True] * 150 + [False] * 50
    now = [True] * 200
    v = BaselineGate().verdict(gate_entry(base, now))
    assert v.ok and "+25.0 pts" in v.message and "consider updating the baseline" in v.message
    assert dict(v.properties)["gate_note"].startswith("+25.0 pts, p=")


def test_missing_and_mismatched_baselines():
    gate = BaselineGate(update_command="pytest suites --fgbmk-update-baselines")
    v = gate.verdict(Entry("toy-a-tf", measure([True] * 5), PATH, None))
    assert not v.ok and v.message == (
        "toy-a-tf: no baseline yet (accuracy 100.0%, n=5): "
        "write it with the command in the FG-BMK summary"
    )
    assert ("baseline_missing", "true") in v.properties
    base = dump_record(build_record(measure([True] * 5)))
    other = measure([True] * 5, asked=Asked("toy", "abc123", "original", "official", None, 0))
    v = gate.verdict(Entry("toy-a-tf", other, PATH, base))
    assert (
        not v.ok
        and "fingerprint differs" in v.message
        and "scoring: strict → official" in v.message
    )


def test_knowledge_bias_names_the_category_that_dropped():
    cats = [f"cat{i % 20}" for i in range(400)]
    base = [True] * 400
    now = [c != "cat7" for c in cats]  # cat7: 20 of 20 right → wrong
    v = BaselineGate().verdict(gate_entry(base, now, task="knowledge_bias", categories=cats))
    assert not v.ok
    assert "categories that dropped" in v.message and "cat7" in v.message
    assert "cat3 " not in v.message


def test_run_level_decision_splits_alpha_over_cases_that_can_fail():
    base = [True] * 150 + [False] * 50
    entries = [gate_entry(base, base) for _ in range(50)]
    drop = [False] * 9 + [True] * 141 + [False] * 50  # 9 flips: p = 2**-9, 4.5 pts
    entries = [Entry(f"c{i}", e.measurement, e.path, e.text) for i, e in enumerate(entries)]
    entries.append(Entry("dropped", gate_entry(base, drop).measurement, PATH, entries[0].text))
    alone = BaselineGate(family_size=51)
    assert alone.verdict(entries[-1]).ok  # Bonferroni 0.01/51 < 2**-9
    together = BaselineGate(family_size=51)
    together.decide_family(entries)
    assert not together.verdict(entries[-1]).ok  # unchanged cases cannot fail: they cost nothing


def test_per_query_values_use_the_sign_flip_test():
    ids = [f"q{i}" for i in range(30)]
    base = {"per_query": [(q, 0.8) for q in ids]}
    now = {"per_query": [(q, 0.8 - 0.2 * (i < 15)) for i, q in enumerate(ids)]}
    stored = dump_record(build_record(measure([True] * 30, ids=ids, details=base)))
    v = BaselineGate().verdict(Entry("x", measure([True] * 30, ids=ids, details=now), PATH, stored))
    assert not v.ok and float(dict(v.properties)["p"]) == pytest.approx(2.0**-15, rel=1e-3)


def _values_verdict(before: list[float], after: list[float]):
    ids = [f"q{i}" for i in range(len(before))]
    base = {"per_query": list(zip(ids, before, strict=True))}
    now = {"per_query": list(zip(ids, after, strict=True))}
    stored = dump_record(build_record(measure([True] * len(ids), ids=ids, details=base)))
    m = measure([True] * len(ids), ids=ids, details=now)
    return BaselineGate().verdict(Entry("x", m, PATH, stored))


def test_an_improvement_is_significant_only_beyond_the_margin_and_tested_the_other_way():
    """A rerun whose per-query values all rose by float noise (+0.00001) is no improvement
    (it was called one: p = 1 - p_drop); +0.2 on half the queries is, with the exact
    sign-flip p of the swapped test (2**-15)."""
    noise = _values_verdict([0.5] * 30, [0.5 + 1e-5] * 30)
    assert noise.ok and "gate_note" not in dict(noise.properties)
    assert "consider updating" not in noise.message
    # recomputed with float noise below the stored precision (1e-6): no change at all
    same = _values_verdict([0.37417094] * 30, [0.3741709] * 30)
    assert (dict(same.properties)["delta"], dict(same.properties)["p"]) == ("+0.00", "1")
    up = _values_verdict([0.6] * 30, [0.6 + 0.2 * (i < 15) for i in range(30)])
    assert up.ok and dict(up.properties)["gate_note"].endswith("consider updating the baseline")
    assert f"p={2.0**-15:.2g}" in up.message
    # accuracy: 60 of 10,000 questions better, none worse: p tiny, but 0.6 pt < 1 pt margin
    small = BaselineGate().verdict(gate_entry([False] * 60 + [True] * 9940, [True] * 10000))
    assert small.ok and "gate_note" not in dict(small.properties)


def test_alias_and_update_command():
    assert default_alias("oracle") == "oracle"
    assert default_alias("hf:/models/llava-1.5-7b/") == "hf-llava-1.5-7b"
    assert default_alias("probe:efficientnet-lite0") == "probe-efficientnet-lite0"
    cmd = update_command(["suites/", "--fgbmk-model=hf:/m x", "--snapshot-update"])
    assert cmd == "pytest suites/ '--fgbmk-model=hf:/m x' --fgbmk-update-baselines"


def test_a_million_ids_pair_exactly_and_a_shared_digest_fails_naming_both(monkeypatch):
    import pytest_fgbmk.baselines.record as record

    ids = [f"q{i:07d}" for i in range(1_000_000)]
    stored = decode_ids(encode_ids(ids))
    assert len(set(stored)) == 1_000_000 and stored[123_456] == record.id_digest(ids[123_456])
    # a digest shared by two ids (forced here with 1-byte digests) is refused, never merged
    monkeypatch.setattr(record, "ID_BYTES", 1)
    with pytest.raises(ValueError, match=r"the ids 'q\d{7}' and 'q\d{7}' share a 1-byte digest"):
        encode_ids(ids[:300])


def test_digests_asked_again_are_the_same_and_a_shared_one_fails_every_time(monkeypatch):
    import pytest_fgbmk.baselines.record as record

    ids = [f"q{i:07d}" for i in range(300)]
    first = record.digests(ids)
    assert first == [record.id_digest(q) for q in ids] and record.digests(list(ids)) == first
    assert record.digests(ids[:2]) == first[:2]
    monkeypatch.setattr(record, "ID_BYTES", 1)  # the digest size is part of the memo's key
    for _ in range(2):  # an error is never remembered as an answer
        with pytest.raises(ValueError, match="share a 1-byte digest"):
            record.digests(ids)


def test_a_format_1_baseline_asks_to_be_rewritten_with_the_command(tmp_path):
    m = measure([True, False] * 10)
    old = {**build_record(m, "fp"), "format": 1}
    gate = BaselineGate(update_command="pytest suites/ --fgbmk-update-baselines")
    v = gate.verdict(Entry(m.case_id, m, PATH, dump_record(old)))
    assert not v.ok and "re-baseline: baseline format 1" in v.message
    # one line; the command is in the summary, once for the run
    assert v.message.endswith("rewrite it with the command in the FG-BMK summary")
    assert "\n" not in v.message
    assert dict(v.properties)["rebaseline"].startswith("baseline format 1")


def test_a_baseline_of_a_newer_format_asks_to_upgrade_not_to_rewrite():
    """A teammate's baselines written by a newer pytest-fgbmk are neither "corrupt" nor to be
    rewritten by this older version (that would downgrade them)."""
    m = measure([True, False] * 10)
    newer = {**build_record(m, "fp"), "format": 3, "outcomes": {"encoding": "future"}}
    v = BaselineGate().verdict(Entry(m.case_id, m, PATH, dump_record(newer)))
    assert not v.ok and "\n" not in v.message
    assert v.message == (
        f"{m.case_id}: the baseline {PATH} was written by a newer pytest-fgbmk (baseline "
        "format 3; this version reads format 2): upgrade pytest-fgbmk to compare with it "
        "(pip install -U pytest-fgbmk); do not rewrite it with this older version"
    )
    assert dict(v.properties)["baseline_newer"] == "true"
    assert "corrupt" not in v.message


@pytest.mark.parametrize(
    "change, message",
    [
        ({"value": "high"}, "'value' must be a number, got \"high\""),
        ({"value": True}, "'value' must be a number, got true"),
        ({"n": "10"}, "'n' must be a whole number, got \"10\""),
        ({"metric": 5}, "'metric' must be text, got 5"),
        ({"interval": [1, "x"]}, "'interval' must be two numbers, got [1, \"x\"]"),
        ({"asked": []}, "'asked' must be an object, got []"),
        ({"outcomes": {"encoding": "bitset-base64", "ids": 7}}, "'ids' must be text, got 7"),
    ],
)
def test_wrong_types_in_a_baseline_name_the_file_and_the_key(change, message):
    record = {**build_record(measure([True] * 10)), **change}
    with pytest.raises(DataFormatError) as info:
        parse_record(dump_record(record), PATH)
    assert str(info.value) == (
        f"{PATH}: not a valid baseline: {message} (restore it from version control, or "
        "rewrite it with --fgbmk-update-baselines)"
    )


def test_a_value_its_outcomes_do_not_give_is_a_corrupt_baseline():
    """An edited value (or edited outcomes) would gate a run against a number that never
    was: the value must be what the stored outcomes give."""
    record = build_record(measure([True] * 7 + [False] * 3))
    assert parse_record(dump_record(record), PATH).value == 70.0
    hint = "(restore it from version control, or rewrite it with --fgbmk-update-baselines)"
    with pytest.raises(DataFormatError) as info:
        parse_record(dump_record({**record, "value": 12.0}), PATH)
    assert str(info.value) == (
        f"{PATH}: not a valid baseline: 'value' 12 is not what its outcomes give (70.0000): "
        f"the value or the outcomes were edited {hint}"
    )
    edited = {**record, "outcomes": {**record["outcomes"], "correct": encode_bits([False] * 10)}}
    with pytest.raises(DataFormatError, match=r"'value' 70 is not what its outcomes give \(0"):
        parse_record(dump_record(edited), PATH)
    # per-query values (mAP): 100 x their mean, to the decimals they are stored with
    values = measure([True, True], details={"per_query": [("q0", 0.5), ("q1", 1 / 3)]})
    good = build_record(values)
    assert parse_record(dump_record(good), PATH).value == round(100 * (0.5 + 1 / 3) / 2, 4)
    with pytest.raises(DataFormatError, match="is not what its outcomes give"):
        parse_record(dump_record({**good, "value": 50.0}), PATH)


def test_a_flipped_byte_in_the_outcome_ids_is_a_corrupt_baseline_with_its_rewrite_command():
    import base64
    import json

    m = measure([True] * 10)
    record = build_record(m)
    raw = bytearray(base64.b64decode(record["outcomes"]["ids"]))
    raw[3] ^= 0x10
    record["outcomes"]["ids"] = base64.b64encode(bytes(raw)).decode()
    gate = BaselineGate(update_command="pytest suites --fgbmk-update-baselines")
    v = gate.verdict(Entry("toy-a-tf", m, PATH, json.dumps(record)))
    assert not v.ok
    assert v.message == (
        f"toy-a-tf: the baseline file {PATH} is corrupt: 1 of its 10 outcome ids match no "
        "question of this run, although the question-id digest it records matches them all "
        "(its outcomes were edited or damaged); restore it from version control, or rewrite "
        "it with: pytest suites -k 'test_x[toy-a-tf]' --fgbmk-update-baselines"
    )
    assert dict(v.properties)["baseline_corrupt"] == "true"


def test_exif_orientation_is_compared_only_when_the_baseline_records_it():
    m = measure([True] * 10)
    record = build_record(m)
    assert record["asked"]["exif_orientation"] == "apply"
    older = {
        **record,
        "asked": {k: v for k, v in record["asked"].items() if k != "exif_orientation"},
    }
    assert differences(parse_record(dump_record(older), PATH), m) == []
    ignored = measure(
        [True] * 10,
        asked=Asked("toy", "abc123", "original", "strict", None, 0, exif_orientation="ignore"),
    )
    assert differences(parse_record(dump_record(record), PATH), ignored) == [
        "EXIF orientation: apply → ignore"
    ]


def test_a_machine_cases_flipped_samples_show_the_image_and_the_heads_output():
    """A probe case's samples have no prompt: no empty "prompt:" line, the true class and
    the head's prediction instead."""
    from dataclasses import replace as _replace

    base = [True] * 40
    now = [False] * 20 + [True] * 20
    e = gate_entry(base, now)
    m = e.measurement
    outcomes = tuple(
        _replace(o, prompt="", response=f"predicted {i % 3}", how="linear_probe")
        for i, o in enumerate(m.outcomes)
    )
    v = BaselineGate().verdict(Entry(e.case_id, _replace(m, outcomes=outcomes), PATH, e.text))
    assert not v.ok
    assert "  q0000 (true class c)\n    output: predicted 0\n  q0001" in v.message
    assert "prompt:" not in v.message


def test_an_improvement_is_called_significant_by_the_run_level_rule_not_at_alpha_per_case():
    """100 cases of 500 questions whose run-to-run noise flips 5 answers each way (each
    could reach p = 2**-10 with its 10 flips: the discrete rule charges it), one that rose
    by 9 one way (p = 2**-9 < 0.01: 'significant' at alpha per case, noise called an
    improvement), and one truly better by 25 questions: only that one is noted, as a drop
    would be decided (the run-level threshold is below 2**-10)."""
    from pytest_fgbmk.stats import mcnemar_p

    entries = []
    for i in range(100):
        up, down = (9, 0) if i == 0 else (5, 5)
        if i == 1:
            up, down = 25, 0
        base = [True] * 300 + [False] * 200
        now = list(base)
        for j in range(down):
            now[j] = False
        for j in range(up):
            now[300 + j] = True
        e = gate_entry(base, now)
        entries.append(Entry(f"c{i}", e.measurement, PATH, e.text))
    assert mcnemar_p(9, 0) < 0.01  # the test the other way: 9 up, 0 down
    gate = BaselineGate(family_size=100)
    gate.decide_family(entries)
    notes = {e.case_id: dict(gate.verdict(e).properties).get("gate_note") for e in entries}
    assert [c for c, n in notes.items() if n] == ["c1"]
    assert notes["c1"] == f"+5.0 pts, p={2.0**-25:.2g}: consider updating the baseline"
    assert "p=0.002" in gate.verdict(entries[0]).message  # its p, not noted
