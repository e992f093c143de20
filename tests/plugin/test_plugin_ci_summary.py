"""CI-facing output: the job summary's verdict table, and the report option's checks."""

from __future__ import annotations

from pytest_fgbmk.report.step_summary import markdown_verdicts

HUMAN = ("-m", "fgbmk_human", "--fgbmk-no-cache")
FLIP = ("--fgbmk-model=tests.fake_models:flip", "--fgbmk-model-arg", "flip=0.2")
WORSE = (*FLIP, "--fgbmk-model-arg", "facet=wing color", "--fgbmk-model-arg", "facet_flip=1")


def test_github_step_summary_gets_a_verdict_table_regressions_first(run, pytester, monkeypatch):
    run(*HUMAN, *FLIP, "--fgbmk-update-baselines").assert_outcomes(passed=48)
    summary = pytester.path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    run(*HUMAN, *WORSE).assert_outcomes(passed=46, failed=2)
    lines = summary.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "## FG-BMK verdicts: tests.fake_models:flip"
    assert lines[2] == "2 failed, 46 passed"
    assert lines[4].startswith("| case | verdict | metric | baseline | now | Δ pts | p |")
    failed = [line for line in lines[6:8]]
    assert all("❌ regressed" in line and "wing_color" in line for line in failed)
    assert len([line for line in lines if line.startswith("| `")]) == 48


def test_the_option_writes_the_same_table_under_xdist_and_wins_over_the_variable(
    run, pytester, monkeypatch
):
    run(*HUMAN, *FLIP, "--fgbmk-update-baselines").assert_outcomes(passed=48)
    serial = pytester.path / "serial.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(serial))
    run(*HUMAN, *WORSE).assert_outcomes(passed=46, failed=2)
    spread = pytester.path / "spread.md"
    result = run(*HUMAN, *WORSE, "-n", "2", f"--fgbmk-step-summary={spread}", subprocess=True)
    result.assert_outcomes(passed=46, failed=2)
    assert spread.read_text(encoding="utf-8") == serial.read_text(encoding="utf-8")
    assert serial.read_text(encoding="utf-8").count("## FG-BMK verdicts") == 1  # not appended
    folder = pytester.path / "a-folder"
    folder.mkdir()
    bad = run(*HUMAN, *WORSE, f"--fgbmk-step-summary={folder}")
    bad.stdout.fnmatch_lines(["fgbmk: could not append the verdicts to --fgbmk-step-summary=*"])


