"""Scoring, the kinds a fourth held-out check found (500 invented responses in LVLM styles,
graded by the answer corpus's rules before any scoring). Every response here is our own
neighbour of a kind, not a line of that set."""

from __future__ import annotations

import pytest

from pytest_fgbmk.questions.records import Question
from pytest_fgbmk.scoring import score

PROMPT = "Is the bird in this image a Laysan Albatross? Answer yes or no."
OPTIONS = ("black footed albatross", "laysan albatross", "sooty albatross", "baird sparrow")


def _tf(truth: str, *, asked: str = "Laysan Albatross", prompt: str = PROMPT) -> Question:
    return Question(
        "id", "cub", "a.jpg", prompt, "tf", "granularity", "species", "laysan albatross",
        truth, "t", (), False, asked,
    )  # fmt: skip


def _mc(options=OPTIONS, truth="laysan albatross", *, lettered=True) -> Question:
    return Question(
        "id", "cub", "a.jpg", "p", "mc", "granularity", "species", truth, truth, "t",
        tuple(options), lettered, "",
    )  # fmt: skip


def _sa(truth: str) -> Question:
    return Question("id", "x", "a.jpg", "p", "sa", "granularity", "species", truth, truth, "t")


def _reads(q_yes: Question, q_no: Question, response: str):
    a, b = score(q_yes, response), score(q_no, response)
    assert (a.parsed, a.how) == (b.parsed, b.how)
    return a.parsed if a.how == "yesno" else a.how


@pytest.mark.parametrize(
    ("response", "says"),
    [
        # yes and no in more languages, and refusals in them
        ("Nej, det är en trut.", "no"),
        ("Tak.", "yes"),
        ("Нет, это чайка.", "no"),
        ("はい、そうです。", "yes"),
        ("いいえ。", "no"),
        ("아니요, 갈매기입니다.", "no"),
        ("네, 맞습니다.", "yes"),
        ("Evet.", "yes"),
        ("Hayır.", "no"),
        ("わかりません。", "refusal"),
        ("모르겠습니다.", "refusal"),
        ("No lo sé.", "refusal"),
        ("Je ne sais pas.", "refusal"),
        ("Ich weiß nicht.", "refusal"),
        # affirmative and negative as words; an aside after the answer
        ("My answer is in the affirmative.", "yes"),
        ("I would reply in the negative.", "no"),
        ("Yes (about 90% sure)", "yes"),
        ("No (confidence: 0.8)", "no"),
        ("Yes with high confidence.", "yes"),
        ("no no no no", "no"),
        # candidates offered with no yes or no
        ("Either a Laysan or a black-footed albatross.", "hedge"),
        ("It might or might not be a Laysan albatross.", "hedge"),
        # denying the end of the asked name denies it; naming another species is a no
        ("Not an albatross at all; it is a gull.", "no"),
        ("It is a black-footed albatross.", "no"),
        ("The photo shows a great frigatebird soaring over the sea.", "no"),
        ("This is a picture of a herring gull.", "no"),
        ("Sooty albatross", "unparsed"),  # a bare name could be nonsense ("Banana."): not read
        ("It shows a sooty albatross, which differs from a Laysan albatross in colour.", "no"),
        # coarser names and scene descriptions answer nothing
        ("It is a bird.", "unparsed"),
        ("It is an albatross.", "unparsed"),
        ("The bird is perched on a rock.", "unparsed"),
        ("The background is a blue sky.", "unparsed"),
        ("Hmm.", "unparsed"),
        # a later sentence that turns against the asked name concludes
        ("Yes, the photo is sharp. However, this is not a Laysan albatross.", "no"),
        ("Yes. However, the light is poor.", "yes"),
    ],
)
def test_true_false_more_kinds(response, says):
    assert _reads(_tf("yes"), _tf("no"), response) == says


def test_naming_other_things_does_not_deny_presence():
    prompt = "Is there a dog in the image? Answer yes or no."
    yes, no = _tf("yes", asked="dog", prompt=prompt), _tf("no", asked="dog", prompt=prompt)
    assert _reads(yes, no, "The image shows a cat sleeping on a sofa.") == "unparsed"
    assert _reads(yes, no, "The image shows a dog on a sofa.") == "yes"


def test_part_of_a_two_word_name_denied_is_a_no_affirmed_is_nothing():
    yes = _tf("yes", asked="Rolex Submariner", prompt="Is the watch a Rolex Submariner?")
    no = _tf("no", asked="Rolex Submariner", prompt="Is the watch a Rolex Submariner?")
    assert _reads(yes, no, "Not a Submariner — the bezel reads Daytona.") == "no"
    assert _reads(yes, no, "That is no Submariner.") == "no"
    assert _reads(yes, no, "It is a Rolex.") == "unparsed"  # coarser: says nothing


@pytest.mark.parametrize(
    ("response", "parsed", "how"),
    [
        ("option c", "sooty albatross", "letter"),
        ("Choice b.", "laysan albatross", "letter"),
        ("The answer is $\\boxed{B}$.", "laysan albatross", "letter"),
        ("\\(\\text{A}\\)", "black footed albatross", "letter"),
        ("Assistant: C", "sooty albatross", "letter"),
        ("GPT: D", "baird sparrow", "letter"),
        ("The third option.", "sooty albatross", "letter"),
        ("I'd go with the last one.", "baird sparrow", "letter"),
        ("Not the first option; the second one.", "laysan albatross", "letter"),
        ("B\nD", None, "hedge"),  # one letter per line: a list
        ("The answer is B? Or C.", None, "hedge"),
        ("Answer: B. Or maybe D.", None, "hedge"),
        ("The answer is B. Maybe a juvenile.", "laysan albatross", "letter"),
        ("D, though a laysan albatross is possible.", "baird sparrow", "letter"),
    ],
)
def test_multiple_choice_more_letter_kinds(response, parsed, how):
    s = score(_mc(), response)
    assert (s.parsed, s.how) == (parsed, how)


