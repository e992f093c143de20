"""Scoring, table-driven: how real models answer, and the release's failure cases."""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_fgbmk.questions.records import Question
from pytest_fgbmk.scoring import Scored, score

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
    ("I do not know.", "refusal"),
    ("I don't know", "refusal"),
    ("Nothing can be said.", None),
    ("It is not a laysan albatross.", None),
    ("Not sure.", "refusal"),
    ("It's a bird.", None),
    ("", None),
    ("   ", None),
    ("Yes and no.", "hedge"),
    ("No... actually yes.", "yes"),
    ("Maybe", None),
    ("The image shows an albatross.", None),
    ("Cannot determine", "refusal"),
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
    ("baird's sparrow", False, "baird sparrow", "text"),
    ("B) laysan albatross", False, "laysan albatross", "text"),
    ("albatross", False, None, "unparsed"),
    ("I am not sure.", False, None, "refusal"),
    ("", False, None, "unparsed"),
    ("B", False, None, "unparsed"),
    ("(B)", False, None, "unparsed"),
    ("a gull", False, None, "unparsed"),
    ("laysan albatross or sooty albatross", False, None, "hedge"),
    (
        "black footed albatross, laysan albatross, sooty albatross, baird sparrow",
        False,
        None,
        "hedge",
    ),
    ("It is either a black-footed albatross or a laysan albatross.", False, None, "hedge"),
    ("Not a sooty albatross; it is a laysan albatross.", False, "laysan albatross", "text"),
    # lettered options: the usual letter forms
    ("B", True, "laysan albatross", "letter"),
    ("b", True, "laysan albatross", "letter"),
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
    ("A black footed albatross or a laysan albatross", True, None, "hedge"),
    ("I cannot tell.", True, None, "refusal"),
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
    ("black footed albatrosses", True, "text"),
    ("blackfooted albatross", True, "text"),
    ("sooty albatross", False, "text"),
    ("Phoebastria immutabilis", False, "text"),
    ("I don't know.", False, "refusal"),
    ("bird", False, "text"),
    ("gull", False, "text"),
    ("not sure", False, "refusal"),
    ("Yes", False, "text"),
    ("No", False, "text"),
    ("black", False, "text"),
    ("black footed", False, "text"),
    ("footed", False, "text"),
    ("albatross black footed", True, "text"),  # its words, reordered (index style)
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
        if says in ("refusal", "hedge"):
            assert (s.correct, s.parsed, s.how) == (False, None, says)
            continue
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
    assert score(no_q, "I do not know").how == "refusal"
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


# -- issue 14: each kind of fault, with neighbours written here (not from the answer corpus) --

SPECIES_PROMPT = "Is the species of the bird in this photo a Laysan Albatross? Answer yes or no."


def _tf(truth, *, asked="laysan albatross", prompt=SPECIES_PROMPT):
    return Question(
        "id", "cub", "images/a.jpg", prompt, "tf", "granularity", "species",
        "laysan albatross", truth, "original-r1:tf:0", (), False, asked,
    )  # fmt: skip


def _tf_reads(response, q_yes, q_no):
    a, b = score(q_yes, response), score(q_no, response)
    assert a.parsed == b.parsed and a.how == b.how
    assert a.correct == (a.parsed == "yes") and b.correct == (b.parsed == "no")
    return a.parsed, a.how


