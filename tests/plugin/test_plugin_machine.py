"""The machine-oriented suites through pytester: retrieval, probe, alignment, meta, robustness.

The model, :class:`tests.fake_models.SpeciesEncoder`, encodes every image of the small
synthetic data to the one-hot vector of its species (looked up by the image's pixel
digest), optionally with seeded noise and an ``aligned`` view, and logs how many images it
encoded.
"""

from __future__ import annotations

import json
import re
from html import unescape

import numpy as np
import pytest
import torch  # noqa: F401 - imported before pytester's inline runs, which cannot reload it
from hypothesis import given, settings
from hypothesis import strategies as st
from plugin_helpers import make_dataset
from sklearn.metrics import average_precision_score

import pytest_fgbmk.data.synth  # noqa: F401 - keep loaded modules across inline runs
import pytest_fgbmk.machine.features  # noqa: F401
import pytest_fgbmk.machine.meta  # noqa: F401
import pytest_fgbmk.machine.robustness  # noqa: F401
import pytest_fgbmk.models.references  # noqa: F401
import pytest_fgbmk.plugin  # noqa: F401
from pytest_fgbmk.data.records import Category, Dataset
from pytest_fgbmk.data.synth import SynthConfig, ensure_synthetic, load_synthetic
from pytest_fgbmk.hashing import stable_seed
from pytest_fgbmk.run import Run, RunOptions
from pytest_fgbmk.run.context import val_fraction
from pytest_fgbmk.run.options import SYNTH_SIZES
from pytest_fgbmk.stats import bootstrap_percent_interval as bootstrap_interval
from pytest_fgbmk.tasks import MachineCase
from pytest_fgbmk.tasks.feature_robustness import coarse_level
from tests import fake_models
from tests.harness import junit

SMALL = SynthConfig(**SYNTH_SIZES["small"])
TASK_TESTS = {
    "retrieval": "test_retrieval",
    "linear_probe": "test_linear_probe",
    "alignment_effect": "test_alignment_effect",
    "meta_categories": "test_meta_categories",
    "feature_robustness": "test_feature_robustness",
}


@pytest.fixture(scope="module")
def datasets(synth_dir):
    mp = pytest.MonkeyPatch()
    mp.setenv("FGBMK_SYNTH_DIR", str(synth_dir))
    try:
        return {d.name: d for d in load_synthetic(ensure_synthetic(SMALL))}
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def table(datasets, synth_dir) -> dict[str, int]:
    """image pixel digest → global class index (birds' species first, then flowers')."""
    mp = pytest.MonkeyPatch()
    mp.setenv("FGBMK_SYNTH_DIR", str(synth_dir))
    try:
        out = fake_models.species_table()  # what the encoder looks its features up in
    finally:
        mp.undo()
    assert len(out) == sum(len(d.samples) for d in datasets.values())  # no two images alike
    return out


MACHINE = ("-m", "fgbmk_machine", "-rs")
#: the one-hot encoder, logging the size of each batch it encodes to encoded.log
ENCODER = ("--fgbmk-model=tests.fake_models:species_encoder", "--fgbmk-model-arg=log=encoded.log")


def encoded(pytester) -> int:
    log = pytester.path / "encoded.log"
    return sum(int(x) for x in log.read_text().split()) if log.exists() else 0


