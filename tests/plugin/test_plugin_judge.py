"""``--fgbmk-judge`` through pytester: a model whose answers the rules cannot all read
(``tests.fake_models:murky``), judged by ``tests.fake_models:judge``: only undecided answers
are asked about, once (then from the cache), recorded as ``how="judge"``, reported in JUnit
and the summary, and a baseline written without the judge is not compared with a judged run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy  # noqa: F401 - imported before pytester's inline runs, which cannot reload it

import pytest_fgbmk.data.discovery  # noqa: F401 - keep loaded modules across inline runs
import pytest_fgbmk.data.synth  # noqa: F401
import pytest_fgbmk.judge  # noqa: F401
import pytest_fgbmk.plugin  # noqa: F401
import pytest_fgbmk.questions.cases  # noqa: F401
from tests.fake_models import MURKY
from tests.harness import junit

MODEL = (
    "-m",
    "fgbmk_human",
    "--fgbmk-model=tests.fake_models:murky",
    "-k",
    "wing_color or species",
)
JUDGE = "--fgbmk-judge=tests.fake_models:judge"
CASES = 8  # synth_birds wing color tf/mc; species tf/mc/sa of synth_birds and synth_flowers


def samples(folder: Path) -> list[dict]:
    lines = (folder / "samples.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_a_judged_run(run, pytester):
    log = pytester.path / "judge.log"
    judge = (JUDGE, f"--fgbmk-judge-arg=log={log}")
    plain = run(*MODEL, "--fgbmk-update-baselines", "--fgbmk-report=plain")
    plain.assert_outcomes(passed=CASES)
    summary = plain.stdout.str().split(" FG-BMK summary =")[1]
    assert "judged" not in summary and "fgbmk judge" not in summary
    before = samples(pytester.path / "plain")
    unparsed = [s for s in before if s["how"] == "unparsed"]
    assert unparsed and {s["response"] for s in unparsed} == set(MURKY.values())
    assert {s["qtype"] for s in unparsed} == {"tf", "mc"}  # short answers are never unparsed
    # a murky short answer reads as another name: the judge is asked about those too
    named = [s for s in before if s["qtype"] == "sa" and s["how"] == "text" and not s["correct"]]
    assert named and {s["response"] for s in named} == set(MURKY.values())
    unread = unparsed + named

    # judged: the baseline written without the judge is not compared
    result = run(*MODEL, *judge, "--junitxml=j.xml", "--fgbmk-report=judged")
    result.assert_outcomes(failed=CASES)
    text = result.stdout.str()
    assert "fingerprint differs" in text and "scoring: none → judge=fake-judge@" in text
    asked = log.read_text().split()
    assert sorted(asked) == sorted(s["id"] for s in unread)  # each undecided answer, once
    records = samples(pytester.path / "judged")
    by_id = {s["id"]: s for s in records}
    for s in unread:
        r = by_id[s["id"]]
        if s["response"] == MURKY["unclear"]:
            assert (r["how"], r["correct"]) == (s["how"], False)  # as the rules read it
        else:
            assert (r["how"], r["correct"]) == ("judge", s["response"] == MURKY["right"])
    parsed_before = {s["id"]: (s["how"], s["correct"]) for s in samples(pytester.path / "plain")}
    for r in records:  # what the rules read is untouched
        if r["id"] not in {s["id"] for s in unread}:
            assert (r["how"], r["correct"]) == parsed_before[r["id"]]

    cases = junit(pytester.path / "j.xml")
    for name, props in cases.items():
        mine = [r for r in records if r["case_id"] == props["case"]]
        judged = sum(r["how"] == "judge" for r in mine)
        assert props["judged"] == str(judged), name
        assert float(props["judged_rate"]) == round(100 * judged / len(mine), 2)
    tf = cases["test_attribute[synth_birds-wing_color-tf]"]
    assert int(tf["judged"]) > 0 and float(tf["unparsed_rate"]) > 0
    sa = cases["test_granularity[synth_birds-species-sa]"]
    assert int(sa["judged"]) > 0 and float(sa["unparsed_rate"]) == 0
    decided = sum(r["how"] == "judge" for r in records)
    left = sum(r["how"] == "unparsed" for r in records)
    assert (
        f"fgbmk judge: decided {decided} answers the rules could not "
        f"({left} stay unparsed; {len(records)} answers in {CASES} cases)"
    ) in text
    assert "judged" in text.split(" FG-BMK summary =")[1].splitlines()[1]  # the table's column

    # rebaselined with the judge, the next judged run passes and asks the judge nothing
    run(*MODEL, *judge, "--fgbmk-update-baselines").assert_outcomes(passed=CASES)
    again = run(*MODEL, *judge, "--junitxml=again.xml")
    again.assert_outcomes(passed=CASES)
    assert log.read_text().split() == asked
    assert junit(pytester.path / "again.xml").keys() == cases.keys()


def test_official_scoring_with_a_judge_is_a_usage_error(run):
    result = run(*MODEL, JUDGE, "--fgbmk-scoring=official")
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        ["*--fgbmk-judge cannot be combined with --fgbmk-scoring=official*"]
    )


def test_an_unknown_judge_is_a_usage_error(run):
    result = run(*MODEL, "--fgbmk-judge=nosuch-judge")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--fgbmk-judge=nosuch-judge: unknown model spec*"])


def test_under_xdist_each_unparsed_answer_is_judged_once(run, pytester):
    log = pytester.path / "judge.log"
    result = run(
        *MODEL,
        JUDGE,
        f"--fgbmk-judge-arg=log={log}",
        "-n",
        "2",
        "--fgbmk-report=rep",
        "--junitxml=x.xml",
        subprocess=True,
    )
    result.assert_outcomes(failed=CASES)  # no baselines yet
    asked = log.read_text().split()
    records = samples(pytester.path / "rep")
    # unparsed answers, and short answers naming another name (a murky one reads as a name)
    unread = [r["id"] for r in records if r["response"] in MURKY.values()]
    assert len(asked) == len(set(asked)) and sorted(asked) == sorted(unread)
    cases = junit(pytester.path / "x.xml")
    assert (
        sum(int(c["judged"]) for c in cases.values())
        == sum(r["how"] == "judge" for r in records)
        == sum(r["response"] != MURKY["unclear"] for r in records if r["id"] in unread)
    )
