"""fgbmk compare: Friedman / Nemenyi against scipy and scikit-posthocs, the critical
distance against Demšar's table, the clique bars, and the command's outputs."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import scikit_posthocs as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from report_fixtures import case, machine_runs, write_run
from scipy.stats import friedmanchisquare, rankdata

from pytest_fgbmk.cli import main
from pytest_fgbmk.errors import ConfigError, DataFormatError
from pytest_fgbmk.report.compare import (
    ModelRun,
    cd_cliques,
    compare_runs,
    critical_distance,
    friedman_nemenyi,
    load_runs,
    q_alpha,
)

MODELS = ["CLIP", "DINOv2", "EVA-CLIP", "SigLIP", "LLaVA-1.5", "Qwen2.5-VL", "InternVL3", "BLIP-2"]
DATASETS = [
    "cub", "dogs", "cars", "aircraft", "flowers", "food",
    "inat", "vegfru", "products", "fashion", "skincon", "wine",
]  # fmt: skip

#: Demšar (2006), Table 5(a): two-tailed Nemenyi q_0.05 for k = 2 … 10.
DEMSAR_Q05 = {
    2: 1.960,
    3: 2.343,
    4: 2.569,
    5: 2.728,
    6: 2.850,
    7: 2.949,
    8: 3.031,
    9: 3.102,
    10: 3.164,
}


def paper_scores() -> np.ndarray:
    """12 datasets × 8 models, with ties, seeded (probe top-1 in percent)."""
    rng = np.random.default_rng(7)
    skill = np.array([70, 80, 72, 75, 55, 60, 62, 50], dtype=float)
    x = np.round(skill + rng.normal(0, 6, size=(12, 8)))
    x[3, 2] = x[3, 3]  # a tie
    return x


def test_friedman_and_nemenyi_equal_scipy_and_scikit_posthocs():
    x = paper_scores()
    r = friedman_nemenyi(x, MODELS, DATASETS, name="probe top1")
    ref = friedmanchisquare(*(x[:, j] for j in range(8)))
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    np.testing.assert_allclose(r.nemenyi, sp.posthoc_nemenyi_friedman(x).to_numpy(), rtol=1e-12)
    # mean ranks: rank 1 = best (highest score), ties averaged
    expected_ranks = rankdata(-x, axis=1).mean(axis=0)
    np.testing.assert_allclose(r.mean_ranks, expected_ranks)
    assert r.models[r.order[0]] == "DINOv2"


def test_critical_distance_matches_the_textbook_formula():
    for k, q in DEMSAR_Q05.items():
        assert q_alpha(k, 0.05) == pytest.approx(q, abs=1e-3)  # the table is truncated
    cd = critical_distance(8, 12, 0.05)
    assert cd == pytest.approx(3.031 * math.sqrt(8 * 9 / (6 * 12)), abs=1e-3)
    assert cd == pytest.approx(3.0309, abs=1e-3)
    # alpha 0.10 row of Demšar's table, k = 5: 2.459
    assert q_alpha(5, 0.10) == pytest.approx(2.459, abs=1e-3)
    r = friedman_nemenyi(paper_scores(), MODELS, DATASETS)
    assert r.cd == pytest.approx(cd)


@settings(max_examples=40, deadline=None)
@given(data=st.lists(st.lists(st.integers(0, 20), min_size=5, max_size=5), min_size=3, max_size=9))
def test_cliques_join_exactly_the_pairs_nemenyi_does_not_separate(data):
    x = np.array(data, dtype=float)
    if (x == x[:, :1]).all():
        return
    r = friedman_nemenyi(x, list("abcde"), [str(i) for i in range(len(x))])
    together = {frozenset((i, j)) for c in r.cliques for i in c for j in c if i != j}
    for i in range(5):
        for j in range(i + 1, 5):
            not_separated = r.nemenyi[i, j] > r.alpha
            assert (frozenset((i, j)) in together) == not_separated, (i, j, r.mean_ranks, r.cd)
    # no clique is contained in another
    for a in r.cliques:
        for b in r.cliques:
            assert a == b or not set(a) <= set(b)


def test_cd_cliques_on_hand_made_ranks():
    assert cd_cliques([1.0, 2.0, 3.5, 4.0], 1.6) == ((0, 1), (1, 2), (2, 3))
    assert cd_cliques([1.0, 2.0, 3.0], 5.0) == ((0, 1, 2),)
    assert cd_cliques([1.0, 3.0, 5.0], 1.0) == ()


def test_friedman_refuses_too_few_models_or_datasets():
    with pytest.raises(ConfigError, match="at least 3 models"):
        friedman_nemenyi(np.ones((4, 2)), ["a", "b"], list("wxyz"))
    with pytest.raises(ConfigError, match="at least 2 datasets"):
        friedman_nemenyi(np.ones((1, 3)), ["a", "b", "c"], ["w"])


def test_all_ties_give_p_one():
    r = friedman_nemenyi(np.full((3, 4), 50.0), list("abcd"), list("xyz"))
    assert (r.statistic, r.p_value) == (0.0, 1.0)
    np.testing.assert_allclose(r.mean_ranks, [2.5] * 4)


def _runs_from_matrix(x: np.ndarray) -> list[ModelRun]:
    runs = []
    for j, m in enumerate(MODELS):
        cases = [
            case(ds, "retrieval", "", "", float(x[i, j]), metric="mAP")
            for i, ds in enumerate(DATASETS)
        ]
        runs.append(ModelRun(m, f"{m}.json", {c.case_id: c for c in cases}))
    return runs


def test_compare_runs_builds_table_and_tests_per_comparison():
    x = paper_scores()
    runs = _runs_from_matrix(x)
    # human task means: two levels per dataset, averaged per dataset
    for j, run in enumerate(runs[:3]):
        extra = {}
        for i, ds in enumerate(DATASETS[:4]):
            for level, shift in (("genus", 5.0), ("species", -5.0)):
                c = case(ds, "granularity", level, "tf", 60.0 + 10 * j + i + shift)
                extra[c.case_id] = c
        runs[j] = ModelRun(run.label, run.source, {**run.cases, **extra})
    comp = compare_runs(runs)
    names = [t.name for t in comp.tests]
    assert names == ["granularity tf accuracy", "retrieval mAP"]
    gran = comp.tests[0]
    assert gran.models == ("CLIP", "DINOv2", "EVA-CLIP")
    assert gran.datasets == ("aircraft", "cars", "cub", "dogs")
    np.testing.assert_allclose(gran.scores[:, 0], [63, 62, 60, 61])  # mean of the ±5 levels
    np.testing.assert_allclose(gran.mean_ranks, [3.0, 2.0, 1.0])
    retr = comp.tests[1]
    order = np.argsort(DATASETS)
    assert retr.datasets == tuple(sorted(DATASETS))
    np.testing.assert_allclose(retr.scores, x[order])
    assert comp.table["cub-retrieval-mAP"]["SigLIP"] == x[0, 3]
    assert "cub-genus-tf" in comp.case_ids


def test_compare_lists_what_it_could_not_test():
    runs = _runs_from_matrix(paper_scores())[:2]
    comp = compare_runs(runs)
    assert comp.tests == ()
    assert comp.skipped[0].name == "retrieval mAP"
    assert "Friedman's test needs 3" in comp.skipped[0].reason
    with pytest.raises(ConfigError, match="at least 2 runs"):
        compare_runs(runs[:1])


def test_fgbmk_compare_writes_markdown_csv_and_diagram(tmp_path, capsys):
    runs = machine_runs(
        {
            "probe:efficientnet-lite0": [61.0, 72.5, 55.0],
            "chance": [10.0, 12.0, 9.5],
            "tiny-llava": [20.0, 11.0, 15.0],
        },
        ["synth_birds", "synth_flowers", "cifar100"],
    )
    paths = [
        write_run(tmp_path / spec.replace(":", "_"), spec, cases) for spec, cases in runs.items()
    ]
    out = tmp_path / "cmp"
    # a folder and two files are all accepted
    assert (
        main(["compare", str(paths[0].parent), str(paths[1]), str(paths[2]), "--out", str(out)])
        == 0
    )
    printed = capsys.readouterr().out
    assert "retrieval mAP: Friedman chi2=4.667" in printed  # ranks 1,3,2 / 1,2,3 / 1,3,2
    assert "best: probe:efficientnet-lite0" in printed
    md = (out / "comparison.md").read_text()
    assert "## retrieval mAP" in md and "cd_retrieval_map.png" in md
    assert "| 1 | probe:efficientnet-lite0 | 1.00 |" in md
    with open(out / "scores.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["case", "probe:efficientnet-lite0", "chance", "tiny-llava"]
    assert ["synth_flowers-retrieval-mAP", "72.5", "12.0", "11.0"] in rows
    with open(out / "ranks.csv", newline="") as f:
        ranks = list(csv.DictReader(f))
    assert [r["model"] for r in ranks] == ["probe:efficientnet-lite0", "tiny-llava", "chance"]
    assert float(ranks[0]["friedman_chi2"]) == pytest.approx(
        friedmanchisquare([61, 72.5, 55], [10, 12, 9.5], [20, 11, 15]).statistic
    )
    png = Image.open(out / "cd_retrieval_map.png")
    assert png.size[0] > 600 and png.size[1] > 150


def test_duplicate_model_labels_are_made_unique(tmp_path):
    cases = [case("a", "retrieval", "", "", 1.0, metric="mAP")]
    p1 = write_run(tmp_path / "run1", "chance", cases)
    p2 = write_run(tmp_path / "run2", "chance", cases)
    labels = [r.label for r in load_runs([p1, p2])]
    assert labels == ["chance (run1)", "chance (run2)"]


def test_compare_errors_name_the_file(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    good = write_run(tmp_path / "g", "chance", [case("a", "retrieval", "", "", 1.0, metric="mAP")])
    assert main(["compare", str(good), str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:1: not valid JSON" in err
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    with pytest.raises(DataFormatError, match="not an FG-BMK results file"):
        load_runs([other])
    assert (
        main(["compare", str(tmp_path / "nowhere"), str(good), "--out", str(tmp_path / "o")]) == 2
    )
    assert "nowhere: no such file" in capsys.readouterr().err
    assert main(["compare", str(good), "--out", str(tmp_path / "o")]) == 2
    assert "at least 2 runs" in capsys.readouterr().err


def test_compare_help_has_an_example(capsys):
    with pytest.raises(SystemExit) as e:
        main(["compare", "--help"])
    assert e.value.code == 0
    assert "example:\n  fgbmk compare" in capsys.readouterr().out