def test_oracle_features_score_100_baselines_pair_per_query_ap_and_a_rerun_never_encodes(
    run, pytester
):
    result = run(*MACHINE, *ENCODER, "--fgbmk-update-baselines", "--junitxml=a.xml")
    result.assert_outcomes(passed=9, skipped=2)
    assert encoded(pytester) == 48  # 2 datasets x (12 train + 12 test), each image once
    cases = junit(pytester.path / "a.xml")
    for ds in ("synth_birds", "synth_flowers"):
        r = cases[f"test_retrieval[{ds}]"]
        assert (r["metric"], r["value"], r["n"]) == ("mAP", "100.00", "12")
        assert r["recall@1"] == r["recall@10"] == r["mAP"] == "100.00"
        assert r["interval_low"] == r["interval_high"] == "100.00"
        assert (r["task"], r["gallery"], r["queries_without_positive"]) == ("retrieval", "12", "0")
        p = cases[f"test_linear_probe[{ds}]"]
        assert (p["metric"], p["value"], p["top1"], p["mean_per_class"]) == (
            "top1",
            "100.00",
            "100.00",
            "100.00",
        )
        # 2 train images a class: a 6-image validation split is too small to choose on, so
        # the head is chosen by 5-fold cross-validation and refitted on all 12
        assert (p["n_fit"], p["n_val"], p["folds"]) == ("12", "12", "5")
        m = cases[f"test_meta_categories[{ds}]"]
        assert (m["value"], m["single_top1"], m["multiple_top1"], m["drop"]) == (
            "100.00",
            "100.00",
            "100.00",
            "0.00",
        )
        assert (m["datasets"], m["union_classes"]) == ("synth_birds,synth_flowers", "12")
        a = cases[f"test_alignment_effect[{ds}]"]
        assert a["_status"] == "skipped" and "no 'aligned' feature view" in a["_message"]
    for pid, level in (("synth_birds", "species"), ("synth_birds-genus", "genus")):
        rob = cases[f"test_feature_robustness[{pid}]"]
        assert (rob["clean_top1"], rob["level"], rob["eps_rel"]) == ("100.00", level, "0.01")
        curve = json.loads(rob["curve"])
        assert curve["0"] == 100.0 and curve["0.01"] == float(rob["perturbed_top1"])
        assert list(curve.values()) == sorted(curve.values(), reverse=True)
        exact = json.loads(rob["exact_curve"])  # the exact worst case, beside PGD's
        assert exact.keys() == curve.keys() and exact["0.01"] == float(rob["exact_top1"])
        assert all(exact[e] <= curve[e] + 1.0 for e in curve)  # PGD within a point of it
        assert float(rob["drop"]) == pytest.approx(100 - float(rob["value"]), abs=0.011)
    alias = next((pytester.path / "baselines").iterdir())
    stored = json.loads((alias / "test_retrieval" / "test_retrieval[synth_birds].json").read_text())
    assert stored["outcomes"]["encoding"] == "values" and stored["outcomes"]["values"] == [1.0] * 12
    assert stored["asked"]["dataset"] == "synth_birds" and stored["metric"] == "mAP"
    probe = json.loads(
        (alias / "test_linear_probe" / "test_linear_probe[synth_birds].json").read_text()
    )
    assert probe["outcomes"]["encoding"] == "bitset-base64" and probe["value"] == 100.0

    again = run(*MACHINE, *ENCODER, "-k", "test_retrieval", "--junitxml=b.xml")
    again.assert_outcomes(passed=2)  # gated against the baselines just written
    assert encoded(pytester) == 48  # features came from the cache: no image encoded
    assert set(junit(pytester.path / "b.xml")) == {
        "test_retrieval[synth_birds]",
        "test_retrieval[synth_flowers]",
    }
    assert "all from the feature cache" in again.stdout.str()

    worse = run(*MACHINE, *ENCODER, "-k", "test_retrieval", "--fgbmk-model-arg=noise=0.8")
    worse.assert_outcomes(failed=2)  # every query's AP fell: the paired sign-flip test fails
    assert "retrieval-synth_birds: mAP dropped significantly" in worse.stdout.str()
    assert encoded(pytester) == 96  # another fingerprint: its own features


def test_noisy_features_match_sklearn_and_the_aligned_view_is_probed(
    run, pytester, datasets, table
):
    result = run(
        *MACHINE,
        *ENCODER,
        "--fgbmk-datasets=synth_birds",
        "--fgbmk-model-arg=noise=0.8",
        "--fgbmk-model-arg=aligned=1",
        "--fgbmk-no-cache",
        "--junitxml=n.xml",
    )
    assert not result.parseoutcomes().get("errors")
    cases = junit(pytester.path / "n.xml")
    meta = cases["test_meta_categories[synth_birds]"]
    assert meta["_status"] == "skipped" and "at least 2 single-label datasets" in meta["_message"]
    assert set(cases) == {f"{t}[{p}]" for t in TASK_TESTS.values() for p in ("synth_birds",)} | {
        "test_feature_robustness[synth_birds-genus]"
    }
    # the reference: query = test image, gallery = train split, cosine, sklearn's AP per query
    ds = datasets["synth_birds"]

    def feats(split):
        x = torch.stack(
            [fake_models.features_of(ds.open_image(s), table, 12, 0.8) for s in ds.split(split)]
        )
        return torch.nn.functional.normalize(x, dim=1).numpy()

    q, g = feats("test"), feats("train")
    yq = np.array([s.category for s in ds.split("test")])
    yg = np.array([s.category for s in ds.split("train")])
    sims = q @ g.T
    ap = [average_precision_score(yg == yq[i], sims[i]) for i in range(len(yq))]
    hit1 = (yg[sims.argmax(1)] == yq).mean()
    r = cases["test_retrieval[synth_birds]"]
    assert float(r["value"]) == pytest.approx(100 * np.mean(ap), abs=0.006)
    assert float(r["recall@1"]) == pytest.approx(100 * hit1, abs=0.006)
    a = cases["test_alignment_effect[synth_birds]"]
    assert a["_status"] != "skipped" and a["facet"] == "aligned"
    assert a["value"] == a["aligned_top1"]
    delta = float(a["aligned_top1"]) - float(a["origin_top1"])
    assert float(a["delta"]) == pytest.approx(delta, abs=0.011)
    assert encoded(pytester) == 24  # no cache: birds' 12 + 12 images, once each
    assert not (pytester.path / ".fgbmk_cache").exists()


