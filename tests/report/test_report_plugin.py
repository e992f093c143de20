"""--fgbmk-report DIR end to end through pytester: a model that answers with markup, the
files written, the records matching the JUnit properties, and xdist writing the same."""

from __future__ import annotations

import json

import numpy  # noqa: F401 - imported before pytester's inline runs, which cannot reload it
import pytest

import pytest_fgbmk.data.synth  # noqa: F401 - keep loaded modules across inline runs
import pytest_fgbmk.plugin  # noqa: F401
import pytest_fgbmk.questions.cases  # noqa: F401
from pytest_fgbmk.report.results import read_results, read_samples
from tests.fake_models import EVIL
from tests.harness import junit, ran

ARGS = (
    "-m",
    "fgbmk_human",
    "--fgbmk-datasets=synth_birds",
    "--fgbmk-limit=6",
    "--fgbmk-model=tests.fake_models:Evil",
    "--fgbmk-no-cache",
)


def test_report_folder_matches_the_run(run, pytester):
    result = run(*ARGS, "--fgbmk-report", "rep", "--junitxml", "out.xml")
    folder = pytester.path / "rep"
    result.stdout.fnmatch_lines(
        [f"fgbmk report: {folder} (results.json, samples.jsonl, report.html)"]
    )
    res = read_results(folder)
    assert res.run.model["spec"] == "tests.fake_models:Evil"
    assert res.run.model["fingerprint"] == "evil-v1"
    assert res.run.limit == 6 and res.run.templates == "original" and res.run.scoring == "strict"
    assert res.run.datasets["synth_birds"]["index_hash"]
    assert res.run.environment["packages"]["torch"]
    assert res.run.exit_status == int(result.ret)
    assert len(res.cases) == ran(result) > 10
    values = {
        p["case"]: p["value"] for p in junit(pytester.path / "out.xml").values() if "case" in p
    }
    assert {c.case_id: f"{c.value:.2f}" for c in res.cases} == values
    failed = result.parseoutcomes().get("failed", 0)
    assert sum(c.outcome == "failed" for c in res.cases) == failed
    assert all(c.outcome in ("passed", "failed") and c.nodeid for c in res.cases)
    samples = list(read_samples(folder / "samples.jsonl"))
    assert len(samples) == sum(c.n for c in res.cases)
    for c in res.cases:
        mine = [s for s in samples if s.case_id == c.case_id]
        assert 100.0 * sum(s.correct for s in mine) / len(mine) == pytest.approx(c.value)
    evil = [s for s in samples if s.response == EVIL]
    assert evil and not any(s.correct for s in evil)
    html = (folder / "report.html").read_text()
    assert EVIL not in html  # (shown escaped in the examples of a regressed case)
    assert "<script" not in html.lower()
    kb = next(c for c in res.cases if c.task == "knowledge_bias")
    assert kb.details["ranked"] and "spread" in kb.details


@pytest.mark.slow
def test_xdist_writes_the_same_results(run, pytester):
    n1 = ran(run(*ARGS, "--fgbmk-report", "one"))
    n2 = ran(run(*ARGS, "--fgbmk-report", "two", "-n", "2", subprocess=True))
    one, two = read_results(pytester.path / "one"), read_results(pytester.path / "two")
    assert n1 == n2 == len(one.cases) > 10
    assert [(c.case_id, c.value, c.n) for c in one.cases] == [
        (c.case_id, c.value, c.n) for c in two.cases
    ]
    assert [c.details for c in one.cases] == [c.details for c in two.cases]
    s1 = (pytester.path / "one" / "samples.jsonl").read_text().splitlines()
    s2 = (pytester.path / "two" / "samples.jsonl").read_text().splitlines()
    assert s1 == s2 and s1  # the same bytes: cases in id order, each in the order asked
    # the workers' spooled records reached the controller and their spool files are gone
    assert not (pytester.path / "two" / ".spool").exists()
    assert two.run.model["fingerprint"] == "evil-v1"
    assert not (pytester.path / "two" / ".parts").exists()
    assert json.loads((pytester.path / "two" / "results.json").read_text())["schema_version"] == 1
