"""Stated power in a real run: the JUnit ``mdd`` of every gated case, the summary's lines,
and the ``--fgbmk-plan`` planner (collection only: nothing answered)."""

from __future__ import annotations

import math

from pytest_fgbmk.power import mcnemar_mdd
from pytest_fgbmk.report.power_summary import power_lines
from tests.harness import junit

HUMAN = ("-m", "fgbmk_human", "--fgbmk-no-cache")
FLIP = ("--fgbmk-model=tests.fake_models:flip", "--fgbmk-model-arg", "flip=0.2")
#: 60 % of the answers wrong: some 12-question cases keep fewer than 7 right answers.
FLIP_MOST = ("--fgbmk-model=tests.fake_models:flip", "--fgbmk-model-arg", "flip=0.6")
#: 48 human-oriented cases on the small synthetic data: 46 of 12 questions, 2 knowledge-bias
#: cases of 24. No case of the run moved (or none has a baseline): the others charge the
#: discrete Holm budget nothing, so a case that drops is compared with p <= 0.01 (1 - 1e-6)
#: (halved for knowledge bias): 7 and 8 one-way flips.
KB = ("test_knowledge_bias[synth_birds]", "test_knowledge_bias[synth_flowers]")


def _power_section(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("fgbmk power:"))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("="))
    return lines[start:end]


def _expected_mdd(name: str, p: dict[str, str]) -> str:
    """7 of 12 (8 of 24 for knowledge bias) one-way flips, when the case has that many
    right answers to lose; else inf."""
    n = int(p["n"])
    need = 8 if name in KB else 7
    right = round(float(p["value"]) * n / 100)
    return f"{100 * need / n:.1f}" if right >= need else "inf"


def test_every_gated_case_states_its_mdd_and_the_summary_names_those_that_cannot_fail(
    run, pytester
):
    # no baseline yet: every case fails for want of one, and still states its mdd (the
    # measured accuracy as baseline, no background flips)
    first = run(*HUMAN, *FLIP_MOST, "--junitxml=first.xml")
    first.assert_outcomes(failed=48)
    cases = junit(pytester.path / "first.xml")
    assert len(cases) == 48 and all("mdd" in p for p in cases.values())
    for name, p in cases.items():
        assert p["mdd"] == _expected_mdd(name, p), name
        assert "0.0% symmetric background" in p["mdd_assumption"]
        assert (
            "the run-level threshold this case would at least get if it dropped"
            in (p["mdd_assumption"])
        )
        assert ("threshold/2" in p["mdd_assumption"]) == (name in KB)
    never = sorted(p["case"] for p in cases.values() if p["mdd"] == "inf")
    assert 8 < len(never) < 48  # fewer than 7 (8) right answers to lose

    run(*HUMAN, *FLIP_MOST, "--fgbmk-update-baselines").assert_outcomes(passed=48)
    again = run(*HUMAN, *FLIP_MOST, "--junitxml=again.xml")
    again.assert_outcomes(passed=48)
    gated = junit(pytester.path / "again.xml")
    assert {n: p["mdd"] for n, p in gated.items()} == {n: p["mdd"] for n, p in cases.items()}
    section = _power_section(again.stdout.str())
    assert section[0] == (
        f"fgbmk power: {len(never)} of 48 cases cannot be relied on to detect any drop at "
        "their n (mdd inf):"
    )
    named = " ".join(line.strip() for line in section[1:-1])
    assert named == ", ".join(never[:8]) + f" and {len(never) - 8} more"
    finite = [(float(p["mdd"]), p["case"], p["n"]) for p in gated.values() if p["mdd"] != "inf"]
    worst, case, n = max(finite, key=lambda r: (r[0], r[1]))
    assert worst == 58.3  # 7 of 12
    assert section[-1] == f"fgbmk power: worst minimum detectable drop 58.3 pts: {case} (n={n})"
    assert all(len(line) <= 100 for line in section)


def test_the_summary_reads_the_same_under_xdist(run, pytester):
    run(*HUMAN, *FLIP, "--fgbmk-update-baselines").assert_outcomes(passed=48)
    serial = run(*HUMAN, *FLIP)
    spread = run(*HUMAN, *FLIP, "-n", "2", subprocess=True)
    spread.assert_outcomes(passed=48)
    assert _power_section(spread.stdout.str()) == _power_section(serial.stdout.str())


def test_power_lines_from_properties():
    cases = [
        {"case": "a", "n": "12", "mdd": "inf"},
        {"case": "b", "n": "500", "mdd": "5.8"},
        {"case": "c", "n": "40", "mdd": "32.5"},
        {"case": "d", "n": "7"},  # not gated (no mdd): left out
    ]
    assert power_lines(cases) == [
        "fgbmk power: 1 of 3 cases cannot be relied on to detect any drop at their n (mdd inf):",
        "  a",
        "fgbmk power: worst minimum detectable drop 32.5 pts: c (n=40)",
    ]
    assert power_lines([{"case": "b", "n": "9", "mdd": "3.0"}]) == [
        "fgbmk power: worst minimum detectable drop 3.0 pts: b (n=9)"
    ]
    assert power_lines([{"case": "d"}]) == []