def test_meta_categories_training_shows_progress_in_a_plain_log(run):
    """The union probe trained for the meta-categories cases reports its epochs, as the other
    probes do: whole lines in a plain log (pytester's output is not a terminal), each series
    ending in "done", before the first result line."""
    result = run(*MACHINE, *ENCODER, "-k", "test_meta_categories", "--fgbmk-update-baselines")
    result.assert_outcomes(passed=2)
    text = result.stdout.str()
    assert "\r" not in text
    lines = text.splitlines()
    first_result = next(i for i, x in enumerate(lines) if "test_meta_categories.py" in x)
    for label in ("synth_birds alone", "synth_flowers alone", "union of 2 datasets"):
        shown = [x for x in lines if x.startswith(f"fgbmk meta-categories {label}: ")]
        assert shown and all(" epochs (" in x and "epochs/s" in x for x in shown), label
        assert shown[-1].endswith("done") and "(100%)" in shown[-1]
        assert lines.index(shown[-1]) < first_result


def test_a_model_without_encode_or_without_a_model_skips_with_the_reason(run):
    result = run(*MACHINE, "--fgbmk-model=oracle")
    result.assert_outcomes(skipped=11)
    assert "model oracle cannot encode images" in result.stdout.str()
    none = run(*MACHINE)
    none.assert_outcomes(skipped=5)
    assert "no model chosen: pass --fgbmk-model=SPEC" in none.stdout.str()
    # every selected case skipped: nothing measured, so neither run is green
    assert result.ret == none.ret == pytest.ExitCode.USAGE_ERROR


# -- the pytest-free parts -------------------------------------------------------------------


def test_parameters_come_from_metadata_without_loading_the_model(synth_dir, monkeypatch):
    monkeypatch.setenv("FGBMK_SYNTH_DIR", str(synth_dir))
    machine = Run(RunOptions(model="efficientnet-lite0", synth="small", cache=None))
    ids = {t: [p.id for p in machine.params(t)] for t in TASK_TESTS}
    assert ids["feature_robustness"] == ["synth_birds", "synth_birds-genus", "synth_flowers"]
    assert ids["retrieval"] == ids["meta_categories"] == ["synth_birds", "synth_flowers"]
    case = machine.params("feature_robustness")[1].case
    assert case == MachineCase("feature_robustness", "synth_birds", "genus")
    assert case.id == "feature_robustness-synth_birds-genus"
    assert not machine.ctx.model_loaded
    one = Run(RunOptions(model="x", synth="small", datasets=("synth_flowers",)))
    (meta,) = one.params("meta_categories")
    assert meta.case is None and "(have: synth_flowers)" in (meta.skip or "")
    assert [p.id for p in one.params("feature_robustness")] == ["synth_flowers"]


def test_coarse_level_is_the_level_nearest_ten_classes(tmp_path, datasets):
    assert coarse_level(datasets["synth_birds"]) == "genus"  # 2 genera of 6 species
    assert coarse_level(make_dataset(tmp_path)) is None  # one genus: nothing coarse to learn
    # the default synthetic birds' shape: 2 orders, 4 families, 8 genera, 24 species
    cats = tuple(
        Category(i, f"s{i}", ("aves", f"o{i // 12}", f"f{i // 6}", f"g{i // 3}", f"s{i}"))
        for i in range(24)
    )
    levels = ("class", "order", "family", "genus", "species")
    assert coarse_level(Dataset("b", tmp_path, "bird", levels, cats, ())) == "genus"
    wide = tuple(Category(i, f"s{i}", (f"f{i // 12}", f"g{i // 2}", f"s{i}")) for i in range(48))
    # 2 families (|2-10| = 8) vs 24 genera (|24-10| = 14): the families
    assert coarse_level(Dataset("w", tmp_path, "x", ("f", "g", "s"), wide, ())) == "f"