@pytest.mark.parametrize(
    ("response", "says"),
    [
        # negation without the word "no"
        ("It is not.", "no"),
        ("It isn't.", "no"),
        ("It's not.", "no"),
        ("It isn't a Laysan albatross.", "no"),
        ("The bird in the picture is not a Laysan Albatross.", "no"),
        ("This bird does not appear to be a laysan albatross; the back is too pale.", "no"),
        ("I wouldn't call it a Laysan albatross.", "no"),
        ("Not at all.", "no"),
        ("Certainly not.", "no"),
        ("Negative.", "no"),
        ("That's not correct.", "no"),
        ("Definitely not!", "no"),
        # affirmatives that contain "no"
        ("Yes, no doubt about it.", "yes"),
        ("Yes, there is no question about the species.", "yes"),
        ("Absolutely, no other albatross has that bill.", "yes"),
        ("Yes - no other seabird looks like this.", "yes"),
        ("That's right.", "yes"),
        ("It is.", "yes"),
        # the concluding clause decides
        ("No. Wait, actually, yes.", "yes"),
        ("At first glance no, but on closer inspection yes.", "yes"),
        ("Yes... no, on reflection it is not.", "no"),
        ("I first thought yes; the final answer is no.", "no"),
        ("Final answer: No", "no"),
        # implicit: a statement about the asked name
        ("The bird is a Laysan albatross.", "yes"),
        ("This looks like a laysan albatross to me.", "yes"),
        ("This bird is certainly not a Laysan albatross.", "no"),
        ("The photo shows a bird that is not a laysan albatross, rather a gull.", "no"),
        ("The bird is a gull.", "no"),  # identified as something else: an implicit no
        ("The bird is a seabird.", None),  # a coarser name answers nothing
        ("This is a photo of a sooty albatross.", "no"),
        ("Hmm.", None),
        ("Sooty albatross", None),  # a bare other name: not read (it could be nonsense)
        ("Laysan albatross", "yes"),
        ("It is a bird.", None),
        # Chinese
        ("是", "yes"),
        ("是的。", "yes"),
        ("是的，这是一只黑背信天翁。", "yes"),
        ("否", "no"),
        ("不是", "no"),
        ("不是，这是一只黑脚信天翁。", "no"),
        # wrappers and emphasis
        ("<think>The head is white, so maybe not.</think>**Yes.**", "yes"),
        ("<think>\nyes? no?\n</think>\n\n**Final answer:** no", "no"),
        ("__No__", "no"),
        ("A: No, the back is too dark.", "no"),
        ("Yes</s>", "yes"),
    ],
)
def test_true_false_kinds(response, says):
    assert _tf_reads(response, _tf("yes"), _tf("no")) == (
        says,
        "unparsed" if says is None else "yesno",
    )


@pytest.mark.parametrize(
    "response",
    [
        "No idea.",
        "No clue, sorry.",
        "No idea at all, to be honest.",
        "There is no way to tell from this image.",
        "There's no way of knowing from this photo.",
        "I have no means to determine the species here.",
        "I'm sorry, there is no way for me to determine the species.",
        "Not enough detail to say.",
        "There is no information in the picture to decide that.",
        "I can't tell.",
        "I cannot determine whether it is a Laysan albatross or not.",
        "It is not clear whether the bird is a laysan albatross.",
        "Hard to say.",
        "Unclear.",
        "I don't know.",
        "Not sure, sorry.",
        "As an AI, I cannot see the image.",
        "不知道",
        "无法确定。",
    ],
)
def test_refusals_are_their_own_outcome_never_no(response):
    for truth in ("yes", "no"):
        assert score(_tf(truth), response) == Scored(False, None, "refusal")


@pytest.mark.parametrize(
    ("prompt", "response", "says"),
    [
        (
            "Is there a bicycle in the image?",
            "The picture shows two bicycles leaning on a wall.",
            "yes",
        ),
        ("Is there a bicycle in the image?", "I can see a bicycle near the door.", "yes"),
        ("Is there a bicycle in the image?", "The photo does not include any bicycle.", "no"),
        ("Is there a bicycle in the image?", "There are no bicycles here; only cars.", "no"),
        ("Is there a bicycle in the image?", "A bicycle is not visible in the scene.", "no"),
        ("Is there a bicycle in the image?", "Only cars and buses, without a bicycle.", "no"),
        ("Is there a bicycle in the image?", "The street is full of cars and buses.", None),
        ("Are there any people in this picture?", "Three men are standing near the boat.", None),
        ("Is there a person in the image?", "Several people are waiting at the stop.", "yes"),
        ("Is there a person in the image?", "The kitchen is empty, with no people around.", "no"),
        ("Does the image contain a sheep?", "A flock of sheep grazes on the hill.", "yes"),
        (
            "Is the red car larger than the blue truck?",
            "The red car is larger than the blue truck.",
            "yes",
        ),
        (
            "Is the red car larger than the blue truck?",
            "The red car is not larger than the blue truck.",
            "no",
        ),
        ("Is the red car larger than the blue truck?", "The blue truck is parked.", None),
    ],
)
def test_implicit_answers_read_with_the_asked_object(prompt, response, says):
    q_yes, q_no = _tf("yes", asked="", prompt=prompt), _tf("no", asked="", prompt=prompt)
    assert _tf_reads(response, q_yes, q_no) == (says, "unparsed" if says is None else "yesno")


