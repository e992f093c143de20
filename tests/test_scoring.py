"""Scoring, table-driven: how real models answer, and the release's failure cases."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from pytest_fgbmk.questions.records import Question
from pytest_fgbmk.scoring import score

OPTIONS = ("black footed albatross", "laysan albatross", "sooty albatross", "baird sparrow")


def _q(qtype, truth, *, options=(), lettered=False, accepted=()):
    return Question(
        "id", "cub", "images/a.jpg", "prompt", qtype, "granularity", "species",
        "laysan albatross", truth, "original-r1:mc:0", options, lettered, "", accepted,
    )  # fmt: skip


# (response, what it says: "yes" | "no" | None for unparsed)
TF_TABLE = [
    ("Yes", "yes"),
    ("yes", "yes"),
    ("YES", "yes"),
    ("Yes.", "yes"),
    ("Yes, it is.", "yes"),
    ("yes it is a laysan albatross", "yes"),
    ("**Yes**", "yes"),
    ("Yes!", "yes"),
    ("Yes, the bird in the image is a Laysan Albatross.", "yes"),
    (" yes ", "yes"),
    ("Yeah.", "yes"),
    ("Yep", "yes"),
    ("True", "yes"),
    ("true.", "yes"),
    ("Y", "yes"),
    ("Answer: Yes", "yes"),
    ("The answer is yes.", "yes"),
    ("yes, definitely", "yes"),
    ("Yes - this is a sooty albatross", "yes"),
    ("<think>It could be no.</think>Yes", "yes"),
    ("<think>\nlooks like one\n</think>\n\nYes.", "yes"),
    ("ＹＥＳ", "yes"),
    ("Yes\n", "yes"),
    ("yes — it is not a gull", "yes"),
    ("Yes; not a gull.", "yes"),
    ("Yes, I know this bird.", "yes"),
    ("No", "no"),
    ("no", "no"),
    ("No.", "no"),
    ("NO", "no"),
    ("No, it is not.", "no"),
    ("No, this is a black-footed albatross.", "no"),
    ("**No**", "no"),
    ("Nope", "no"),
    ("False", "no"),
    ("false", "no"),
    ("N", "no"),
    ("Answer: No", "no"),
    ("The answer is no.", "no"),
    ("no, it's a sooty albatross", "no"),
    ("No!", "no"),
    ("<think>maybe yes</think> No", "no"),
    ("No; the bill is too dark.", "no"),
    ("no it is not", "no"),
    ("No - that is not right", "no"),
    ("No, I know this bird: it is a gull.", "no"),
    # the release's substring rule counts these as "no" (or "yes"); a person reads nothing
    ("I do not know.", None),
    ("I don't know", None),
    ("Nothing can be said.", None),
    ("It is not a laysan albatross.", None),
    ("Not sure.", None),
    ("It's a bird.", None),
    ("", None),
    ("   ", None),
    ("Yes and no.", None),
    ("No... actually yes.", None),
    ("Maybe", None),
    ("The image shows an albatross.", None),
    ("Cannot determine", None),
    ("<think>yes</think>", None),
    ("<think>unfinished reasoning, yes", None),
    ("Noted.", None),
    ("Yesterday", None),
    ("Know", None),
    ("Nobody knows", None),
    ("eyes", None),
    ("None of the above", None),
    ("unknown", None),
    ("?", None),
]

# (response, lettered options?, option it names, how)
MC_TABLE = [
    ("laysan albatross", False, "laysan albatross", "text"),
    ("Laysan Albatross", False, "laysan albatross", "text"),
    ("Laysan Albatross.", False, "laysan albatross", "text"),
    ("laysan_albatross", False, "laysan albatross", "text"),
    ("Laysan-Albatross", False, "laysan albatross", "text"),
    ("The bird is a Laysan Albatross.", False, "laysan albatross", "text"),
    ("It is a laysan albatross", False, "laysan albatross", "text"),
    ('"laysan albatross"', False, "laysan albatross", "text"),
    ("**laysan albatross**", False, "laysan albatross", "text"),
    ("Answer: laysan albatross", False, "laysan albatross", "text"),
    (
        "This appears to be a laysan albatross based on its plumage.",
        False,
        "laysan albatross",
        "text",
    ),
    (
        "<think>black footed albatross? no</think>laysan albatross",
        False,
        "laysan albatross",
        "text",
    ),
    ("LAYSAN ALBATROSS", False, "laysan albatross", "text"),
    ("laysan  albatross", False, "laysan albatross", "text"),
    ("Black-footed Albatross", False, "black footed albatross", "text"),
    ("black footed albatross", False, "black footed albatross", "text"),
    ("The bird is a sooty albatross.", False, "sooty albatross", "text"),
    ("Baird Sparrow", False, "baird sparrow", "text"),
    ("baird's sparrow", False, None, "unparsed"),
    ("B) laysan albatross", False, "laysan albatross", "text"),
    ("albatross", False, None, "unparsed"),
    ("I am not sure.", False, None, "unparsed"),
    ("", False, None, "unparsed"),
    ("B", False, None, "unparsed"),
    ("(B)", False, None, "unparsed"),
    ("a gull", False, None, "unparsed"),
    ("laysan albatross or sooty albatross", False, None, "text"),
    (
        "black footed albatross, laysan albatross, sooty albatross, baird sparrow",
        False,
        None,
        "text",
    ),
    ("It is either a black-footed albatross or a laysan albatross.", False, None, "text"),
    ("Not a sooty albatross; it is a laysan albatross.", False, None, "text"),
    # lettered options: the usual letter forms
    ("B", True, "laysan albatross", "letter"),
    ("b", True, None, "unparsed"),
    ("B.", True, "laysan albatross", "letter"),
    ("(B)", True, "laysan albatross", "letter"),
    ("[B]", True, "laysan albatross", "letter"),
    ("B)", True, "laysan albatross", "letter"),
    ("B:", True, "laysan albatross", "letter"),
    ("**B**", True, "laysan albatross", "letter"),
    ("**B.**", True, "laysan albatross", "letter"),
    ("B) laysan albatross", True, "laysan albatross", "letter"),
    ("B. laysan albatross", True, "laysan albatross", "letter"),
    ("(B) laysan albatross", True, "laysan albatross", "letter"),
    ("Answer: B", True, "laysan albatross", "letter"),
    ("Answer: (B)", True, "laysan albatross", "letter"),
    ("The answer is B.", True, "laysan albatross", "letter"),
    ("The answer is B", True, "laysan albatross", "letter"),
    ("The correct answer is (B).", True, "laysan albatross", "letter"),
    ("The answer is **B**", True, "laysan albatross", "letter"),
    ("Option B", True, "laysan albatross", "letter"),
    ("I choose B.", True, "laysan albatross", "letter"),
    ("<think>A or B... B</think>B", True, "laysan albatross", "letter"),
    (" B \n", True, "laysan albatross", "letter"),
    ("A", True, "black footed albatross", "letter"),
    ("C.", True, "sooty albatross", "letter"),
    ("(D)", True, "baird sparrow", "letter"),
    ("The answer is A.", True, "black footed albatross", "letter"),
    ("E", True, None, "unparsed"),
    ("laysan albatross", True, "laysan albatross", "text"),
    ("The bird is a Laysan Albatross.", True, "laysan albatross", "text"),
    ("A laysan albatross", True, "laysan albatross", "text"),
    ("The answer is a laysan albatross.", True, "laysan albatross", "text"),
    ("I think it is a sooty albatross", True, "sooty albatross", "text"),
    ("A black footed albatross or a laysan albatross", True, None, "text"),
    ("I cannot tell.", True, None, "unparsed"),
]

# (response, correct, how) for truth "black footed albatross", synonym "Phoebastria nigripes"
SA_TABLE = [
    ("black footed albatross", True, "text"),
    ("Black-footed Albatross", True, "text"),
    ("Black-Footed Albatross.", True, "text"),
    ("black_footed_albatross", True, "text"),
    ("BLACK FOOTED ALBATROSS", True, "text"),
    ("It is a black-footed albatross.", True, "text"),
    ("The bird is a Black-footed Albatross.", True, "text"),
    ("**Black-footed Albatross**", True, "text"),
    ("Species: black footed albatross", True, "text"),
    ("black‐footed albatross", True, "text"),
    ("black footed  albatross", True, "text"),
    ("Black Footed Albatross (Phoebastria nigripes)", True, "text"),
    ("<think>laysan?</think>Black-footed albatross", True, "text"),
    ("black-footed albatross!", True, "text"),
    ("This is most likely a black footed albatross, a seabird.", True, "text"),
    ("I believe this is a Black-footed Albatross", True, "text"),
    ("A black-footed albatross flying over water.", True, "text"),
    ("black–footed albatross", True, "text"),
    ("Phoebastria nigripes", True, "synonym"),
    ("phoebastria nigripes", True, "synonym"),
    ("It is Phoebastria nigripes.", True, "synonym"),
    ("PHOEBASTRIA NIGRIPES", True, "synonym"),
    ("Phoebastria-nigripes", True, "synonym"),
    ("The species is Phoebastria nigripes.", True, "synonym"),
    ("laysan albatross", False, "text"),
    ("Laysan Albatross", False, "text"),
    ("albatross", False, "text"),
    ("black albatross", False, "text"),
    ("footed albatross", False, "text"),
    ("a seabird", False, "text"),
    ("black footed albatrosses", False, "text"),
    ("blackfooted albatross", False, "text"),
    ("sooty albatross", False, "text"),
    ("Phoebastria immutabilis", False, "text"),
    ("I don't know.", False, "text"),
    ("bird", False, "text"),
    ("gull", False, "text"),
    ("not sure", False, "text"),
    ("Yes", False, "text"),
    ("No", False, "text"),
    ("black", False, "text"),
    ("black footed", False, "text"),
    ("footed", False, "text"),
    ("albatross black footed", False, "text"),
    ("the black-footed duck", False, "text"),
    ("Phoebastria", False, "text"),
    ("nigripes", False, "text"),
    ("short-tailed albatross", False, "text"),
    ("wandering albatross", False, "text"),
    ("black-browed albatross", False, "text"),
    ("<think>black footed albatross</think>laysan", False, "text"),
    ("", False, "unparsed"),
    ("   ", False, "unparsed"),
    ("...", False, "unparsed"),
    ("<think>x</think>", False, "unparsed"),
    ("<think>black footed albatross", False, "unparsed"),
    ("?!", False, "unparsed"),
    ("\n\n", False, "unparsed"),
    ("—", False, "unparsed"),
    ("**", False, "unparsed"),
    ("()", False, "unparsed"),
    ("-", False, "unparsed"),
    ("_", False, "unparsed"),
]


def test_tables_are_large_enough():
    assert len(TF_TABLE) >= 60 and len(MC_TABLE) >= 60 and len(SA_TABLE) >= 60


@pytest.mark.parametrize(("response", "says"), TF_TABLE)
def test_true_false_table(response, says):
    for truth in ("yes", "no"):
        s = score(_q("tf", truth), response)
        assert s.parsed == says
        assert s.how == ("unparsed" if says is None else "yesno")
        assert s.correct == (says == truth)


@pytest.mark.parametrize(("response", "lettered", "names", "how"), MC_TABLE)
def test_multiple_choice_table(response, lettered, names, how):
    for truth in OPTIONS:
        s = score(_q("mc", truth, options=OPTIONS, lettered=lettered), response)
        assert (s.parsed, s.how) == (names, how)
        assert s.correct == (names == truth)


@pytest.mark.parametrize(("response", "correct", "how"), SA_TABLE)
def test_short_answer_table(response, correct, how):
    q = _q("sa", "black footed albatross", accepted=("Phoebastria nigripes",))
    s = score(q, response)
    assert (s.correct, s.how) == (correct, how)


def test_release_failure_cases_strict_vs_official():
    no_q = _q("tf", "no")
    assert score(no_q, "I do not know", "official").correct is True
    assert score(no_q, "I do not know").how == "unparsed"
    every = "black footed albatross, laysan albatross, sooty albatross, baird sparrow"
    mc = _q("mc", "laysan albatross", options=OPTIONS)
    assert score(mc, every, "official").correct is True
    assert score(mc, every).correct is False
    lettered = _q("mc", "laysan albatross", options=OPTIONS, lettered=True)
    assert score(lettered, "B", "official").correct is False
    assert score(lettered, "B").correct is True
    dress = _q("mc", "dress", options=("sundress", "dress", "skirt", "coat"))
    assert score(dress, "sundress", "official").correct is True
    assert score(dress, "sundress").correct is False
    assert score(dress, "It is a dress.").correct is True
    assert score(mc, "x", "official").how == "official"
    with pytest.raises(ValueError, match="unknown scoring mode"):
        score(mc, "x", "lenient")


# The FG-BMK release sample lies in shared/ beside the checkout (FGBMK_OFFICIAL_SAMPLE overrides).
SAMPLE = (
    Path(
        os.environ.get("FGBMK_OFFICIAL_SAMPLE")
        or next(
            (
                p / "shared" / "fgbmk-official-sample"
                for p in Path(__file__).resolve().parents
                if (p / "shared" / "fgbmk-official-sample").is_dir()
            ),
            Path("shared/fgbmk-official-sample"),
        )
    )
    / "human-oriented"
)


def _release_rule(truth: str, response: str) -> bool:
    """demo/human_evaluation/answer_acc.py of the release, as written there."""
    processed_class = re.sub(r"[_\-,]+", " ", truth).lower().strip()
    processed_text = re.sub(r"[_\-,]+", " ", response).lower().strip()
    return processed_class in processed_text


@pytest.mark.skipif(not SAMPLE.is_dir(), reason=f"release sample not present at {SAMPLE}")
def test_official_mode_agrees_with_release_rule_on_every_sample_line():
    from pytest_fgbmk.questions.files import read_release

    checked = 0
    for path in sorted(SAMPLE.rglob("*.jsonl")):
        rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        for q, row in zip(read_release(path), rows, strict=True):
            responses = [row["class"], row["text"], "yes", "no", "Yes, it is.", "No.", "I do not know",
                         "B", "", row["class"].upper().replace(" ", "-"), f"It's a {row['class']}_bird",
                         *q.options, ", ".join(q.options)]  # fmt: skip
            for r in responses:
                assert score(q, r, "official").correct == _release_rule(row["class"], r), (path, r)
                checked += 1
    assert checked > 8 * 40 * 10