def test_validation_fraction_rises_only_for_tiny_classes():
    assert val_fraction(np.repeat(np.arange(5), 8)) == 0.1
    assert val_fraction(np.repeat(np.arange(5), 2)) == 0.375
    assert val_fraction(np.repeat(np.arange(3), 1)) == 0.5
    assert val_fraction(np.r_[np.zeros(30, int), np.ones(2, int)]) == 0.1


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=40), st.integers(0, 2**31))
def test_bootstrap_interval_holds_the_mean_and_is_seeded(values, seed):
    v = np.array(values)
    low, high = bootstrap_interval(v, seed)
    assert 0 <= low <= 100 * v.mean() + 1e-9 and 100 * v.mean() - 1e-9 <= high <= 100
    assert bootstrap_interval(v, seed) == (low, high)
    if np.ptp(v) == 0:
        assert low == pytest.approx(high)


def test_a_multilabel_probe_case_measures_one_statistic(tmp_path):
    """Value, interval and the gate's paired outcomes are all the sample-averaged mAP."""
    from types import SimpleNamespace

    from pytest_fgbmk.data.records import Sample
    from pytest_fgbmk.tasks import get_task
    from pytest_fgbmk.tasks.machine import SAMPLE_MAP

    cats = tuple(Category(i, f"c{i}", (f"c{i}",)) for i in range(3))
    samples = tuple(
        Sample(f"s{i}", f"img/{i}.png", 0, "c0", "test", labels=(0, 1)) for i in range(4)
    )
    ds = Dataset("ml", tmp_path, "x", ("label",), cats, samples, multilabel=True)
    ctx = SimpleNamespace(
        dataset=lambda name: ds, options=SimpleNamespace(seed=0), model_settings=lambda **k: ""
    )
    per_image_ap = np.array([1.0, 0.5, 0.25, 0.25])  # mean 0.5
    result = SimpleNamespace(
        head=SimpleNamespace(multilabel=True), top1=0.8, per_sample=per_image_ap, predictions=None
    )
    task = get_task("linear_probe")
    case = MachineCase("linear_probe", "ml")
    m = task.probe_measurement(ctx, case, result, "probe:k", {"view": "cls"}, "cls")
    assert (m.metric, m.value) == (SAMPLE_MAP, 50.0)
    assert [v for _, v in m.details["per_query"]] == list(per_image_ap)  # what the gate pairs
    low, high = bootstrap_interval(per_image_ap, stable_seed("ml", "linear_probe"))
    assert (m.low, m.high) == (low, high) and low <= m.value <= high
    assert m.details["properties"]["label_mAP"] == 80.0  # the other average, reported beside
    assert m.asked.scoring == f"probe:k;value={SAMPLE_MAP}"  # old baselines ask to be rewritten


def test_release_protocol_reports_labelled_release_figures_and_gates_nothing_new(
    run, pytester, monkeypatch
):
    from pytest_fgbmk.machine import release_protocol

    monkeypatch.setattr(release_protocol, "RELEASE_ITERATIONS", 30)  # the release runs 10,000
    # (the alignment case lives in the probe's suite file: skipped, no 'aligned' view)
    pick = ("-k", "test_retrieval or test_linear_probe", "--fgbmk-datasets=synth_birds")
    run(*MACHINE, *ENCODER, *pick, "--fgbmk-update-baselines").assert_outcomes(passed=2, skipped=1)
    result = run(
        *MACHINE,
        *ENCODER,
        *pick,
        "--fgbmk-protocol=release",
        "--junitxml=r.xml",
        "--fgbmk-report=rep",
    )
    # gated against the baselines written under the standard protocol: nothing differs
    result.assert_outcomes(passed=2, skipped=1)
    # a CI log says the option took effect
    result.stdout.fnmatch_lines(["fgbmk * protocol=release (its figures reported, never gated) *"])
    cases = junit(pytester.path / "r.xml")
    r = cases["test_retrieval[synth_birds]"]
    assert r["release_protocol"] == "release protocol (head chosen on test)"
    # one-hot features: every query's class is its nearest neighbour's
    assert r["release_mAP"] == r["release_recall@1"] == r["release_recall@10"] == "100.00"
    assert r["value"] == r["mAP"] == "100.00"
    p = cases["test_linear_probe[synth_birds]"]
    assert p["release_protocol"] == "release protocol (head chosen on test)"
    assert p["release_settings"].startswith("release;lrs=0.001,0.002,0.005,0.01,0.02,0.05;bs=128")
    assert p["release_head"].startswith("blocks=1|avgpool=False|lr=")
    assert 0.0 <= float(p["release_top1"]) <= 100.0
    # results.json and report.html carry them beside ours, labelled
    label = "release protocol (head chosen on test)"
    results = json.loads((pytester.path / "rep" / "results.json").read_text())
    details = {c["case_id"]: c["details"] for c in results["cases"]}
    assert details["retrieval-synth_birds"]["release_mAP"] == 100.0
    assert details["retrieval-synth_birds"]["release_protocol"] == label
    assert details["linear_probe-synth_birds"]["release_top1"] == float(p["release_top1"])
    page = (pytester.path / "rep" / "report.html").read_text()
    block = re.search(r'<section id="retrieval-probe">(.*?)</section>', page, re.S).group(1)
    heads = [unescape(h) for h in re.findall(r"<th[^>]*>(.*?)</th>", block)]
    assert f"mAP, {label}" in heads and f"probe top-1, {label}" in heads
    assert "never gated" in block
    standard = run(*MACHINE, *ENCODER, *pick, "--junitxml=s.xml")
    standard.assert_outcomes(passed=2, skipped=1)
    assert not any(
        k.startswith("release") for c in junit(pytester.path / "s.xml").values() for k in c
    )