def test_asked_field_wins_over_the_prompt():
    q = _tf("yes", asked="sooty albatross", prompt="Is there a bicycle in the image?")
    assert score(q, "The bird is a sooty albatross.").parsed == "yes"
    assert score(q, "A bicycle leans on the wall.").how == "unparsed"


LETTERED = dict(options=OPTIONS, lettered=True)


@pytest.mark.parametrize(
    ("response", "names", "how"),
    [
        # the final answer beats the first letter mentioned
        (
            "(A) cannot be right because of the pale head; the answer is (B).",
            "laysan albatross",
            "letter",
        ),
        ("A looks plausible at first, but the final answer is B.", "laysan albatross", "letter"),
        ("Option C is ruled out by the bill. Answer: B", "laysan albatross", "letter"),
        (
            "(D) is wrong: it is a sparrow. (B) Laysan albatross is the correct answer.",
            "laysan albatross",
            "letter",
        ),
        ("The answer is (A)... no, the correct answer is (C).", "sooty albatross", "letter"),
        # a list of letters is not an answer
        ("Answer: A, B", None, "hedge"),
        ("(A) (B) (C) (D)", None, "hedge"),
        ("B) Laysan Albatross\nC) Sooty Albatross", None, "hedge"),
        ("A or B", None, "hedge"),
        ("The answer is B or C.", None, "hedge"),
        # lowercase letters
        ("answer: b", "laysan albatross", "letter"),
        ("the answer is (c)", "sooty albatross", "letter"),
        ("d)", "baird sparrow", "letter"),
        ("c.", "sooty albatross", "letter"),
        ("The answer is a laysan albatross.", "laysan albatross", "text"),
        # a leading "A:" meaning "Answer:"
        ("A: Laysan albatross.", "laysan albatross", "text"),
        ("A: B", "laysan albatross", "letter"),
        ("A: The bird is a sooty albatross.", "sooty albatross", "text"),
        ("A: black-footed albatross", "black footed albatross", "letter"),
        ("A:", "black footed albatross", "letter"),
        # a letter followed by a newline
        ("B\nThe bill and the dark back match.", "laysan albatross", "letter"),
        ("(C)\nBecause of the sooty plumage.", "sooty albatross", "letter"),
        # markdown and final-answer lines
        ("**Answer:** (D)", "baird sparrow", "letter"),
        ("Let me compare the options.\n\n**Final answer: C**", "sooty albatross", "letter"),
        # letter and option text disagree
        ("B) sooty albatross", None, "unparsed"),
        ("The answer is (A) Laysan albatross.", None, "unparsed"),
        ("C. Black-footed Albatross", None, "unparsed"),
    ],
)
def test_multiple_choice_letter_kinds(response, names, how):
    for truth in OPTIONS:
        s = score(_q("mc", truth, **LETTERED), response)
        assert (s.parsed, s.how) == (names, how)
        assert s.correct == (names == truth)