def test_no_step_summary_file_is_written_without_the_variable(run, pytester, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    run(*HUMAN, *FLIP, "--fgbmk-update-baselines", "-k", "wing_color")
    assert not list(pytester.path.glob("*.md"))


def test_missing_baselines_and_improvements_are_named_in_the_table():
    rows = [
        ({"case": "a-x-tf", "metric": "accuracy", "value": "50.00", "n": "12"}, "failed"),
        (
            {
                "case": "b-x-tf",
                "metric": "accuracy",
                "value": "90.00",
                "baseline": "70.00",
                "delta": "+20.00",
                "gate_note": "+20.0 pts, p=0.001: consider updating the baseline",
            },
            "passed",
        ),
    ]
    text = markdown_verdicts(rows, title="t")
    assert "1 failed, 1 improved" in text
    assert "| `a-x-tf` | ❌ regressed (no baseline) |" in text
    assert "| `b-x-tf` | ⬆️ improved | accuracy | 70.00 | 90.00 | +20.00 |" in text


def test_report_option_pointing_at_a_file_is_a_usage_error(run, pytester):
    (pytester.path / "taken").write_text("not a folder")
    result = run(*HUMAN, *FLIP, "--fgbmk-report=taken")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: --fgbmk-report=taken: a file of that name exists*"])


def test_robustness_cases_show_the_exact_worst_case_beside_pgd():
    """PGD's figure is the case's value; the exact worst case stands beside it, in the step
    summary's cell and in the terminal's robustness lines, and nowhere for other cases."""
    from pytest_fgbmk.report.terminal import SummaryRow, format_exact

    rob = {"case": "feature_robustness-b", "task": "feature_robustness", "dataset": "b",
           "metric": "top1", "value": "25.56", "n": "360", "exact_top1": "25",
           "baseline_file": "baselines/m/test_feature_robustness/test_feature_robustness[b].json"}  # fmt: skip
    other = {"case": "retrieval-b", "task": "retrieval", "dataset": "b", "metric": "mAP",
             "value": "40", "n": "360"}  # fmt: skip
    md = markdown_verdicts([(rob, "passed"), (other, "passed")], title="t")
    assert "| 25.56 (exact 25) |" in md and "| 40 |" in md and md.count("exact") == 1
    rows = [SummaryRow.from_properties(p, "passed") for p in (rob, other)]
    assert format_exact(rows) == [
        "fgbmk robustness: perturbed top-1 by PGD vs the exact worst case of the ball:",
        "  test_feature_robustness[b]  PGD 25.6  exact 25.0",
    ]
    assert format_exact(rows[1:]) == []


def test_the_documented_workflow_is_valid_yaml_and_uses_only_options_that_exist():
    """docs/ci.md's GitHub Actions workflow: it parses, caches .fgbmk_cache/, gates every
    pull request with no baseline written, rewrites baselines only on a manual run, and
    may open the pull request it promises (write permissions)."""
    import re
    from pathlib import Path

    import pytest

    from pytest_fgbmk.pytest_plugin.options import OPTIONS

    yaml = pytest.importorskip("yaml", reason="PyYAML parses the documented workflow")
    text = (Path(__file__).parents[2] / "docs" / "ci.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```yaml\n(.*?)```", text, re.S)
    flow = yaml.safe_load(block)
    job = flow["jobs"]["benchmark"]
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    steps = {s.get("name", s.get("uses")): s for s in job["steps"]}
    cache = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/cache@"))
    assert cache["with"]["path"] == ".fgbmk_cache"
    runs = {name: " ".join(s["run"].split()) for name, s in steps.items() if "run" in s}
    known = {flag for flag, *_ in OPTIONS}
    for name, command in runs.items():
        for flag in re.findall(r"--fgbmk-[a-z-]+", command):
            assert flag in known, (name, flag)
    gate = steps["Gate the checkpoint against the committed baselines"]
    rewrite = steps["Rewrite the baselines (manual, reviewed)"]
    assert "--fgbmk-update-baselines" not in gate["run"] and gate["if"].strip() == (
        "${{ !inputs.update_baselines }}"
    )
    assert "--fgbmk-update-baselines" in rewrite["run"]
    assert rewrite["if"].strip() == "${{ inputs.update_baselines }}"
    assert "--pyargs pytest_fgbmk.suites" in runs[gate["name"]]
    assert flow[True]["workflow_dispatch"]["inputs"]["update_baselines"]["type"] == "boolean"


def test_the_table_states_each_case_mdd_beside_its_threshold():
    """Issue 13 point 4: the power each case states reaches the CI job summary too."""
    props = {
        "case": "c-x-tf",
        "metric": "accuracy",
        "value": "80.00",
        "baseline": "80.00",
        "delta": "+0.00",
        "p": "1",
        "p_threshold": "0.0019531",
        "mdd": "58.3",
        "n": "12",
    }
    text = markdown_verdicts(
        [(props, "passed"), ({**props, "case": "d", "mdd": "inf"}, "passed")], title="t"
    )
    assert (
        "| case | verdict | metric | baseline | now | Δ pts | p | threshold | mdd pts | n |" in text
    )
    assert (
        "| `c-x-tf` | ✅ | accuracy | 80.00 | 80.00 | +0.00 | 1 | 0.0019531 | 58.3 | 12 |" in text
    )
    assert "| `d` | ✅ | accuracy | 80.00 | 80.00 | +0.00 | 1 | 0.0019531 | inf | 12 |" in text
