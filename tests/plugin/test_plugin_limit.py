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


def _by_kind(pytester, xml: str) -> dict[str, list[tuple[str, float, int, str | None]]]:
    out: dict[str, list] = {"tf": [], "mc": [], "kb": []}
    for props in junit(pytester.path / xml).values():
        if "value" not in props:
            continue
        row = (props["case"], float(props["value"]), int(props["n"]), props.get("facet"))
        if props["task"] == "knowledge_bias":
            out["kb"].append((*row[:3], props["per_image_accuracy"]))
        elif props["qtype"] in ("tf", "mc"):
            out[props["qtype"]].append(row)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("answer", ["No.", "Yes."])
def test_the_built_in_constant_model_scores_exactly_half_at_limit_20_on_the_default_data(
    run, pytester, answer
):
    """Issue 13: at --fgbmk-limit 20 on the bundled (default) data an always-"No." model
    scored 100.0% on every true/false case and on knowledge bias; now exactly 50.0, and 0
    per image (an image counts only when both its questions are right)."""
    run(
        "-m", "fgbmk_human", "--fgbmk-synth=default", "--fgbmk-no-cache",
        "--fgbmk-model=constant", "--fgbmk-model-arg", f"answer={answer}",
        "--fgbmk-limit=20", "--junitxml=c.xml",
    )  # fmt: skip
    kinds = _by_kind(pytester, "c.xml")
    assert len(kinds["tf"]) == 26 and len(kinds["kb"]) == 2
    assert {(v, n) for _, v, n, _ in kinds["tf"]} == {(50.0, 20)}
    assert {(v, n, per_image) for _, v, n, per_image in kinds["kb"]} == {(50.0, 20, "0.00")}


@pytest.mark.slow
@pytest.mark.parametrize("answer", ["@first", "@last", "A"])
@pytest.mark.parametrize("limit", [20, 13])
def test_every_fixed_option_scores_one_in_k_on_every_multiple_choice_case(
    run, pytester, answer, limit
):
    """Always the first option, always the last, always "A" (the extended templates letter
    the options): 1/k of the questions right, within one question when ``limit`` is not a
    multiple of k (k is 4, 3 for bill length and the flowers' size, 2 for the order level)."""
    run(
        "-m", "fgbmk_human", "--fgbmk-synth=default", "--fgbmk-no-cache",
        "--fgbmk-templates=extended", "--fgbmk-model=constant",
        "--fgbmk-model-arg", f"answer={answer}", f"--fgbmk-limit={limit}", "--junitxml=c.xml",
    )  # fmt: skip
    mc = _by_kind(pytester, "c.xml")["mc"]
    assert len(mc) == 26
    k = {"bill_length": 3, "order": 2}
    for case, value, n, facet in mc:
        right = round(value * n / 100)
        options = 3 if case == "synth_flowers-size-mc" else k.get(facet.replace(" ", "_"), 4)
        assert n == limit and abs(right - n / options) < 1, (case, right, n, options)
