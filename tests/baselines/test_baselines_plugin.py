"""The regression gate end to end through pytester: missing baselines, update, reruns,
worse/better models, fingerprint changes, corrupt files, unused baselines, xdist."""

from __future__ import annotations

import json
from pathlib import Path

import numpy  # noqa: F401 - imported before pytester's inline runs, which cannot reload it
import pytest

import pytest_fgbmk.data.discovery  # noqa: F401 - keep loaded modules across inline runs
import pytest_fgbmk.data.synth  # noqa: F401
import pytest_fgbmk.models.references  # noqa: F401
import pytest_fgbmk.plugin  # noqa: F401
import pytest_fgbmk.questions.cases  # noqa: F401
from tests.harness import junit

#: the human-oriented suites answered by the flipping model
ARGS = ("-m", "fgbmk_human", "--fgbmk-model=tests.fake_models:flip", "--fgbmk-no-cache")
BASE = ("--fgbmk-model-arg", "flip=0.2")
WORSE = (*BASE, "--fgbmk-model-arg", "facet=wing color", "--fgbmk-model-arg", "facet_flip=1")
ALL_CASES = 48


def baseline_files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*.json"))}


@pytest.fixture
def written(run, pytester):
    """Baselines written by the base model (flip=0.2)."""
    result = run(*ARGS, *BASE, "--fgbmk-update-baselines")
    result.assert_outcomes(passed=ALL_CASES)
    return pytester.path / "baselines" / "tests.fake_models-flip"


def test_missing_baseline_fails_with_the_command_that_writes_it(run, pytester):
    result = run(*ARGS, *BASE, "--junitxml=first.xml")
    result.assert_outcomes(failed=ALL_CASES)
    text = result.stdout.str()
    assert "synth_birds-wing_color-tf: no baseline yet (accuracy " in text
    assert "fgbmk: no baseline yet for any case (in baselines/tests.fake_models-flip/)." in text
    assert "--fgbmk-model-arg flip=0.2" in text and "--fgbmk-update-baselines" in text
    assert not (pytester.path / "baselines").exists()


def test_update_writes_baselines_and_the_rerun_passes(run, written, pytester):
    files = baseline_files(written)
    assert len(files) == ALL_CASES
    name = "test_attribute_recognition/test_attribute[synth_birds-wing_color-tf].json"
    text = files[name]
    rec = json.loads(text)
    assert text.lstrip("{\n ").startswith('"metric": "accuracy"')
    assert rec["n"] == 12 and rec["case"] == "synth_birds-wing_color-tf"
    assert rec["asked"]["templates"] == "original" and rec["asked"]["limit"] is None
    assert rec["asked"]["question_ids"]["count"] == 12
    assert rec["outcomes"]["encoding"] == "bitset-base64"
    assert rec["model"] == "flip-0.2-None-0.0"
    result = run(*ARGS, *BASE, "--junitxml=again.xml")
    result.assert_outcomes(passed=ALL_CASES)
    cases = junit(pytester.path / "again.xml")
    wing = cases["test_attribute[synth_birds-wing_color-tf]"]
    assert wing["delta"] == "+0.00" and wing["p"] == "1" and wing["baseline"] == wing["value"]
    assert baseline_files(written) == files  # a passing run writes nothing


def test_a_worse_model_fails_exactly_the_affected_cases(run, written, pytester):
    result = run(*ARGS, *WORSE, "--junitxml=worse.xml")
    cases = junit(pytester.path / "worse.xml")
    failed = sorted(n for n, c in cases.items() if c["_status"] == "failure")
    assert failed == [
        "test_attribute[synth_birds-wing_color-mc]",
        "test_attribute[synth_birds-wing_color-tf]",
    ]
    result.assert_outcomes(passed=ALL_CASES - 2, failed=2)
    wing = cases["test_attribute[synth_birds-wing_color-tf]"]
    assert float(wing["delta"]) < -30 and float(wing["p"]) < 0.005
    assert float(wing["p"]) <= float(wing["p_threshold"])
    msg = wing["_message"]
    assert "dropped significantly" in msg and "baseline" in msg and "right → wrong" in msg
    assert "I cannot tell" in msg and "wing" in msg  # the flipped questions: prompt, answer


def test_a_better_model_passes_and_is_reported(run, written, pytester):
    result = run(*ARGS, "--junitxml=better.xml", "--fgbmk-alpha=0.05")  # flip=0: all right
    result.assert_outcomes(passed=ALL_CASES)
    cases = junit(pytester.path / "better.xml")
    kb = cases["test_knowledge_bias[synth_birds]"]
    assert float(kb["delta"]) > 10
    assert "consider updating the baseline" in kb["gate_note"]