def test_the_planner_prints_the_advised_limit_and_answers_nothing(run, pytester):
    counting = ("--fgbmk-model=tests.fake_models:counting", "--fgbmk-model-arg=log=asked.log")
    result = run(*HUMAN, *counting, "--fgbmk-plan=60", "-k", "knowledge_bias or wing_color")
    assert result.ret == 0
    out = result.stdout.str()
    assert not (pytester.path / "asked.log").exists()  # the model answered nothing
    assert "4/59 tests collected (55 deselected)" in out  # collection only: nothing ran
    assert not {"passed", "failed", "errors"} & set(result.parseoutcomes())
    # 4 cases: p <= 0.01/4 needs 9 one-way flips, knowledge bias (at half) 10. No baseline:
    # 50 % accuracy assumed, so 12 questions have 6 right answers to lose (never enough)
    # and 24 have 12: 10 of 24 is 41.7 points, and 60 points needs n = 20 (10 right)
    t = 0.01 / 4
    assert math.ceil(math.log2(1 / t)) == 9 and math.ceil(math.log2(2 / t)) == 10
    assert mcnemar_mdd(12, threshold=t, accuracy=50.0) == math.inf
    row = next(line for line in out.splitlines() if line.startswith("synth_birds-knowledge_bias"))
    assert row.split() == [
        "synth_birds-knowledge_bias-tf",
        "grouped",
        "none→50%",
        "24",
        "24",
        "41.7",
        "20",
    ]
    assert "fgbmk plan: advised --fgbmk-limit=20 " in out
    assert (
        "2 case(s) cannot detect 60 points even at their full size: "
        "synth_birds-wing_color-tf, synth_birds-wing_color-mc" in out
    )

    # with --fgbmk-limit the n now column follows it
    limited = run(*HUMAN, *counting, "--fgbmk-plan=60", "-k", "knowledge_bias", "--fgbmk-limit=20")
    assert limited.ret == 0
    row = next(
        line for line in limited.stdout.str().splitlines() if line.startswith("synth_flowers-kn")
    )
    # 2 cases: p <= 0.01/2/2 needs 9 one-way flips; 50 % of 20 gives 10 right answers
    assert row.split() == [
        "synth_flowers-knowledge_bias-tf",
        "grouped",
        "none→50%",
        "24",
        "20",
        "45.0",
        "18",
    ]
    assert "fgbmk plan: advised --fgbmk-limit=18 " in limited.stdout.str()


def test_the_planner_uses_the_baselines_and_checks_its_options(run, pytester):
    run(*HUMAN, *FLIP, "--fgbmk-update-baselines", "-k", "knowledge_bias").assert_outcomes(passed=2)
    result = run(*HUMAN, *FLIP, "--fgbmk-plan=60", "-k", "knowledge_bias")
    assert result.ret == 0
    out = result.stdout.str()
    row = next(line for line in out.splitlines() if line.startswith("synth_birds-knowledge_bias"))
    cells = row.split()
    assert cells[2].endswith("%") and float(cells[2][:-1]) >= 58.3  # the baseline's accuracy
    # 2 cases: 0.01/2/2 needs 9 one-way flips; 9/15 = 60 %
    assert cells[3:] == ["24", "24", "37.5", "15"]
    # a knowledge-bias subset keeps image pairs: limit 15 asks 14, so 16 is advised
    assert "fgbmk plan: advised --fgbmk-limit=16 " in out
    bad = run(*HUMAN, *FLIP, "--fgbmk-plan=lots")
    assert bad.ret == 4
    bad.stderr.fnmatch_lines(["ERROR: --fgbmk-plan='lots' is not a number*"])
    nomodel = run(*HUMAN, "--fgbmk-plan=5")
    assert nomodel.ret == 4
    nomodel.stderr.fnmatch_lines(["ERROR: --fgbmk-plan=5 needs --fgbmk-model=SPEC*"])


def test_a_run_no_case_of_which_can_detect_a_drop_fails_with_the_planner_command(run, pytester):
    """Baselines at --fgbmk-limit 4, then a chance-level model: every case is mdd inf, so
    the all-green verdict would say nothing; the run fails once, naming the way on."""
    args = ("-m", "fgbmk_human", "--fgbmk-no-cache", "--fgbmk-limit=4")
    run(*args, "--fgbmk-model=oracle", "--fgbmk-update-baselines").assert_outcomes(passed=48)
    blind = run(*args, "--fgbmk-model=chance", "--fgbmk-baseline-alias=oracle")
    assert blind.ret == 1
    out = blind.stdout.str()
    assert "fgbmk: FAILED: no case of this run can be relied on to detect a drop" in out
    plan = next(line for line in blind.stdout.lines if "--fgbmk-plan=5" in line).strip()
    assert "--fgbmk-limit" not in plan and "--fgbmk-model=chance" in plan
    # a run that can detect something is not blind: the full small data (knowledge bias)
    seeing = run("-m", "fgbmk_human", "--fgbmk-no-cache", "--fgbmk-model=oracle")
    assert "no case of this run can be relied on" not in seeing.stdout.str()
