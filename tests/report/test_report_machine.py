"""--fgbmk-report DIR over the machine-oriented suites through pytester: a one-hot encoder
(each image's species, looked up by its pixel digest, plus an ``aligned`` view) makes
every figure exact, and results.json and report.html carry them: retrieval mAP and
recall@k, probe top-1 (Figures 4–5), single vs multiple meta-category (Figure 8), clean vs
perturbed (Table 5), origin vs aligned (Table 4); the gate's properties stay in ``gate``."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
import torch  # noqa: F401 - imported before pytester's inline runs, which cannot reload it

import pytest_fgbmk.data.synth  # noqa: F401 - keep loaded modules across inline runs
import pytest_fgbmk.machine.features  # noqa: F401
import pytest_fgbmk.machine.meta  # noqa: F401
import pytest_fgbmk.machine.robustness  # noqa: F401
import pytest_fgbmk.plugin  # noqa: F401
from pytest_fgbmk.measurement import Asked, Measurement, Outcome
from pytest_fgbmk.report.junit import measurement_properties
from pytest_fgbmk.report.results import (
    GATE_KEYS,
    case_from_measurement,
    case_from_properties,
    read_results,
)

SECTIONS = ("retrieval-probe", "meta", "robustness", "alignment")


def section(page: str, anchor: str) -> str:
    m = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.S)
    assert m, f"no section {anchor}"
    return m.group(1)


def table_of(chunk: str) -> dict[str, dict[str, str]]:
    """A section's table as row label → column heading → cell text."""
    rows = re.findall(r"<tr>(.*?)</tr>", chunk, re.S)
    head = [unescape(h) for h in re.findall(r"<th[^>]*>(.*?)</th>", rows[0])]
    out = {}
    for row in rows[1:]:
        cells = [unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        out[cells[0]] = dict(zip(head[1:], cells[1:], strict=True))
    return out


def test_machine_suites_reach_results_and_every_machine_section(run, pytester):
    result = run(
        "-m",
        "fgbmk_machine",
        # each image's species, one-hot, and an ``aligned`` view
        "--fgbmk-model=tests.fake_models:species_encoder",
        "--fgbmk-model-arg=aligned=1",
        "--fgbmk-update-baselines",
        "--fgbmk-report=rep",
    )
    result.assert_outcomes(passed=11)  # 2 datasets x 5 tasks + the birds' genus control
    res = read_results(pytester.path / "rep")
    cases = {c.case_id: c for c in res.cases}
    assert len(cases) == 11
    for c in cases.values():
        assert set(c.gate) <= GATE_KEYS and c.gate["baseline_update"] == "written"
        assert c.outcome == "passed" and c.n == 12
    for ds in ("synth_birds", "synth_flowers"):
        r = cases[f"retrieval-{ds}"]
        assert (r.metric, r.value, r.low, r.high) == ("mAP", 100.0, 100.0, 100.0)
        assert r.details["recall@1"] == r.details["recall@10"] == 100.0
        assert (r.details["gallery"], r.details["view"]) == (12, "cls")
        assert "per_query" not in r.details  # per-query values are not figures
        p = cases[f"linear_probe-{ds}"]
        # a 12-image train split: chosen by 5-fold cross-validation, refitted on all of it
        assert (p.metric, p.value, p.details["mean_per_class"], p.details["n_fit"]) == (
            "top1",
            100.0,
            100.0,
            12,
        )
        assert p.details["folds"] == 5
        m = cases[f"meta_categories-{ds}"]
        assert (m.details["single_top1"], m.details["multiple_top1"], m.details["drop"]) == (
            100.0,
            100.0,
            0.0,
        )
        a = cases[f"alignment_effect-{ds}"]
        assert (a.details["aligned_top1"], a.details["origin_top1"], a.details["delta"]) == (
            100.0,
            100.0,
            0.0,
        )
    for cid, level in (
        ("feature_robustness-synth_birds", "species"),
        ("feature_robustness-synth_birds-genus", "genus"),
        ("feature_robustness-synth_flowers", "species"),
    ):
        rob = cases[cid]
        assert (rob.details["clean_top1"], rob.details["level"]) == (100.0, level)
        assert rob.details["perturbed_top1"] == rob.value
        assert rob.details["drop"] == pytest.approx(100.0 - rob.value)
        assert rob.details["curve"]["0"] == 100.0
        exact = rob.details["exact_curve"]  # the certificate, beside PGD's curve
        assert exact["0"] == 100.0 and exact["0.01"] == rob.details["exact_top1"]
        assert all(exact[e] <= rob.details["curve"][e] for e in exact)

    page = (pytester.path / "rep" / "report.html").read_text()
    for anchor in SECTIONS:
        chunk = section(page, anchor)
        assert f'id="fig-{anchor}"' in chunk and 'src="data:image/png;base64,' in chunk
        assert (pytester.path / "rep" / "figures" / f"{anchor}.png").is_file()
    rp = table_of(section(page, "retrieval-probe"))
    assert rp == {
        ds: {
            "retrieval mAP": "100.0",
            "recall@1": "100.0",
            "recall@10": "100.0",
            "probe top-1 (multi-label: sample mAP)": "100.0",
            "mean per-class": "100.0",
        }
        for ds in ("synth_birds", "synth_flowers")
    }
    meta = table_of(section(page, "meta"))
    assert meta == {
        ds: {"single": "100.0", "multiple": "100.0", "drop": "0.0"}
        for ds in ("synth_birds", "synth_flowers")
    }
    rob = table_of(section(page, "robustness"))
    assert set(rob) == {"synth_birds", "synth_birds (genus)", "synth_flowers"}
    for row, cid in (
        ("synth_birds", "feature_robustness-synth_birds"),
        ("synth_birds (genus)", "feature_robustness-synth_birds-genus"),
        ("synth_flowers", "feature_robustness-synth_flowers"),
    ):
        c = cases[cid]
        assert rob[row] == {
            "clean": "100.0",
            "perturbed (PGD)": f"{c.value:.1f}",
            "exact worst case": f"{c.details['exact_top1']:.1f}",
            "drop": f"{c.details['drop']:.1f}",
        }
    align = table_of(section(page, "alignment"))
    assert align == {
        ds: {"origin": "100.0", "aligned": "100.0", "Δ aligned − origin": "0.0"}
        for ds in ("synth_birds", "synth_flowers")
    }


def test_machine_properties_give_the_same_details_as_the_measurement():
    """What an xdist controller reads (rounded properties) equals the measuring process's."""
    from pytest_fgbmk.report.junit import machine_properties

    props = {
        "top1": 75.0,
        "mean_per_class": 66.66666,
        "view": "cls4",
        "lr": "0.001",
        "n_fit": 6,
        "curve": json.dumps({"0": 75.0, "0.01": 50.0}),
    }
    m = Measurement(
        "linear_probe-d", "d", "linear_probe", "cls4", "linear-probe", "top1", 75.0, 4,
        30.0, 95.0, 0.0, 0,
        tuple(Outcome(f"q{i}", i > 0, "predicted 1", "linear_probe", score=float(i > 0))
              for i in range(4)),
        Asked("d", "h", "-", "probe:x", None, 0),
        {"properties": props, "per_query": [("q0", 0.0)]},
    )  # fmt: skip
    gate = [("baseline", "80.00"), ("delta", "-5.00"), ("p", "0.5"), ("baseline_file", "b.json")]
    pairs = measurement_properties(m) + machine_properties(m) + gate
    from_props = case_from_properties(dict(pairs), outcome="passed")
    exact = case_from_measurement(m, outcome="passed", gate=dict(gate))
    assert from_props.gate == exact.gate == dict(gate)
    assert (from_props.baseline, from_props.delta, from_props.p_value) == (80.0, -5.0, 0.5)
    assert exact.details == {
        "top1": 75.0,
        "mean_per_class": 66.66666,
        "view": "cls4",
        "lr": 0.001,
        "n_fit": 6,
        "curve": {"0": 75.0, "0.01": 50.0},
    }
    assert from_props.details == {**exact.details, "mean_per_class": 66.67}


def test_retrieval_queries_whose_ap_fell_most_reach_the_report_with_thumbnails(run, pytester):
    enc = ("--fgbmk-model=tests.fake_models:species_encoder", "-k", "test_retrieval")
    pick = ("-m", "fgbmk_machine", "--fgbmk-datasets=synth_birds", *enc)
    run(*pick, "--fgbmk-update-baselines").assert_outcomes(passed=1)
    result = run(*pick, "--fgbmk-model-arg=noise=0.8", "--fgbmk-report=rep")
    result.assert_outcomes(failed=1)
    rep = pytester.path / "rep"
    case = next(
        c
        for c in json.loads((rep / "results.json").read_text())["cases"]
        if c["case_id"] == "retrieval-synth_birds"
    )
    drops = case["details"]["value_drops"]
    baseline = json.loads(
        next(
            (pytester.path / "baselines").rglob("test_retrieval[[]synth_birds[]].json")
        ).read_text()
    )
    assert baseline["outcomes"]["values"] == [1.0] * 12  # one-hot: every query's AP was 1
    now = {q: v for q, v in case["details"].get("per_query", [])} or None
    shown = drops["shown"]
    # every query fell from AP 1 unless it stayed at 1; listed largest fall first
    assert drops["fell"] + drops["rose"] <= 12 and drops["rose"] == 0 and drops["fell"] >= 1
    assert [d["drop"] for d in shown] == sorted((d["drop"] for d in shown), reverse=True)
    assert all(d["before"] == 1.0 and d["drop"] == pytest.approx(1.0 - d["now"]) for d in shown)
    assert all(d["image"] and d["category"] and d["dataset"] == "synth_birds" for d in shown)
    assert now is None  # per-query lists stay out of results.json
    page = (rep / "report.html").read_text()
    reg = section(page, "baseline")
    assert f"{drops['fell']} quer(ies) fell, 0 rose against the stored baseline" in reg
    first = shown[0]
    assert unescape(first["id"]) in unescape(reg)
    assert reg.count("data:image/jpeg;base64,") == min(5, len(shown))
    assert len(list((rep / "thumbs").iterdir())) == min(5, len(shown))
