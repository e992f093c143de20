"""The plugin end to end through pytester: options, suites, skips, -k, xdist, JUnit."""

from __future__ import annotations

import numpy  # noqa: F401 - imported before pytester's inline runs, which cannot reload it
import pytest

import pytest_fgbmk.data.discovery  # noqa: F401 - same: keep loaded modules across inline runs
import pytest_fgbmk.data.synth  # noqa: F401
import pytest_fgbmk.models.references  # noqa: F401
import pytest_fgbmk.plugin  # noqa: F401
import pytest_fgbmk.questions.cases  # noqa: F401
from tests.harness import junit

HUMAN = ("-m", "fgbmk_human")
COUNTING = "--fgbmk-model=tests.fake_models:counting"


def assert_ran(result, n: int) -> None:
    """``n`` cases ran to a verdict and none errored.

    Pass or fail is the gate's decision (the baseline gate fails a case without a stored
    baseline), so these tests check the measured numbers, not the verdicts.
    """
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == n, outcomes
    assert not outcomes.get("errors") and not outcomes.get("error"), outcomes
    assert "INTERNALERROR" not in result.stdout.str()


def test_oracle_scores_every_case_100_and_junit_carries_the_measurement(run, pytester):
    result = run(*HUMAN, "--fgbmk-model=oracle", "--junitxml=out.xml", "--fgbmk-no-cache")
    assert_ran(result, 48)
    cases = junit(pytester.path / "out.xml")
    assert len(cases) == 48
    assert {c["value"] for c in cases.values()} == {"100.00"}
    assert all(c["metric"] == "accuracy" for c in cases.values())
    wing = cases["test_attribute[synth_birds-wing_color-tf]"]
    assert (
        wing["n"] == "12" and wing["interval_high"] == "100.00" and wing["unparsed_rate"] == "0.00"
    )
    assert wing["case"] == "synth_birds-wing_color-tf" and wing["errors"] == "0"
    assert float(wing["interval_low"]) == pytest.approx(75.75, abs=0.01)  # Wilson 95%, 12/12
    kb = cases["test_knowledge_bias[synth_flowers]"]
    assert kb["n"] == "24" and kb["worst_decile_accuracy"] == "100.00" and kb["spread"] == "0.00"
    assert '"' in kb["ranked_categories"]  # JSON list of [category, accuracy], worst first
    sa = [n for n in cases if n.startswith("test_granularity[") and n.endswith("-sa]")]
    assert sorted(sa) == [
        "test_granularity[synth_birds-species-sa]",
        "test_granularity[synth_flowers-species-sa]",
    ]
    text = result.stdout.str()
    assert "fgbmk model: oracle" in text and "fgbmk fingerprint: oracle-v1" in text
    assert "fgbmk datasets found: synth_birds (24 images), synth_flowers (24 images)" in text
    assert (
        "FG-BMK summary" in text and "engine: 600 questions, 0 from the cache, 600 answered" in text
    )
    result.stdout.fnmatch_lines(["synth_birds*attribute*wing color*tf*accuracy*100.0*12*"])


def test_chance_true_false_is_near_half_within_the_interval(run, pytester):
    result = run(
        *HUMAN,
        "--fgbmk-model=chance",
        "--junitxml=out.xml",
        "--fgbmk-no-cache",
        "-k",
        "tf or knowledge",
    )
    assert_ran(result, 24)
    cases = junit(pytester.path / "out.xml")
    right = total = 0
    for props in cases.values():
        n = int(props["n"])
        k = round(float(props["value"]) * n / 100)
        assert abs(100 * k / n - float(props["value"])) < 0.01
        right += k
        total += n
    from pytest_fgbmk.scoring import wilson

    low, high = wilson(right, total)
    assert total == 312 and low <= 50.0 <= high, (right, total)


def test_k_selection_runs_only_that_cases_questions(run, pytester):
    log = pytester.path / "asked.txt"
    result = run(
        *HUMAN,
        COUNTING,
        f"--fgbmk-model-arg=log={log}",
        "--fgbmk-no-cache",
        "--junitxml=out.xml",
        "-k",
        "synth_flowers-petal_color-mc",
    )
    assert_ran(result, 1)
    asked = log.read_text().split()
    (props,) = junit(pytester.path / "out.xml").values()
    assert len(asked) == len(set(asked)) == int(props["n"]) == 12
    assert props["value"] == "100.00"


def test_limit_caps_questions_per_case(run, pytester):
    result = run(
        *HUMAN,
        "--fgbmk-model=oracle",
        "--fgbmk-limit=4",
        "--fgbmk-no-cache",
        "--junitxml=out.xml",
        "-k",
        "species",
    )
    assert_ran(result, 6)
    assert {c["n"] for c in junit(pytester.path / "out.xml").values()} == {"4"}


