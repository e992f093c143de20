"""The run from a script equals the plugin's run, and -n N workers take the serial verdicts."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from pytest_fgbmk.run import RunOptions, run_benchmark
from tests.harness import junit

MODEL = "tests.fake_models:flip"
BASE = ("flip=0.2",)
WORSE = ("flip=0.2", "facet=wing color", "facet_flip=1")
GATE_PROPS = ("baseline", "delta", "p", "p_threshold", "family_size", "family_decided")
#: What each case measured (compared between a single process and -n N workers).
FIGURES = ("value", "n", "interval_low", "interval_high", "unparsed_rate")


@pytest.fixture
def project(pytester, run, synth_dir, monkeypatch):
    """A pytester folder whose baselines/flip were written by the script (flip=0.2)."""
    monkeypatch.setenv("FGBMK_SYNTH_DIR", str(synth_dir))
    written = run_benchmark(
        _options(BASE),
        baselines=pytester.path / "baselines",
        alias="flip",
        update=True,
        tasks=("attribute", "knowledge_bias", "granularity"),
    )
    assert len(written.written) == 48 and all(written.written.values())
    return pytester, run


def _options(args: tuple[str, ...]) -> RunOptions:
    return RunOptions(model=MODEL, model_args=args, synth="small", cache=None)


def _plugin(run, args: tuple[str, ...], *extra: str, subprocess: bool = False):
    model_args = [a for arg in args for a in ("--fgbmk-model-arg", arg)]
    return run(
        "-m",
        "fgbmk_human",
        f"--fgbmk-model={MODEL}",
        "--fgbmk-baseline-alias=flip",
        "--fgbmk-no-cache",
        *model_args,
        *extra,
        subprocess=subprocess,
    )


@pytest.mark.slow
def test_a_script_measures_and_decides_like_the_plugin(project):
    pytester, run = project
    script = run_benchmark(
        _options(WORSE),
        baselines=pytester.path / "baselines",
        alias="flip",
        tasks=("attribute", "knowledge_bias", "granularity"),
    )
    result = _plugin(run, WORSE, "--junitxml=p.xml")
    cases = junit(pytester.path / "p.xml")
    by_case = {props["case"]: props for props in cases.values() if "case" in props}
    assert len(by_case) == len(script.results) == 48
    failed = set(script.failed)
    assert failed == {"synth_birds-wing_color-tf", "synth_birds-wing_color-mc"}
    result.assert_outcomes(passed=46, failed=2)
    for r in script.results:
        m, v, props = r.measurement, script.verdicts[r.case_id], by_case[r.case_id]
        assert (props["value"], props["n"]) == (f"{m.value:.2f}", str(m.n))
        shown = dict(v.properties)
        assert {k: props[k] for k in GATE_PROPS} == {k: shown[k] for k in GATE_PROPS}
        assert (props["_status"] == "passed") == v.ok


def _gate_view(path: Path) -> dict[str, tuple[str, ...]]:
    return {
        name: (props["_status"], *(props.get(k, "") for k in (*FIGURES, *GATE_PROPS)))
        for name, props in junit(path).items()
    }


@pytest.mark.slow
def test_xdist_workers_take_the_serial_verdicts(project):
    pytester, run = project
    runs_before = set(Path(tempfile.gettempdir()).glob("fgbmk-run-*"))
    _plugin(run, WORSE, "--junitxml=serial.xml")
    serial = _gate_view(pytester.path / "serial.xml")
    assert sum(s[0] == "failure" for s in serial.values()) == 2
    assert len({s[1] for s in serial.values()}) > 3  # varied numbers, not all equal
    for n in ("2", "3"):
        # xdist workers are real processes: the controller too (an inline one loses the
        # test model's import path once the plugin is pip-installed, as in CI)
        result = _plugin(run, WORSE, f"--junitxml=n{n}.xml", "-n", n, subprocess=True)
        assert _gate_view(pytester.path / f"n{n}.xml") == serial
        text = result.stdout.str()
        assert "FG-BMK summary" in text
        assert "worker 0: engine" in text and "worker 1: engine" in text  # each answered a share
    # the exchange folder of each run (no cache: under the temp folder) is removed at the end
    assert set(Path(tempfile.gettempdir()).glob("fgbmk-run-*")) <= runs_before


#: A model that answers (like ``flip``) and encodes (one-hot species features plus noise):
#: the machine cases regress with noise, the wing-colour cases with ``facet_flip``.
ENCODER = "--fgbmk-model=tests.fake_models:species_encoder"
ENCODER_WORSE = (
    "--fgbmk-model-arg", "flip=0.2", "--fgbmk-model-arg", "facet=wing color",
    "--fgbmk-model-arg", "facet_flip=1", "--fgbmk-model-arg", "noise=0.9",
)  # fmt: skip


def _every_property(path: Path) -> dict[str, tuple]:
    """Each test's status, failure message and every property in its order."""
    import xml.etree.ElementTree as ET

    out = {}
    for tc in ET.parse(path).getroot().iter("testcase"):
        failure = tc.find("failure")
        props = tuple((p.get("name"), p.get("value")) for p in tc.iter("property"))
        status = "failure" if failure is not None else "skipped" * (tc.find("skipped") is not None)
        message = failure.get("message") if failure is not None else ""
        out[f"{tc.get('classname')}::{tc.get('name')}"] = (status or "passed", message, props)
    return out


@pytest.mark.slow
def test_human_and_machine_regressions_get_byte_identical_properties_under_xdist(run, pytester):
    """Issue 13 point 2 with machine cases too (retrieval, probe, meta-categories,
    robustness): serially and with -n 2 and -n 3, every test's status, failure message and
    JUnit properties (value, interval, baseline, delta, p, p_threshold, mdd …) are the same
    bytes."""
    common = (ENCODER, "--fgbmk-no-cache", "--fgbmk-baseline-alias=se")
    run(*common, "--fgbmk-model-arg", "flip=0.2", "--fgbmk-update-baselines", subprocess=True)
    run(*common, *ENCODER_WORSE, "--junitxml=serial.xml", subprocess=True)
    serial = _every_property(pytester.path / "serial.xml")
    failed = sorted(k.split("::")[1] for k, v in serial.items() if v[0] == "failure")
    assert len(failed) == 11 and any("retrieval" in f for f in failed)
    assert {f.split("[")[0] for f in failed} == {
        "test_attribute", "test_feature_robustness", "test_linear_probe",
        "test_meta_categories", "test_retrieval",
    }  # fmt: skip
    for n in ("2", "3"):
        run(*common, *ENCODER_WORSE, f"--junitxml=n{n}.xml", "-n", n, subprocess=True)
        assert _every_property(pytester.path / f"n{n}.xml") == serial, n
