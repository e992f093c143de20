"""No green run that measured nothing, and no empty option value taken as "the default".

A session whose selected FG-BMK cases all skipped (no model, ``--fgbmk-model=`` from an
unset CI variable, or a model that can run none of them) used to exit 0 with "N skipped";
it now ends with one usage error (exit status 4) saying why and what to do. An empty
value of any option that takes one is refused naming the option.
"""

from __future__ import annotations

import pytest

from tests.harness import PLUGIN_ARGS

HUMAN = ("-m", "fgbmk_human", "--fgbmk-no-cache")
MACHINE = ("-m", "fgbmk_machine", "--fgbmk-no-cache")
ENCODE_ONLY = ("--fgbmk-model=tests.fake_models:counting", "--fgbmk-model-arg=encode_only=1")
NO_MODEL = (
    "ERROR: FG-BMK: nothing measured: all 3 selected cases skipped (3 x no model chosen); "
    "pass --fgbmk-model=SPEC (e.g. --fgbmk-model=oracle to check the pipeline, or "
    "--fgbmk-model=probe:efficientnet-lite0 for the built-in demo model)"
)


def _nothing_lines(result: pytest.RunResult) -> list[str]:
    return [x for x in result.stderr.str().splitlines() if "nothing measured" in x]


@pytest.mark.parametrize("workers", [0, 2])
def test_a_run_without_a_model_fails_with_one_line_saying_nothing_was_measured(run, workers):
    extra = ("-n", str(workers)) if workers else ()
    result = run(*HUMAN, *extra, subprocess=bool(workers))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.assert_outcomes(skipped=3)
    assert _nothing_lines(result) == [NO_MODEL]


def test_a_run_whose_cases_the_model_cannot_run_fails_naming_each_reason(run, pytester):
    """oracle cannot encode: every machine case skips; an encode-only model cannot answer:
    every human case skips. Each run fails with the reasons counted."""
    machine = run(*MACHINE, "--fgbmk-model=oracle", "--fgbmk-step-summary=job.md")
    assert machine.ret == pytest.ExitCode.USAGE_ERROR
    machine.assert_outcomes(skipped=11)
    line = (
        "FG-BMK: nothing measured: all 11 selected cases skipped (11 x model oracle "
        "cannot encode images (machine-oriented cases need the encode capability)); pick "
        "cases --fgbmk-model=oracle can run (-k, -m, --fgbmk-datasets), or a model that can "
        "run these"
    )
    assert _nothing_lines(machine) == ["ERROR: " + line]
    # the CI job summary says why it has no verdict table
    assert (pytester.path / "job.md").read_text(encoding="utf-8") == (
        f"## FG-BMK verdicts: oracle\n\n❌ nothing was scored: {line}\n\n"
    )
    human = run(*HUMAN, *ENCODE_ONLY, "-k", "knowledge")
    assert human.ret == pytest.ExitCode.USAGE_ERROR
    human.assert_outcomes(skipped=2)
    (line,) = _nothing_lines(human)
    assert line.startswith("ERROR: FG-BMK: nothing measured: all 2 selected cases skipped (2 x ")
    assert "cannot answer questions (human-oriented cases need the answer capability)" in line


def test_a_run_with_one_case_measured_keeps_its_exit_status(run):
    """picked, two skipped: the granularity case is measured (its baseline written), the
    retrieval cases skip (oracle cannot encode): the run is green as before."""
    result = run(
        "--fgbmk-model=oracle",
        "--fgbmk-no-cache",
        "--fgbmk-update-baselines",
        "-k",
        "test_retrieval or (test_granularity and synth_birds-species-tf)",
    )
    result.assert_outcomes(passed=1, skipped=2)
    assert result.ret == pytest.ExitCode.OK
    assert _nothing_lines(result) == []


@pytest.mark.parametrize(
    "args", [("--collect-only",), ("--fgbmk-model=oracle", "--fgbmk-plan=5")], ids=str
)
def test_collection_only_sessions_measure_nothing_by_design_and_pass(run, args):
    result = run(*MACHINE, *args)
    assert result.ret == pytest.ExitCode.OK
    assert _nothing_lines(result) == []


def test_a_session_of_other_tests_is_unaffected(pytester):
    """The plugin installed, no FG-BMK case collected: a session of skipped tests of the
    user's own still exits 0."""
    pytester.makepyfile(
        test_mine="import pytest\n\n@pytest.mark.skip(reason='mine')\ndef test_a():\n    pass\n"
    )
    result = pytester.runpytest(*PLUGIN_ARGS, "-p", "no:cacheprovider", "test_mine.py")
    result.assert_outcomes(skipped=1)
    assert result.ret == pytest.ExitCode.OK
    assert _nothing_lines(result) == []


# -- empty option values -------------------------------------------------------------------


def _value_options() -> list[str]:
    from pytest_fgbmk.pytest_plugin.options import OPTIONS

    return [flag for flag, _, _, kwargs in OPTIONS if kwargs.get("action") != "store_true"]


def test_every_value_option_says_what_it_wants():
    from pytest_fgbmk.pytest_plugin.options import OPTIONS, WANTED

    takes = {dest for _, dest, _, kwargs in OPTIONS if kwargs.get("action") != "store_true"}
    assert set(WANTED) == takes


@pytest.mark.parametrize("blank", ["", "  "], ids=["empty", "blank"])
@pytest.mark.parametrize("flag", _value_options())
def test_an_empty_value_of_any_option_is_a_usage_error_naming_it(run, flag, blank):
    """``--fgbmk-data=`` ran on the bundled data, ``--fgbmk-baseline-alias ""`` wrote into
    baselines/oracle/, ``--fgbmk-model=`` skipped everything green: each is refused."""
    from pytest_fgbmk.pytest_plugin.options import OPTIONS, WANTED

    dest = next(d for f, d, *_ in OPTIONS if f == flag)
    model = () if flag == "--fgbmk-model" else ("--fgbmk-model=oracle",)
    result = run(*HUMAN, *model, f"{flag}={blank}", "--fgbmk-update-baselines")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [x for x in result.stderr.str().splitlines() if x.startswith("ERROR:")]
    assert errors == [f"ERROR: {flag} is empty; give {WANTED[dest]}, or leave the option out"]
    assert "passed" not in result.stdout.str()


def test_a_repeated_option_with_one_empty_value_is_refused(run):
    result = run(*HUMAN, *ENCODE_ONLY, "--fgbmk-model-arg=")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "ERROR: --fgbmk-model-arg is empty; give key=value, or leave the option out" in (
        result.stderr.str()
    )


def test_an_empty_ini_key_is_refused_naming_the_file(run, pytester):
    ini = pytester.makeini("[pytest]\nfgbmk_model =\n")
    result = run(*HUMAN)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert (
        f"ERROR: {ini}: fgbmk_model is empty; give a model spec (e.g. oracle or "
        "probe:efficientnet-lite0), or leave the option out"
    ) in result.stderr.str()


def test_a_script_refuses_an_empty_model_spec():
    from pytest_fgbmk.errors import ConfigError
    from pytest_fgbmk.run.options import RunOptions

    with pytest.raises(ConfigError, match=r"^--fgbmk-model is empty; give a model spec"):
        RunOptions(model=" ").validate()
    with pytest.raises(ConfigError, match=r"^--fgbmk-dtype is empty"):
        RunOptions(model="oracle", dtype="").validate()
    with pytest.raises(ConfigError, match=r"^--fgbmk-model-arg is empty"):
        RunOptions(model="oracle", model_args=("a=1", "")).validate()
    RunOptions(model="oracle").validate()
