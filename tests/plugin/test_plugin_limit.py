"""``--fgbmk-limit`` at CI sizes: constant answerers score chance on every case.

Issue 13: at ``--fgbmk-limit 20`` on the bundled data an always-"No." model scored 100.0%
on every true/false case and on knowledge bias.
"""

from __future__ import annotations

import pytest

import pytest_fgbmk.plugin  # noqa: F401
from tests.harness import junit

HUMAN = ("-m", "fgbmk_human", "--fgbmk-no-cache")
CONSTANT = "--fgbmk-model=tests.fake_models:constant"


def _values(pytester, xml: str) -> dict[str, tuple[float, int, bool]]:
    out = {}
    for props in junit(pytester.path / xml).values():
        if "value" in props:
            out[props["case"]] = (float(props["value"]), int(props["n"]), props.get("lettered"))
    return out


@pytest.mark.parametrize("limit", ["8", "7"])  # the small data has 12 per case
def test_always_no_scores_exactly_half_on_every_true_false_case(run, pytester, limit):
    run(*HUMAN, CONSTANT, "--fgbmk-limit", limit, "--junitxml=no.xml")
    values = _values(pytester, "no.xml")
    tf = {case: v for case, v in values.items() if case.endswith("-tf")}
    assert len(tf) == 24
    for case, (value, n, _) in tf.items():
        # half the questions are "no"; an odd limit leaves one question over
        assert abs(value * n / 100 - n / 2) <= 0.5, (case, value, n)
        if n % 2 == 0:
            assert value == 50.0, case


def test_always_the_first_option_scores_one_in_k_on_every_multiple_choice_case(run, pytester):
    run(
        *HUMAN,
        CONSTANT,
        "--fgbmk-model-arg",
        "answer=@first",
        "--fgbmk-limit",
        "8",
        "--junitxml=first.xml",
    )
    values = _values(pytester, "first.xml")
    mc = {case: v for case, v in values.items() if case.endswith("-mc")}
    assert len(mc) == 22
    for case, (value, n, _) in mc.items():
        assert n == 8
        # 4 options: 2 of 8 first; 3 options (bill length, size): 3, 3, 2; 2 (genus): 4
        expected = {"bill_length": (37.5, 25.0), "size": (37.5, 25.0), "genus": (50.0,)}
        facet = case.split("-")[1]
        assert value in expected.get(facet, (25.0,)), (case, value)
