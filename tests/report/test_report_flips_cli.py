"""``fgbmk flips A B``: per-case run-to-run flips from two runs' samples.jsonl."""

from __future__ import annotations

import numpy  # noqa: F401 - imported before pytester's inline runs, which cannot reload it

import pytest_fgbmk.data.synth  # noqa: F401 - keep loaded modules across inline runs
import pytest_fgbmk.plugin  # noqa: F401
from pytest_fgbmk import rule_versions
from pytest_fgbmk.cli import main
from pytest_fgbmk.report.flips import CaseFlips, flips_table
from pytest_fgbmk.report.results import read_results, read_samples
from tests.fake_models import share

ARGS = (
    "-m",
    "fgbmk_human",
    "--fgbmk-datasets=synth_birds",
    "--fgbmk-no-cache",
    "--fgbmk-model=tests.fake_models:flip",
)


def test_flips_between_two_runs_are_counted_per_case(run, pytester, capsys):
    run(*ARGS, "--fgbmk-model-arg", "flip=0.1", "--fgbmk-report=a")
    run(*ARGS, "--fgbmk-model-arg", "flip=0.3", "--fgbmk-report=b")
    samples = list(read_samples(pytester.path / "a" / "samples.jsonl"))
    # the flip model is wrong where share(id) < flip: 0.1 → 0.3 flips [0.1, 0.3) right → wrong
    expected: dict[str, int] = {}
    asked: dict[str, int] = {}
    for r in samples:
        expected[r.case_id] = expected.get(r.case_id, 0) + (0.1 <= share(r.id) < 0.3)
        asked[r.case_id] = asked.get(r.case_id, 0) + 1
    assert sum(expected.values()) > 10
    capsys.readouterr()  # the two runs' own output
    assert main(["flips", str(pytester.path / "a"), str(pytester.path / "b" / "results.json")]) == 0
    out = capsys.readouterr()
    # flip=0.1 and flip=0.3 are two models: said on stderr, the table stays on stdout
    assert out.err.startswith(
        "fgbmk flips: the two runs differ in model fingerprint, model arguments (flip):"
    )
    assert "not only run-to-run noise" in out.err
    lines = out.out.splitlines()
    assert lines[0].split() == [
        "case", "paired", "right→wrong", "wrong→right", "flip", "%", "Δ", "pts", "unpaired"
    ]  # fmt: skip
    rows = {line.split()[0]: line.split() for line in lines[1:-1]}
    assert len(rows) == 24
    for case, n in expected.items():
        assert rows[case][1:4] == [str(asked[case]), str(n), "0"], case
    total = lines[-1].split()
    assert total[:5] == ["all", "cases", str(len(samples)), str(sum(expected.values())), "0"]
    assert all(len(line) <= 100 for line in lines)


def test_the_table_fits_100_columns_and_reports_rates_exactly():
    rows = [CaseFlips("x" * 150, 200, 3, 1, 0, 0), CaseFlips("short", 0, 0, 0, 2, 1)]
    lines = flips_table(rows)
    assert all(len(line) <= 100 for line in lines)
    first = lines[1].split()
    assert first[0].endswith("…") and first[1:] == ["200", "3", "1", "2.0", "-1.0", "0"]
    assert lines[2].split()[1:] == ["0", "0", "0", "0.0", "+0.0", "3"]
    assert lines[3].split()[:2] == ["all", "cases"] and lines[3].split()[2:5] == ["200", "3", "1"]


def test_a_run_without_samples_is_a_clear_error(tmp_path, capsys):
    assert main(["flips", str(tmp_path / "nope.json"), str(tmp_path / "b.json")]) == 2
    err = capsys.readouterr().err
    assert "nope.json" in err and "Traceback" not in err


def test_two_runs_of_one_model_and_settings_warn_of_nothing(run, pytester, capsys):
    run(*ARGS, "--fgbmk-model-arg", "flip=0.2", "--fgbmk-report=a")
    run(*ARGS, "--fgbmk-model-arg", "flip=0.2", "--fgbmk-report=b")
    capsys.readouterr()
    info = read_results(pytester.path / "a").run
    assert (info.judge, info.exif_orientation) == ("", "apply")
    assert info.environment["rules"] == rule_versions.current()
    assert main(["flips", str(pytester.path / "a"), str(pytester.path / "b")]) == 0
    out = capsys.readouterr()
    assert out.err == ""
    assert out.out.splitlines()[-1].split()[:5] == ["all", "cases", out.out.split()[-6], "0", "0"]


def test_differences_name_each_setting_and_changed_dataset_files():
    from pytest_fgbmk.report.flips import differences
    from pytest_fgbmk.report.results import RunInfo

    a = RunInfo(
        model={"spec": "hf:/m", "fingerprint": "f1", "args": {"dtype": "bf16"}},
        templates="original",
        scoring="strict",
        datasets={"cub": {"index_hash": "h1"}, "dogs": {"index_hash": "d"}},
    )
    assert differences(a, a) == []
    b = RunInfo(
        model={"spec": "hf:/m", "fingerprint": "f2", "args": {"dtype": "bf16"}},
        templates="original",
        scoring="official",
        seed=1,
        datasets={"cub": {"index_hash": "h2"}},  # dogs not selected in b: unpaired, not a change
    )
    assert differences(a, b) == ["model fingerprint", "scoring", "seed", "the files of cub"]


def test_batching_and_device_are_noise_while_other_args_and_rules_are_named():
    """Issue 13 point 9: batch size 1 against 8 (or another GPU) is the run-to-run noise a
    user measures; dtype, max_new_tokens or another pytest-fgbmk rule version is a change."""
    from dataclasses import replace

    from pytest_fgbmk import rule_versions
    from pytest_fgbmk.report.flips import differences
    from pytest_fgbmk.report.results import RunInfo

    rules = rule_versions.current()
    a = RunInfo(
        model={"spec": "hf:/m", "fingerprint": "f", "args": {"dtype": "bf16", "batch_size": "1"}},
        environment={"rules": rules},
    )
    noise = replace(
        a, model={**a.model, "args": {"dtype": "bf16", "batch_size": "8", "device": "cuda:1"}}
    )
    assert differences(a, noise) == []
    other = replace(
        a,
        model={**a.model, "args": {"dtype": "fp32", "max_new_tokens": "8"}},
        environment={"rules": rules.replace(f"scoring={rule_versions.SCORING}", "scoring=0")},
    )
    assert differences(a, other) == [
        "model arguments (dtype, max_new_tokens)",
        f"rules of pytest-fgbmk (answer scoring changed (version {rule_versions.SCORING} → 0))",
    ]
    assert differences(a, replace(other, environment={})) == [
        "model arguments (dtype, max_new_tokens)"
    ]  # a report written before rules were recorded: not compared
    judged = replace(a, judge="openai:gpt-4o", exif_orientation="ignore")
    assert differences(replace(a, judge="", exif_orientation="apply"), judged) == [
        "judge",
        "EXIF orientation",
    ]
    assert differences(a, judged) == []  # a report from before either was recorded