@pytest.mark.parametrize("lettered", [False, True])
@pytest.mark.parametrize(
    ("response", "names", "how"),
    [
        # naming the truth while ruling out the others
        ("It's a laysan albatross, not a black-footed albatross.", "laysan albatross", "text"),
        ("Definitely a sooty albatross rather than a laysan albatross.", "sooty albatross", "text"),
        ("Not a baird sparrow but a laysan albatross.", "laysan albatross", "text"),
        (
            "Black-footed albatross is incorrect; this is a laysan albatross.",
            "laysan albatross",
            "text",
        ),
        (
            "Unlike a sooty albatross, this one has a white head: laysan albatross.",
            "laysan albatross",
            "text",
        ),
        # plurals, possessives, spacing of option text
        ("Laysan albatrosses", "laysan albatross", "text"),
        ("These are Baird's sparrows.", "baird sparrow", "text"),
        ("Blackfooted albatross", "black footed albatross", "text"),
        # several offered
        ("Maybe a laysan albatross, maybe a sooty albatross.", None, "hedge"),
        ("laysan albatross / sooty albatross", None, "hedge"),
        ("It could be a laysan albatross. It could also be a sooty albatross.", None, "hedge"),
        ("I can't tell a laysan albatross from a sooty albatross here.", None, "refusal"),
    ],
)
def test_multiple_choice_text_kinds(response, names, how, lettered):
    for truth in OPTIONS:
        s = score(_q("mc", truth, options=OPTIONS, lettered=lettered), response)
        assert (s.parsed, s.how) == (names, how)
        assert s.correct == (names == truth)


def test_yes_no_options_are_read_as_true_false():
    q = _q("mc", "No", options=("Yes", "No"), lettered=True)
    q = replace(q, prompt="Is the tail longer than the wing?\n(A) Yes\n(B) No")
    assert score(q, "So the answer is no, it is shorter.") == Scored(True, "No", "text")
    assert score(q, "Nope.") == Scored(True, "No", "text")
    assert score(q, "The tail is not longer than the wing.") == Scored(True, "No", "text")
    assert score(q, "The tail is longer than the wing.") == Scored(False, "Yes", "text")
    assert score(q, "(A) Yes") == Scored(False, "Yes", "letter")


SA_KINDS = [
    # hedges listing several candidates are wrong
    ("Black-footed albatross or Laysan albatross", "black footed albatross", (), False, "hedge"),
    (
        "Either a black-footed albatross or a Laysan albatross.",
        "black footed albatross",
        (),
        False,
        "hedge",
    ),
    ("black-footed albatross/laysan albatross", "black footed albatross", (), False, "hedge"),
    (
        "It might be a black-footed albatross; it could also be a sooty albatross.",
        "black footed albatross",
        (),
        False,
        "hedge",
    ),
    (
        "Laysan albatross, black-footed albatross, or sooty albatross",
        "black footed albatross",
        (),
        False,
        "hedge",
    ),
    # a negated truth is wrong
    (
        "It's not a black-footed albatross; it's a Laysan albatross.",
        "black footed albatross",
        (),
        False,
        "text",
    ),
    ("Not a black footed albatross.", "black footed albatross", (), False, "text"),
    (
        "This is a Laysan albatross rather than a black-footed albatross.",
        "black footed albatross",
        (),
        False,
        "text",
    ),
    (
        "Unlike the black-footed albatross, this bird has a white head.",
        "black footed albatross",
        (),
        False,
        "text",
    ),
    ("这不是黑脚信天翁", "黑脚信天翁", (), False, "text"),
    # spacing, hyphenation, plural and possessive variants are right
    ("German Shorthaired Pointer", "German short-haired pointer", (), True, "text"),
    ("A german short haired pointer, sitting.", "German short-haired pointer", (), True, "text"),
    ("Two Arctic terns.", "arctic tern", (), True, "text"),
    ("Blackfooted albatrosses", "black footed albatross", (), True, "text"),
    ("Anna's hummingbird", "anna hummingbird", (), True, "text"),
    ("Phoebastria nigripes", "black footed albatross", ("Phoebastria nigripes",), True, "synonym"),
    (
        "That's a Phoebastria-nigripes.",
        "black footed albatross",
        ("Phoebastria nigripes",),
        True,
        "synonym",
    ),
    (
        "Black-footed albatross (Phoebastria nigripes)",
        "black footed albatross",
        ("Phoebastria nigripes",),
        True,
        "text",
    ),
    # Chinese without spaces
    ("这是黑脚信天翁。", "黑脚信天翁", (), True, "text"),
    ("图中的鸟是黑脚信天翁", "黑脚信天翁", (), True, "text"),
    ("这是一只海鸥", "黑脚信天翁", (), False, "text"),
    # wrappers, emphasis, final answer lines: the final answer counts
    (
        "<think>Laysan? No, darker.</think>**Black-footed albatross**",
        "black footed albatross",
        (),
        True,
        "text",
    ),
    (
        "The dark head rules out a Laysan albatross.\nFinal answer: Black-footed Albatross",
        "black footed albatross",
        (),
        True,
        "text",
    ),
    (
        "I considered a black-footed albatross.\nFinal answer: Laysan albatross",
        "black footed albatross",
        (),
        False,
        "text",
    ),
    ("A: black-footed albatross", "black footed albatross", (), True, "text"),
    # refusals
    ("No idea.", "black footed albatross", (), False, "refusal"),
    ("Sorry, I can't identify the species.", "black footed albatross", (), False, "refusal"),
    ("I'm not sure, but it looks like a gull.", "black footed albatross", (), False, "text"),
    (
        "I'm not sure, but it looks like a black-footed albatross.",
        "black footed albatross",
        (),
        True,
        "text",
    ),
]