@pytest.mark.parametrize("lettered", [True, False])
@pytest.mark.parametrize(
    ("response", "parsed", "how"),
    [
        ("Not a black footed albatross or a laysan albatross.", None, "unparsed"),
        ("Neither a sooty albatross nor a laysan albatross.", None, "unparsed"),
        ("Let's look at each option. A laysan albatross has a white head and", None, "unparsed"),
        ("Let's compare: the dark head makes it a sooty albatross.", "sooty albatross", "text"),
        (
            "It is a sooty albatross. A laysan albatross would have a white head.",
            "sooty albatross",
            "text",
        ),
        (
            "A sooty albatross; a black footed albatross typically has a pale bill base.",
            "sooty albatross",
            "text",
        ),
    ],
)
def test_multiple_choice_ruled_out_weighed_and_described_options(lettered, response, parsed, how):
    s = score(_mc(lettered=lettered), response)
    assert (s.parsed, s.how) == (parsed, how)


WATCHES = (
    "Omega Speedmaster Professional", "Rolex Submariner Date", "Patek Philippe Calatrava",
    "Cartier Tank Louis",
)  # fmt: skip
CAMERAS = ("Canon EOS R5", "Canon EOS R6", "Nikon Z7 II", "Sony Alpha 7 IV")


@pytest.mark.parametrize(
    ("options", "response", "parsed"),
    [
        (WATCHES, "It's the Speedmaster Professional, going by the tachymeter.", WATCHES[0]),
        (WATCHES, "A Patek Philippe, clearly.", WATCHES[2]),
        (WATCHES, "a Calatrava", WATCHES[2]),  # one capitalised word only one option has
        (WATCHES, "a calatrava", None),  # lowercase: could be a common word
        (("monarch butterfly", "painted lady", "red admiral"), "Butterfly.", None),  # coarse
        (WATCHES, "Not the Submariner Date; the case is too thin.", None),
        (CAMERAS, "Canon EOS R7", None),  # shared by two options, and another model
        (CAMERAS, "Nikon Z7 III", None),  # another model number than the option's
        (CAMERAS, "the Sony Alpha 7", CAMERAS[3]),
        (CAMERAS, "A Sony camera with a tilting screen.", None),  # the make alone is coarser
        (WATCHES, "It is a Cartier.", None),
    ],
)
def test_an_option_named_by_most_of_its_words(options, response, parsed):
    for lettered in (True, False):
        assert score(_mc(options, options[0], lettered=lettered), response).parsed == parsed


def test_diacritics_do_not_matter():
    foods = ("pho", "ramen", "udon", "laksa")
    assert score(_mc(foods, "pho", lettered=False), "Phở").correct
    assert score(_sa("creme brulee"), "Crème brûlée.").correct
    assert score(_sa("pho"), "Phở bò").correct
    assert not score(_sa("pho"), "Ramen, not phở.").correct


@pytest.mark.parametrize(
    ("response", "says"),
    [
        ("Yes, the photo is clear, but it is not a Laysan albatross; it is a gull.", "no"),
        ("Judging by the bill, this appears to be", "unparsed"),  # cut off
        ("There is no doubt that this is a Laysan albatross.", "yes"),
        ("Without a doubt it is a Laysan albatross.", "yes"),
        ("The long bill makes it a black-footed albatross rather than a Laysan.", "no"),
        ("Right, it is not a Laysan albatross.", "no"),
        ("Correct: this isn't a Laysan albatross but a sooty one.", "no"),
        ("Answer: No (p=0.64)", "no"),
    ],
)
def test_true_false_turns_doubts_and_cut_off_answers(response, says):
    assert _reads(_tf("yes"), _tf("no"), response) == says


@pytest.mark.parametrize(
    ("response", "lettered", "parsed"),
    [
        ("La respuesta es C.", True, "sooty albatross"),
        ("Die Antwort ist A.", True, "black footed albatross"),
        ("La réponse correcte est D.", True, "baird sparrow"),
        ("这是laysan albatross。", False, "laysan albatross"),
        (
            "Laysan albatross. If the head were darker it could have been a sooty albatross.",
            False,
            "laysan albatross",
        ),
        ("albatross laysan", False, "laysan albatross"),  # its words in another order
    ],
)
def test_multiple_choice_other_languages_and_hypotheticals(response, lettered, parsed):
    assert score(_mc(lettered=lettered), response).parsed == parsed


@pytest.mark.parametrize(
    ("truth", "accepted", "response", "correct", "how"),
    [
        ("laysan albatross", (), "It looks like a Laysan albatross, but the dark mantle "
         "indicates a black-footed albatross.", False, "text"),
        ("Audi R8 Coupe 2012", (), "2012 Audi R8 Coupe", True, "text"),
        ("seven-spotted ladybird", (), "7-spotted ladybird", True, "text"),
        ("Pinot Grigio", ("Pinot Gris",), "Pinot Gris/Grigio", True, "synonym"),
        ("Pinot Grigio", ("Pinot Gris",), "Pinot Grigio or Sauvignon Blanc", False, "hedge"),
        ("Pinot Grigio", (), "Pinot Grigio or Pinot Noir", False, "hedge"),
    ],
)  # fmt: skip
def test_short_answer_corrections_reordering_numbers_and_joined_names(
    truth, accepted, response, correct, how
):
    q = Question(
        "id", "x", "a.jpg", "p", "sa", "granularity", "species", truth, truth, "t", (), False,
        "", accepted,
    )  # fmt: skip
    s = score(q, response)
    assert (s.correct, s.how) == (correct, how)
