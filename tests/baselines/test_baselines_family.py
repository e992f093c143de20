"""The run-level family holds every gated case: human-oriented and machine-oriented cases
decided together, through pytester with a model that both answers and encodes."""

from __future__ import annotations

import numpy  # noqa: F401 - imported before pytester's inline runs, which cannot reload it
import torch  # noqa: F401

import pytest_fgbmk.data.synth  # noqa: F401 - keep loaded modules across inline runs
import pytest_fgbmk.machine.features  # noqa: F401
import pytest_fgbmk.machine.meta  # noqa: F401
import pytest_fgbmk.machine.robustness  # noqa: F401
import pytest_fgbmk.plugin  # noqa: F401
from pytest_fgbmk.report.terminal import TASK_ORDER
from tests.harness import junit

MODEL = (
    "--fgbmk-model=tests.fake_models:species_encoder",
    "--fgbmk-model-arg",
    "flip=0.2",
    "--fgbmk-no-cache",
)
HUMAN = 48  # the small synthetic pair's human-oriented cases
#: retrieval, linear probe, meta-categories: 2 each; robustness: birds, birds-genus, flowers
MACHINE = 9
SKIPPED = 2  # the alignment effect: this model has no 'aligned' view
MACHINE_TESTS = (
    "test_retrieval",
    "test_linear_probe",
    "test_meta_categories",
    "test_feature_robustness",
)


def is_machine(name: str) -> bool:
    return name.split("[")[0] in MACHINE_TESTS


def test_the_family_counts_human_and_machine_cases_and_decides_them_together(run, pytester):
    run(*MODEL, "--fgbmk-update-baselines").assert_outcomes(passed=HUMAN + MACHINE, skipped=SKIPPED)
    alias = pytester.path / "baselines" / "tests.fake_models-species_encoder"
    assert len(list(alias.rglob("*.json"))) == HUMAN + MACHINE

    again = run(*MODEL, "--junitxml=again.xml")
    again.assert_outcomes(passed=HUMAN + MACHINE, skipped=SKIPPED)
    cases = junit(pytester.path / "again.xml")
    gated = {n: c for n, c in cases.items() if c["_status"] != "skipped"}
    assert sum(map(is_machine, gated)) == MACHINE and len(gated) == HUMAN + MACHINE
    for name, c in gated.items():
        # every gated case, of either kind, was decided in one family of 57 (not 48 alone)
        assert (c["family_size"], c["family_decided"]) == ("57", "57"), name
        assert (c["delta"], c["p"]) == ("+0.00", "1"), name
    assert cases["test_retrieval[synth_birds]"]["value"] == "100.00"
    # the summary: per dataset, human tasks first, then the machine tasks in TASK_ORDER
    lines = again.stdout.lines
    start = next(i for i, line in enumerate(lines) if "FG-BMK summary" in line)
    tasks = [line.split()[1] for line in lines[start:] if line.startswith("synth_birds ")]
    assert tasks == sorted(tasks, key=TASK_ORDER.__getitem__)
    shown = list(dict.fromkeys(tasks))
    assert shown == [
        "attribute",
        "granularity",
        "knowledge_bias",
        "retrieval",
        "linear_probe",
        "meta_categories",
        "feature_robustness",
    ]

    # a selection sizes the family to what it gates: 2 human + 2 machine cases
    some = run(*MODEL, "-k", "wing_color or test_retrieval", "--junitxml=some.xml")
    some.assert_outcomes(passed=4)
    assert {c["family_size"] for c in junit(pytester.path / "some.xml").values()} == {"4"}

    # noisy features: the machine cases fail at the run level; the human cases still pass
    worse = run(*MODEL, "--fgbmk-model-arg", "noise=0.8", "--junitxml=worse.xml")
    cases = junit(pytester.path / "worse.xml")
    failed = {n for n, c in cases.items() if c["_status"] == "failure"}
    assert failed and all(map(is_machine, failed))
    assert {"test_retrieval[synth_birds]", "test_retrieval[synth_flowers]"} <= failed
    retrieval = cases["test_retrieval[synth_birds]"]
    assert float(retrieval["p"]) <= float(retrieval["p_threshold"])
    assert retrieval["family_decided"] == "57"
    assert "mAP dropped significantly (run-level threshold" in retrieval["_message"]
    worse.assert_outcomes(passed=HUMAN + MACHINE - len(failed), failed=len(failed), skipped=2)


def test_an_answer_only_model_gates_only_its_human_cases(run, pytester):
    """Machine cases skip for a model that cannot encode: they stay out of the family."""
    result = run(
        *MODEL,
        "--fgbmk-model=tests.fake_models:flip",
        "-k",
        "wing_color or test_retrieval",
        "--fgbmk-update-baselines",
    )
    result.assert_outcomes(passed=2, skipped=2)
    again = run(
        *MODEL,
        "--fgbmk-model=tests.fake_models:flip",
        "-k",
        "wing_color or test_retrieval",
        "--junitxml=flip.xml",
    )
    again.assert_outcomes(passed=2, skipped=2)
    gated = [c for c in junit(pytester.path / "flip.xml").values() if c["_status"] == "passed"]
    assert [c["family_size"] for c in gated] == ["2", "2"]