@pytest.mark.parametrize(("response", "truth", "accepted", "correct", "how"), SA_KINDS)
def test_short_answer_kinds(response, truth, accepted, correct, how):
    s = score(_q("sa", truth, accepted=accepted), response)
    assert (s.correct, s.how) == (correct, how)


def _sample_rows():
    from pytest_fgbmk.questions.files import read_release

    pairs = []
    for path in sorted(SAMPLE.rglob("*.jsonl")):
        rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        pairs += list(zip(read_release(path), rows, strict=True))
    return pairs


_SEPARATORS = [" ", "_", "-", ",", "__", " - ", ", ", "-_-", "  "]


@st.composite
def _release_like(draw, name: str):
    """The class name as models and files mangle it: separators and case changed, inside text."""
    words = name.split()
    seps = draw(st.lists(st.sampled_from(_SEPARATORS), min_size=len(words), max_size=len(words)))
    mangled = "".join(w + s for w, s in zip(words, seps, strict=True)).rstrip(" ")
    mangled = "".join(
        c.upper() if up else c for c, up in zip(mangled, draw(st.lists(st.booleans(),
                                                min_size=len(mangled), max_size=len(mangled))),
                                                strict=True)
    )  # fmt: skip
    around = st.text(st.characters(codec="utf-8"), max_size=20)
    return draw(around) + mangled + draw(around)