def test_changing_the_limit_fails_with_what_differs(run, written, pytester):
    result = run(*ARGS, *BASE, "--fgbmk-limit=5", "-k", "wing_color")
    result.assert_outcomes(failed=2)
    text = result.stdout.str()
    assert "fingerprint differs" in text and "limit: none → 5" in text
    assert "question ids missing" in text


def test_a_corrupt_baseline_fails_naming_the_file(run, written):
    path = written / "test_granularity" / "test_granularity[synth_birds-species-tf].json"
    path.write_text(path.read_text()[:40])
    result = run(*ARGS, *BASE, "-k", "species")
    text = result.stdout.str()
    assert "test_granularity[synth_birds-species-tf].json" in text and "not valid JSON" in text
    result.assert_outcomes(failed=1, passed=result.parseoutcomes()["passed"])


def test_unused_baselines_are_reported_not_failed(run, written):
    result = run(*ARGS, *BASE, "--fgbmk-datasets=synth_birds")
    result.assert_outcomes(passed=24)
    assert "unused" in result.stdout.str()
    # the other dataset's files are not stale: they are named as not in this run, not for deletion
    result.stdout.fnmatch_lines(
        ["*24 baseline file(s) under *unused: their datasets are not in this run*"]
    )
    assert "delete them" not in result.stdout.str()


def test_a_stale_baseline_is_named_for_deletion_but_deselected_cases_are_not(run, written):
    gone = written / "test_attribute_recognition" / "test_attribute[synth_birds-old_facet-tf].json"
    gone.write_text(
        (written / "test_knowledge_bias" / "test_knowledge_bias[synth_birds].json").read_text()
    )
    result = run(*ARGS, *BASE)
    result.assert_outcomes(passed=ALL_CASES)
    result.stdout.fnmatch_lines(
        ["*1 baseline file(s) under *unused*delete them: *old_facet-tf].json"]
    )
    selected = run(*ARGS, *BASE, "-k", "wing_color")
    assert "old_facet" in selected.stdout.str()  # still stale
    assert "wing_color-mc" not in selected.stdout.str().split("unused")[-1]  # deselected ≠ unused


@pytest.mark.slow
def test_xdist_writes_the_same_baselines_as_one_process(run, pytester):
    run(*ARGS, *BASE, "--fgbmk-update-baselines", "--fgbmk-baseline-alias=one").assert_outcomes(
        passed=ALL_CASES
    )
    # xdist workers are real processes: run the controller as one too, like a user's shell.
    run(
        *ARGS, *BASE, "--snapshot-update", "--fgbmk-baseline-alias=two", "-n", "2", subprocess=True
    ).assert_outcomes(passed=ALL_CASES)
    one = baseline_files(pytester.path / "baselines" / "one")
    two = baseline_files(pytester.path / "baselines" / "two")
    assert len(one) == ALL_CASES and one == two


def test_a_rule_change_of_the_tool_asks_for_a_rebaseline(run, written, monkeypatch):
    """A version of pytest-fgbmk that scores answers differently never compares silently."""
    from pytest_fgbmk import rule_versions

    monkeypatch.setitem(rule_versions._CURRENT, "scoring", "999")
    result = run(*ARGS, *BASE, "-k", "wing_color")
    result.assert_outcomes(failed=2)
    text = result.stdout.str()
    assert f"re-baseline: answer scoring changed (version {rule_versions.SCORING} → 999)" in text
    assert text.count("--fgbmk-update-baselines") == 1  # once, in the summary
    assert "2 case(s) cannot be compared with their baselines:" in text


def test_other_model_settings_fail_naming_each_setting(run, written, pytester):
    """A baseline written at the default generation settings never gates a run with another
    dtype, max_new_tokens or system prompt (nor the other way round): each is named."""
    result = run(
        *ARGS,
        *BASE,
        "--fgbmk-dtype=fp32",
        "--fgbmk-model-arg",
        "max_new_tokens=8",
        "--fgbmk-model-arg",
        "system_prompt=Answer briefly.",
        "-k",
        "wing_color",
        "--junitxml=settings.xml",
    )
    result.assert_outcomes(failed=2)
    cases = junit(pytester.path / "settings.xml")
    what = cases["test_attribute[synth_birds-wing_color-tf]"]["fingerprint_differs"]
    assert what == (
        "model settings: dtype: auto → fp32; max_new_tokens: 32 → 8; "
        "system_prompt: none → Answer briefly."
    )
    rec = json.loads(next(written.rglob("*synth_birds-wing_color-tf*.json")).read_text())
    assert rec["asked"]["model_settings"] == (
        "dtype=auto;image_size=none;max_new_tokens=32;system_prompt="
    )


