"""Scoring, the kinds a fifth held-out check found (420 invented responses in LVLM styles,
written and graded by the answer corpus's rules by someone who never saw the scorer).
Every response here is our own neighbour of a kind, not a line of that set."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_fgbmk.questions.records import Question
from pytest_fgbmk.scoring import _misspelt, _one_edit, score


def _tf(asked: str, truth: str, prompt: str = "") -> Question:
    prompt = prompt or f"Is the animal in this photo a {asked}? Answer yes or no."
    return Question(
        "id", "d", "a.jpg", prompt, "tf", "granularity", "species", asked, truth, "t",
        (), False, asked,
    )  # fmt: skip


def _reads_tf(asked: str, response: str, prompt: str = "") -> str:
    """What a true/false response says: yes, no, or its ``how`` when neither."""
    a, b = score(_tf(asked, "yes", prompt), response), score(_tf(asked, "no", prompt), response)
    assert (a.parsed, a.how) == (b.parsed, b.how)
    return a.parsed if a.how == "yesno" else a.how


OPTIONS = ("grey heron", "purple heron", "great egret", "black-crowned night heron")


def _mc(response: str, options=OPTIONS, truth="purple heron", lettered=True):
    q = Question(
        "id", "d", "a.jpg", "p", "mc", "granularity", "species", truth, truth, "t",
        tuple(options), lettered, "",
    )  # fmt: skip
    return score(q, response)


def _sa(truth: str, response: str, accepted=()):
    q = Question(
        "id", "d", "a.jpg", "p", "sa", "granularity", "species", truth, truth, "t",
        accepted=tuple(accepted),
    )  # fmt: skip
    return score(q, response)


@pytest.mark.parametrize(
    ("asked", "response", "says"),
    [
        # the asked name offered only as one candidate among others: a hedge
        ("grey wolf", "Grey wolf or coyote.", "hedge"),
        ("grey wolf", "A coyote or a grey wolf", "hedge"),
        ("grey wolf", "The animal shows traits of both a grey wolf and a coyote.", "hedge"),
        ("grey wolf", "I can't choose between a grey wolf and a coyote here.", "refusal"),
        ("grey wolf", "It might be a grey wolf; other species cannot be ruled out.", "hedge"),
        ("grey wolf", "Possibly a grey wolf, but I am not certain.", "hedge"),
        # ... while a committed or plainly tentative statement still answers
        ("grey wolf", "It looks like a grey wolf.", "yes"),
        ("grey wolf", "This is probably a grey wolf.", "yes"),
        ("grey wolf", "Yes, though a coyote or a jackal can look alike.", "yes"),
        # a definition of the asked name says nothing about the image
        ("grey wolf", "A grey wolf is a large canine native to Eurasia.", "unparsed"),
        ("grey wolf", "Grey wolves are the largest wild canids.", "unparsed"),
        ("grey wolf", "A grey wolf is visible on the snow.", "yes"),
        ("grey wolf", "A grey wolf.", "yes"),
        # the asked name's words in another order
        (
            "Dodge Challenger SRT8",
            "The photo shows a SRT8 Dodge Challenger at a gas station.",
            "yes",
        ),
        ("Dodge Challenger SRT8", "There is no SRT8 Dodge Challenger here.", "no"),
        # another model of the same make: a number replacing the asked one
        ("Boeing 737", "This is a Boeing 757 on approach.", "no"),
        ("Boeing 737", "It is a Boeing 737 taxiing.", "yes"),
        ("Audi TT 2011", "It is a 2011 model.", "unparsed"),
    ],
)
def test_true_false_hedges_definitions_reordering_and_other_models(asked, response, says):
    assert _reads_tf(asked, response) == says


@pytest.mark.parametrize(
    ("asked", "response", "says"),
    [
        ("crust", "No crusting is present on the lesion.", "no"),
        ("crust", "The lesion is crusted at its edge.", "yes"),
        ("scale", "The plaque is scaly.", "yes"),
        ("erosion", "No erosion is seen.", "no"),
        ("scale", "Scaling is absent.", "no"),
    ],
)
def test_presence_of_an_attribute_said_in_a_derived_form(asked, response, says):
    prompt = f"Is there {asked} in the image? Answer yes or no."
    assert _reads_tf(asked, response, prompt) == says


@pytest.mark.parametrize(
    ("response", "parsed", "how"),
    [
        # a concluding "so / thus / therefore" letter after weighing each option
        (
            "A: too grey.\nB: the rufous neck fits.\nC: too white.\n\nThus B.",
            "purple heron",
            "letter",
        ),
        ("Option A is wrong. Therefore, B", "purple heron", "letter"),
        ("So I think it is B.", "purple heron", "letter"),
        # the letter closing a sentence that restates the question
        ("The heron species in this picture is B.", "purple heron", "letter"),
        ("The bird in the photo is C.", "great egret", "letter"),
        # a letter with an aside after it
        ("B (the rufous one)", "purple heron", "letter"),
        ("D (night heron)", "black-crowned night heron", "letter"),
        # answer markers in Japanese and Korean
        ("答えは B です。", "purple heron", "letter"),
        ("답은 C입니다.", "great egret", "letter"),
        # an article is still not a letter
        ("A purple heron, by the neck.", "purple heron", "text"),
        # a JSON answer
        ('{"answer": "B", "confidence": 0.7}', "purple heron", "letter"),
        (
            '```json\n{"reasoning": "rufous neck", "answer": "purple heron"}\n```',
            "purple heron",
            "text",
        ),
    ],
)
def test_multiple_choice_concluding_letters_asides_markers_and_json(response, parsed, how):
    s = _mc(response)
    assert (s.parsed, s.how) == (parsed, how)


@pytest.mark.parametrize(
    ("response", "parsed"),
    [
        ("purpel heron", None),  # "purple" has 6 letters: too short for a slip
        ("great egrett", None),  # 5 letters
        ("grey herron", None),
    ],
)
def test_short_words_need_their_exact_spelling(response, parsed):
    assert _mc(response).parsed == parsed


@pytest.mark.parametrize(
    ("options", "truth", "response", "parsed"),
    [
        (("Rhodesian ridgeback", "Weimaraner", "vizsla", "beagle"), "Weimaraner", "Wiemaraner", "Weimaraner"),
        (("Rhodesian ridgeback", "Weimaraner", "vizsla", "beagle"), "Weimaraner", "Rhodesian ridgebak", "Rhodesian ridgeback"),
        (("Hawaiian petrel", "Hawaiian goose", "nene"), "Hawaiian goose", "Hawaian goose", "Hawaiian goose"),
    ],
)  # fmt: skip
def test_multiple_choice_option_misspelt_by_one_slip(options, truth, response, parsed):
    s = _mc(response, options, truth, lettered=False)
    assert (s.parsed, s.how, s.correct) == (parsed, "text", parsed == truth)


@pytest.mark.parametrize(
    ("truth", "accepted", "response", "right"),
    [
        ("Chihuahua", (), "Chihauhua", True),  # two neighbours swapped
        ("Pomeranian", (), "Pomeranain", True),
        ("Dalmatian", (), "Dalmation", True),  # a letter substituted
        ("Rottweiler", (), "Rotweiler", True),  # a letter dropped
        ("Anemone coronaria", (), "Anemone coronarria", True),
        ("Seborrheic keratosis", (), "Seborrhoeic keratosis", True),
        ("Aythya ferina", ("common pochard",), "Common pochardd", True),
        ("Audi S4 Sedan 2012", (), "Audi S5 Sedan 2012", False),  # a number: another model
        ("Boeing 737-700", (), "Boeing 737-800", False),
        ("Larus canus", (), "Larus canis", False),  # short words name other species
        ("Dalmatian", (), "Dalmatians or Pointers", False),
        ("Dalmatian", (), "Dalmatlan spotted", False),  # two words off
        ("Saint Bernard", (), "St. Bernard", True),  # an abbreviated word
        ("Mount Cook lily", (), "Mt Cook lily", True),
        (
            "Jeep Wrangler SUV 2012",
            (),
            '{"make": "Jeep", "model": "Wrangler SUV", "year": 2012}',
            True,
        ),
        (
            "Jeep Wrangler SUV 2012",
            (),
            '{"make": "Jeep", "model": "Liberty SUV", "year": 2012}',
            False,
        ),
        (
            "Jeep Wrangler SUV 2012",
            (),
            '{"answer": "Jeep Wrangler SUV 2012", "confidence": 0.4}',
            True,
        ),
    ],
)
def test_short_answer_slips_abbreviations_and_json_fields(truth, accepted, response, right):
    assert _sa(truth, response, accepted).correct is right


def _damerau(a: str, b: str) -> int:
    """Optimal string alignment distance, the textbook dynamic programme (the reference)."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


@given(st.text("abcd", max_size=9), st.text("abcd", max_size=9))
def test_one_edit_is_distance_one(a, b):
    assert _one_edit(a, b) is (_damerau(a, b) == 1)


@given(st.text("abcde", min_size=7, max_size=12), st.integers(0, 11), st.sampled_from("abcdez"))
def test_a_slip_is_symmetric_and_never_the_same_name(word, at, letter):
    k = at % len(word)
    slipped = word[:k] + letter + word[k + 1 :]
    name = f"great {word}"
    said = f"great {slipped}"
    assert _misspelt(said, name) is _misspelt(name, said)
    assert not _misspelt(name, name)
    assert _misspelt(said, name) is (slipped != word)


@pytest.mark.parametrize(
    "response", ["grey heron, unclear", "grey heron or unclear", "Unclear or grey heron"]
)
def test_an_option_worded_like_a_refusal_is_an_option(response):
    """An option that reads like a refusal ("unclear") named beside another is a hedge of
    two options, not a refusal; named alone it is that option."""
    options = ("grey heron", "unclear")
    assert _mc(response, options, "grey heron", lettered=False).how == "hedge"
    s = _mc("Unclear.", options, "unclear", lettered=False)
    assert (s.parsed, s.correct) == ("unclear", True)