def _multilabel_probe(tmp_path, top1: float, per_sample):
    """A multi-label dataset of four test images and a probe result whose label-averaged
    mAP (``top1`` of a multi-label head) differs from its sample-averaged one."""
    from types import SimpleNamespace

    from pytest_fgbmk.data.records import Sample

    cats = tuple(Category(i, f"c{i}", (f"c{i}",)) for i in range(3))
    samples = tuple(
        Sample(f"s{i}", f"img/{i}.png", 0, "c0", "test", labels=(0, 1)) for i in range(4)
    )
    ds = Dataset("ml", tmp_path, "x", ("label",), cats, samples, multilabel=True)
    head = SimpleNamespace(multilabel=True, view="cls", lr=0.01, weight_decay=0.0)
    result = SimpleNamespace(
        head=head, top1=top1, mean_per_class=top1, per_sample=np.array(per_sample),
        predictions=None, val_scores={"cls": 0.7}, n_fit=8, n_val=2, folds=0,
    )  # fmt: skip
    settings = SimpleNamespace(key=lambda: "k")
    ctx = SimpleNamespace(
        dataset=lambda name: ds, probe=lambda name: result, labels=lambda *a: (None, 3),
        probe_settings=lambda y: settings, features=lambda *a: {"aligned": None},
        options=SimpleNamespace(seed=0, protocol="standard"),
        model_settings=lambda answers: "dtype=auto;image_size=none",
    )  # fmt: skip
    return ctx, result


def test_no_multilabel_probe_property_names_the_label_map_as_top1(tmp_path, monkeypatch):
    """Issue 13 point 7 through the tasks' own measure: a multi-label case's properties
    carry the label-averaged mAP only as ``label_mAP``, never as ``top1`` or
    ``mean_per_class``; the alignment case's figures are the case's statistic too."""
    import importlib
    from types import SimpleNamespace

    from pytest_fgbmk.report.junit import machine_properties
    from pytest_fgbmk.tasks import get_task
    from pytest_fgbmk.tasks.machine import SAMPLE_MAP

    ctx, aligned = _multilabel_probe(tmp_path, 0.8, [1.0, 0.5, 0.25, 0.25])  # mean 0.5
    m = get_task("linear_probe").measure_one(ctx, MachineCase("linear_probe", "ml"))
    props = dict(machine_properties(m))
    assert (m.metric, m.value, props["label_mAP"]) == (SAMPLE_MAP, 50.0, "80.00")
    assert not {"top1", "mean_per_class"} & props.keys()

    _, origin = _multilabel_probe(tmp_path, 0.9, [0.5, 0.5, 0.5, 0.25])  # mean 0.4375
    effect = SimpleNamespace(aligned=aligned, origin=origin)
    # the module measure_one imports (inline pytester runs may have re-imported it)
    alignment = importlib.import_module("pytest_fgbmk.machine.alignment")
    monkeypatch.setattr(alignment, "alignment_effect", lambda *a, **k: effect)
    a = get_task("alignment_effect").measure_one(ctx, MachineCase("alignment_effect", "ml"))
    props = a.details["properties"]
    assert (a.metric, a.value) == (SAMPLE_MAP, 50.0)
    assert props["aligned_sample_mAP"] == a.value and props["origin_sample_mAP"] == 43.75
    assert props["delta"] == 6.25  # not the label mAPs' 80 − 90
    assert not {"aligned_top1", "origin_top1"} & props.keys()