@pytest.mark.skipif(not SAMPLE.is_dir(), reason=f"release sample not present at {SAMPLE}")
@settings(max_examples=400, deadline=None)
@given(st.data())
def test_official_mode_agrees_with_release_rule_on_generated_responses(data):
    multi = [p for p in _SAMPLE_ROWS if len(p[1]["class"].split()) > 1]  # separators matter
    q, row = data.draw(st.sampled_from(_SAMPLE_ROWS) | st.sampled_from(multi or _SAMPLE_ROWS))
    cls = row["class"]
    response = data.draw(
        st.one_of(
            st.text(max_size=80),
            _release_like(cls),
            _release_like(cls[: len(cls) // 2]),
            st.sampled_from(list(q.options) or [cls]).flatmap(_release_like),
        )
    )
    assert score(q, response, "official").correct == _release_rule(cls, response), response


_SAMPLE_ROWS = _sample_rows() if SAMPLE.is_dir() else []


@pytest.mark.parametrize(
    ("response", "says"),
    [
        # pro-forms and likelihood words answer too
        ("I believe so.", "yes"),
        ("I don't think so.", "no"),
        ("I think not.", "no"),
        ("It seems so.", "yes"),
        ("It doesn't appear to be.", "no"),
        ("Highly unlikely.", "no"),
        ("Most likely.", "yes"),
        ("Of course!", "yes"),
        ("Indeed it is.", "yes"),
        # a question the model asks itself is deliberation, the statement after it answers
        ("A Laysan albatross? No, the back is too dark.", "no"),
        ("Is it a laysan albatross? Yes.", "yes"),
        # "No, I can't tell" is a refusal, not a no
        ("No, I can't tell from this photo.", "refusal"),
        ("No, it is impossible to say.", "refusal"),
        ("No, I don't see a Laysan albatross here.", "no"),
        # an answer withdrawn in the same breath answers nothing
        ("It is a Laysan albatross, or not.", None),
        ("Yes, or maybe not.", None),
        ("I can't see any Laysan albatross in the photo.", "no"),
    ],
)
def test_true_false_more_kinds(response, says):
    if says == "refusal":
        assert score(_tf("no"), response) == Scored(False, None, "refusal")
    else:
        how = "unparsed" if says is None else "yesno"
        assert _tf_reads(response, _tf("yes"), _tf("no")) == (says, how)


@pytest.mark.parametrize(
    ("response", "names"),
    [
        ("It's B.", "laysan albatross"),
        ("It is (C).", "sooty albatross"),
        ("Between A and B, I'd go with B.", "laysan albatross"),
        ("I would pick D", "baird sparrow"),
        ("B is correct.", "laysan albatross"),
        ("Option A is incorrect, option B is correct.", "laysan albatross"),
        ("Not C or D; it is B.", "laysan albatross"),
        ("选B", "laysan albatross"),
        ("答案是：C", "sooty albatross"),
        ("It is a laysan albatross.", "laysan albatross"),
        ("Is it A? No, it is the laysan albatross.", "laysan albatross"),
    ],
)
def test_multiple_choice_more_letter_forms(response, names):
    for truth in OPTIONS:
        s = score(_q("mc", truth, **LETTERED), response)
        assert s.parsed == names and s.correct == (names == truth), s


@pytest.mark.parametrize(
    ("response", "correct", "how"),
    [
        ("Black-footed albatross, juvenile", True, "text"),
        ("Black-footed albatross, adult plumage.", True, "text"),
        ("Black-footed albatross, a seabird of the North Pacific.", True, "text"),
        ("Black-footed albatross, Laysan albatross", False, "hedge"),
        ("Laysan albatross, short-tailed albatross, black-footed albatross.", False, "hedge"),
        ("A Laysan albatross? No, a black-footed albatross.", True, "text"),
        ("A black-footed albatross? No, a Laysan albatross.", False, "text"),
    ],
)
def test_short_answer_lists_descriptors_and_questions(response, correct, how):
    s = score(_q("sa", "black footed albatross"), response)
    assert (s.correct, s.how) == (correct, how)


def test_refusals_are_counted_per_case_beside_the_unparsed_rate():
    from pytest_fgbmk.engine import Answer
    from pytest_fgbmk.measurement import Asked, measure_questions
    from pytest_fgbmk.questions.cases import Case
    from pytest_fgbmk.report.junit import measurement_properties
    from pytest_fgbmk.report.results import case_from_measurement, case_from_properties
    from pytest_fgbmk.report.terminal import SummaryRow, format_table

    qs = [replace(_tf("no"), id=f"q{i}", image=f"im{i}") for i in range(5)]
    said = ["No.", "No idea.", "There is no way to tell.", "Hmm.", "It isn't a Laysan albatross."]
    answers = {q.id: Answer(a) for q, a in zip(qs, said, strict=True)}
    m = measure_questions(
        Case("cub", "granularity", "species", "tf"),
        qs,
        answers,
        asked=Asked("cub", "h", "o", "strict", None, 0),
    )
    assert [o.how for o in m.outcomes] == ["yesno", "refusal", "refusal", "unparsed", "yesno"]
    assert (m.value, m.unparsed_rate, m.refusal_rate) == (40.0, 20.0, 40.0)
    props = dict(measurement_properties(m))
    assert (props["unparsed_rate"], props["refusal_rate"]) == ("20.00", "40.00")
    assert case_from_properties(props).refusal_rate == case_from_measurement(m).refusal_rate == 40.0
    assert "refusal_rate" not in case_from_properties(props).details
    row = SummaryRow.from_properties(props, "passed")
    header, *lines = [x for x in format_table([row]) if x.strip()]
    assert header.split()[-4:] == ["n", "unparsed", "refused", "result"]
    assert lines[-1].split()[-4:] == ["5", "20.0%", "40.0%", "passed"]
    # and the HTML report's table of every case
    from pytest_fgbmk.report.html import Page, section_cases
    from pytest_fgbmk.report.results import RunInfo, RunResults

    page = Page(Path("."), [], [])
    section_cases(page, RunResults(RunInfo({}), (case_from_measurement(m),), None))
    html = "".join(page.chunks)
    assert '<th class="num">refused %</th>' in html and ">40.0<" in html


def test_a_later_correction_overrides_a_resemblance():
    """ "Looks like X, but it is actually a Y": the identification is Y (no, wrong)."""
    q_sa = _q("sa", "black footed albatross")
    corrected = "It looks like a black-footed albatross, but it's actually a Laysan albatross."
    assert score(q_sa, corrected).correct is False
    assert score(q_sa, "Black-footed albatross; in fact a young one.").correct is True
    assert score(q_sa, "Black-footed albatross. Actually, I'm quite sure.").correct is True
    resembles = (
        "The bird resembles a Laysan albatross, but it is actually a black-footed albatross."
    )
    assert score(_tf("yes"), resembles) == Scored(False, None, "unparsed")
    assert score(_tf("yes"), "There is a Laysan albatross, but it is far away.").parsed == "yes"


@pytest.mark.parametrize(
    ("response", "names"),
    [
        (
            "Comparing it with a laysan albatross, the darker head makes it a sooty albatross.",
            "sooty albatross",
        ),
        (
            "Compared to the black-footed albatross, this one has a white head: laysan albatross.",
            "laysan albatross",
        ),
        (
            "The pale bill rules out a sooty albatross; it is a laysan albatross.",
            "laysan albatross",
        ),
        ("The answer is C. Answer B is wrong.", "sooty albatross"),
        ("Answer B is incorrect; the answer is C.", "sooty albatross"),
    ],
)
def test_comparisons_and_ruled_out_answers_do_not_count(response, names):
    s = score(_q("mc", "sooty albatross", **LETTERED), response)
    assert s.parsed == names, s


def test_multiple_choice_truth_named_by_an_accepted_synonym():
    q = _q("mc", "black footed albatross", options=OPTIONS, accepted=("Phoebastria nigripes",))
    assert score(q, "Phoebastria nigripes") == Scored(True, "black footed albatross", "synonym")
    assert score(q, "It is a Phoebastria nigripes.").how == "synonym"
    assert score(q, "Phoebastria nigripes or a sooty albatross") == Scored(False, None, "hedge")
    assert score(q, "It is not a Phoebastria nigripes.").how == "unparsed"
    assert score(q, "A sooty albatross.").parsed == "sooty albatross"


def test_multiple_choice_reads_the_truth_by_its_other_name_from_the_data():
    """Option synonyms from a loader (iNat's common names): the truth named by its common
    name is right; another option's common name is not read as right."""
    from pytest_fgbmk.questions.records import Question
    from pytest_fgbmk.scoring import score

    q = Question(
        "q1", "inat", "img.jpg", "Which species is this?", "mc", "granularity", "species",
        "Phoebastria nigripes", "Phoebastria nigripes", "t",
        ("Phoebastria immutabilis", "Phoebastria nigripes"), False, "", (), "1",
        (("Laysan albatross",), ("black-footed albatross",)),
    )  # fmt: skip
    right = score(q, "It is a black-footed albatross.")
    assert right.correct and right.how == "synonym"
    assert score(q, "Phoebastria nigripes").correct
    other = score(q, "It is a Laysan albatross.")
    assert not other.correct


@pytest.mark.parametrize(
    "response",
    [
        "It could be a laysan albatross, but it could also be a sooty albatross.",
        "Maybe a laysan albatross, maybe a black footed albatross.",
        "It might be a laysan albatross or possibly a sooty albatross.",
        "Perhaps a laysan albatross; alternatively a young sooty albatross.",
    ],
)
def test_true_false_candidates_offered_without_a_yes_or_no_are_a_hedge(response):
    """Naming the asked species among alternatives does not say yes (held-out check)."""
    assert score(_tf("yes"), response) == Scored(False, None, "hedge")
    assert score(_tf("no"), response) == Scored(False, None, "hedge")


def test_an_explicit_answer_with_an_alternative_mentioned_still_counts():
    assert score(_tf("yes"), "Yes. It could also be mistaken for a sooty albatross.").correct
    assert score(_tf("no"), "No, it could also be a sooty albatross.").correct


@pytest.mark.parametrize(
    ("response", "parsed"),
    [
        ("Although sooty and laysan albatrosses are similar, the dark bill points to a "
         "black footed albatross.", "black footed albatross"),
        ("While a laysan albatross is similar, this is a black footed albatross.",
         "black footed albatross"),
        ("Unlike the sooty albatross, this bird is a laysan albatross.", "laysan albatross"),
    ],
)  # fmt: skip
def test_options_named_in_a_conceding_clause_are_context_not_candidates(response, parsed):
    q = _q(
        "mc", "black footed albatross",
        options=("laysan albatross", "black footed albatross", "sooty albatross"),
    )  # fmt: skip
    got = score(q, response)
    assert got.parsed == parsed and got.how == "text"
    assert score(q, "Although it could be a sooty albatross or a laysan albatross.").how == "hedge"


@pytest.mark.parametrize(
    ("response", "said"),
    [
        ("Nein, das ist kein Laysan-Albatros.", "no"),
        ("Nein.", "no"),
        ("Non, ce n'est pas un albatros de Laysan.", "no"),
        ("Não, não é.", "no"),
        ("Ja, das ist ein Laysan-Albatros.", "yes"),
        ("Oui, c'est bien lui.", "yes"),
        ("Sí.", "yes"),
        ("Non-breeding plumage of a laysan albatross.", "yes"),  # English "non-", implicit
    ],
)
def test_true_false_yes_and_no_in_other_languages(response, said):
    """A leading yes/no in German, French, Spanish or Portuguese answers the question; the
    asked name mentioned after "Nein" is not a yes (second held-out check)."""
    assert score(_tf("yes"), response).parsed == said


@pytest.mark.parametrize(
    "response",
    [
        "This could be a laysan albatross or a sooty albatross; both have dark backs.",
        "It might be a laysan albatross or a young black footed albatross.",
    ],
)
def test_true_false_could_be_x_or_y_is_a_hedge(response):
    assert score(_tf("yes"), response) == Scored(False, None, "hedge")


def test_plurals_of_sis_words_match():
    q = _q("sa", "seborrheic keratosis")
    for response in ("Seborrheic keratoses", "seborrheic-keratosis", "A seborrheic keratosis."):
        assert score(q, response).correct, response
    assert not score(_q("sa", "seborrheic keratosis"), "Actinic keratoses").correct


@pytest.mark.parametrize(
    ("qtype", "truth", "response", "correct"),
    [
        ("sa", "laysan albatross",
         "A sooty albatross, which is often confused with the laysan albatross.", False),
        ("sa", "laysan albatross",
         "Black footed albatross, which resembles a laysan albatross but is darker.", False),
        ("sa", "laysan albatross",
         "A laysan albatross, which can be mistaken for a black footed albatross.", True),
        ("sa", "laysan albatross",
         "Laysan albatross (not to be confused with the sooty albatross).", True),
    ],
)  # fmt: skip
def test_a_name_in_a_comparing_relative_clause_is_context(qtype, truth, response, correct):
    """ "X, which is often confused with Y": Y is context, never the answer (third held-out
    check: the truth named only in such a clause was scored right)."""
    assert score(_q(qtype, truth), response).correct is correct


def test_true_false_the_asked_name_only_in_a_comparison_is_not_a_yes():
    response = "It is a sooty albatross, which is often confused with a laysan albatross."
    assert score(_tf("no"), response).parsed != "yes"
    assert score(_tf("yes"), response).correct is False