def test_a_baseline_from_before_model_settings_were_recorded_asks_to_be_rewritten(run, written):
    for path in written.rglob("*wing_color*.json"):
        rec = json.loads(path.read_text())
        del rec["asked"]["model_settings"]
        path.write_text(json.dumps(rec, indent=2))
    result = run(*ARGS, *BASE, "-k", "wing_color")
    result.assert_outcomes(failed=2)
    text = result.stdout.str()
    assert "re-baseline: written before the model's settings (dtype, image size" in text
    assert "2 case(s) cannot be compared with their baselines:" in text


@pytest.mark.slow
def test_a_baseline_written_with_fixed_new_tokens_never_gates_a_normal_run(run, pytester):
    """``hf:``'s ``fixed_new_tokens`` (answers of a forced length, for throughput) moves
    every number: a baseline written with it refuses a run without it, naming it."""
    args = (
        "-m", "fgbmk_human", "--fgbmk-model=tiny-llava", "--fgbmk-no-cache",
        "--fgbmk-limit=2", "--fgbmk-device=cpu", "-k", "synth_birds-species-mc",
    )  # fmt: skip
    fixed = ("--fgbmk-model-arg", "fixed_new_tokens=2")
    run(*args, *fixed, "--fgbmk-update-baselines", subprocess=True).assert_outcomes(passed=1)
    (path,) = (pytester.path / "baselines").rglob("*.json")
    settings = json.loads(path.read_text())["asked"]["model_settings"]
    assert settings.endswith(";fixed_new_tokens=2;tiny_llava=1")  # the built-in's version too
    run(*args, *fixed, subprocess=True).assert_outcomes(passed=1)
    result = run(*args, "--junitxml=normal.xml", subprocess=True)
    result.assert_outcomes(failed=1)
    (case,) = junit(pytester.path / "normal.xml").values()
    assert case["fingerprint_differs"] == "model settings: fixed_new_tokens: 2 → none"


def test_each_family_records_the_args_that_move_its_numbers():
    """What a family records is what changes its answers or features, never where it runs."""
    from pytest_fgbmk.models import encoders, hf, openai_compat, probe
    from pytest_fgbmk.models.options import ModelOptions

    assert set(hf.HfVisionLanguageModel.recorded_args) == set(hf.HF_ARGS) - {"device_map"}
    assert encoders.EncoderAdapter.recorded_args == ("blocks",)
    assert openai_compat.OpenAICompatModel.recorded_args == ("jpeg_quality",)
    assert set(probe.ProbeModel.recorded_args) == {
        "probe_l2", "probe_max_iter", "probe_min_certainty", "blocks",
    }  # fmt: skip
    opts = ModelOptions(
        device="cpu", batch_size=4, max_new_tokens=8, image_size=336, system_prompt="a;b",
        extra={"fixed_new_tokens": "tf:1,mc:1,sa:8", "device_map": "auto", "max_pixels": "9"},
    )  # fmt: skip
    args = hf.HfVisionLanguageModel.recorded_args
    assert opts.recorded(args, answers=True) == (
        "dtype=auto;image_size=336;max_new_tokens=8;system_prompt=a,b;"
        "fixed_new_tokens=tf:1,mc:1,sa:8;max_pixels=9"
    )
    assert opts.recorded(("blocks",), answers=False) == "dtype=auto;image_size=336"
    assert probe.ProbeModel.implementation == f"probe_head={probe.HEAD_VERSION}"
    assert hf.HfVisionLanguageModel.implementation == ""  # a checkpoint: its weights


def test_another_version_of_a_built_in_model_is_named():
    """The ``probe:`` model's head fitting is this tool's code: a baseline written under
    another version of it never gates silently."""
    from dataclasses import replace

    from pytest_fgbmk.baselines.gate import BaselineGate, Entry
    from pytest_fgbmk.baselines.record import build_record, dump_record
    from pytest_fgbmk.measurement import Asked, Measurement, Outcome

    now = Asked("d", "h", "original", "strict", None, 0, model_settings="dtype=auto;probe_head=v2")
    outcomes = (Outcome("q0", True, "yes", "tf", "Is it?", "c"),)
    m = Measurement("d-a-tf", "d", "attribute", "a", "tf", "accuracy", 100.0, 1, 20.0, 100.0,
                    0.0, 0, outcomes, now)  # fmt: skip
    old = replace(m, asked=replace(now, model_settings="dtype=auto;probe_head=v1"))
    text = dump_record(build_record(old))
    v = BaselineGate().verdict(Entry("d-a-tf", m, Path("b.json"), text))
    assert not v.ok
    assert dict(v.properties)["fingerprint_differs"] == "model settings: probe_head: v1 → v2"