def test_without_a_model_the_suites_skip_with_the_hint(run):
    result = run(*HUMAN, "-rs")
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines(
        ["*no model chosen: pass --fgbmk-model=SPEC*--fgbmk-model=probe:efficientnet-lite0*"]
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # nothing measured: never green


@pytest.mark.parametrize("workers", [0, 2])
def test_a_dataset_asked_for_and_absent_fails_the_run_naming_where_it_looked(
    run, synth_dir, workers
):
    """--fgbmk-datasets=cub,stanford_dogs where only cub is: the run used to pass green
    with stanford_dogs' three cases skipped. A dataset asked for by name that has no image
    there is a data error, reported once, exit 4, nothing measured."""
    from pytest_fgbmk.data.synth import SynthConfig, ensure_synthetic

    root = ensure_synthetic(
        SynthConfig(species_per_meta=6, images_per_species=4, size=64), synth_dir
    )
    extra = ("-n", str(workers)) if workers else ()
    result = run(
        *HUMAN,
        "--fgbmk-model=oracle",
        f"--fgbmk-data={root}",
        "--fgbmk-datasets=cub,stanford_dogs",
        "--fgbmk-no-cache",
        *extra,
        subprocess=bool(workers),
    )
    assert result.ret == 4
    err = result.stderr.str()
    assert err.count("stanford_dogs not found") == 1
    result.stderr.fnmatch_lines(
        [
            f"ERROR: FG-BMK data: --fgbmk-datasets: stanford_dogs not found under "
            f"--fgbmk-data={root} (1 of the 2 datasets asked for)*",
            f"  stanford_dogs: looked for Stanford Dogs: {root}*",
            "*leave it out of --fgbmk-datasets (found: cub)",
        ]
    )
    assert "passed" not in result.stdout.str() and "skipped" not in result.stdout.str()


def test_a_model_that_cannot_answer_is_skipped_with_the_reason(run):
    result = run(
        *HUMAN,
        COUNTING,
        "--fgbmk-model-arg=encode_only=1",
        "-rs",
        "-k",
        "knowledge",
    )
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(
        ["*cannot answer questions (human-oriented cases need the answer capability)*"]
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # nothing measured: never green


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--fgbmk-templates=fancy",),
            "--fgbmk-templates='fancy' is not valid; use original or extended",
        ),
        (("--fgbmk-limit=many",), "--fgbmk-limit='many' is not an integer"),
        (("--fgbmk-scoring=loose",), "--fgbmk-scoring='loose' is not valid"),
        (
            ("--fgbmk-protocol=paper",),
            "--fgbmk-protocol='paper' is not valid; use standard or release",
        ),
        (
            ("--fgbmk-model=oracle", "--fgbmk-datasets=synth_fish"),
            "'synth_fish' is not a bundled synthetic dataset",
        ),
        (("--fgbmk-model=no-such-model",), "--fgbmk-model=no-such-model:"),
    ],
)
def test_bad_option_values_are_usage_errors_naming_the_option(run, args, message):
    result = run(*HUMAN, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_ini_keys_work_like_options(run, pytester):
    pytester.makeini("[pytest]\nfgbmk_model = oracle\nfgbmk_limit = 4\nfgbmk_no_cache = true\n")
    result = run(*HUMAN, "--junitxml=out.xml", "-k", "knowledge")
    assert_ran(result, 2)
    # knowledge bias keeps image pairs: limit // 2 images, both questions of each
    assert {c["n"] for c in junit(pytester.path / "out.xml").values()} == {"4"}


def test_cache_makes_a_rerun_ask_nothing(run, pytester):
    log = pytester.path / "asked.txt"
    args = (
        COUNTING,
        f"--fgbmk-model-arg=log={log}",
        "--fgbmk-cache=c",
        "-k",
        "synth_birds",
    )
    assert_ran(run(*HUMAN, *args), 24)
    first = log.read_text().split()
    assert len(first) == len(set(first)) == 300
    result = run(*HUMAN, *args)
    assert_ran(result, 24)
    assert log.read_text().split() == first
    assert "engine: 300 questions, 300 from the cache" in result.stdout.str()


# The single-process vs -n N comparison (same numbers, same verdicts, each worker a share)
# is tests/run/test_run_script.py::test_xdist_workers_take_the_serial_verdicts.


@pytest.mark.slow
def test_tiny_llava_runs_end_to_end_through_transformers(run, pytester):
    result = run(
        *HUMAN,
        "--fgbmk-model=tiny-llava",
        "--fgbmk-no-cache",
        "--fgbmk-limit=2",
        "--junitxml=out.xml",
        "-k",
        "synth_birds-species-mc",
        subprocess=True,
    )
    assert_ran(result, 1)
    (props,) = junit(pytester.path / "out.xml").values()
    assert props["n"] == "2" and props["errors"] == "0"  # random weights: any accuracy
    result.stdout.fnmatch_lines(["fgbmk model: tiny-llava", "fgbmk fingerprint: *?"])
