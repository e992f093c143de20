"""Scoring properties (hypothesis) and aggregation against scipy's reference interval."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from pytest_fgbmk.questions.records import Question
from pytest_fgbmk.questions.text import clashes, normalize
from pytest_fgbmk.scoring import HOWS, Scored, score, summarize, wilson

names = st.text(st.characters(categories=("L", "N", "Zs", "P")), min_size=1, max_size=25).filter(
    lambda s: normalize(s) != ""
)


@st.composite
def mc_questions(draw):
    opts = draw(st.lists(names, min_size=2, max_size=5))
    assume(all(not clashes(a, b) for i, a in enumerate(opts) for b in opts[i + 1 :]))
    truth = draw(st.sampled_from(opts))
    lettered = draw(st.booleans())
    return Question(
        "i", "d", "im", "p", "mc", "granularity", "l", "c", truth, "t", tuple(opts), lettered
    )


def _q(qtype, truth, prompt="p", **kw):
    return Question("i", "d", "im", prompt, qtype, "granularity", "l", "c", truth, "t", **kw)


@settings(max_examples=150, deadline=None)
@given(mc_questions())
def test_exact_truth_right_and_exact_wrong_option_wrong(q):
    assert score(q, q.truth) == Scored(True, q.truth, "text")
    for o in q.options:
        if o != q.truth:
            s = score(q, o)
            assert not s.correct and s.parsed == o


@settings(max_examples=100, deadline=None)
@given(names, st.lists(names, max_size=2))
def test_short_answer_exact_truth_and_synonyms_right(truth, synonyms):
    q = _q("sa", truth, accepted=tuple(synonyms))
    assert score(q, truth).correct
    assert all(score(q, s).correct for s in synonyms)


def test_true_false_exact_truth_and_opposite():
    for truth, wrong in (("yes", "no"), ("no", "yes")):
        assert score(_q("tf", truth), truth).correct
        assert not score(_q("tf", truth), wrong).correct


QUESTIONS = [
    _q("tf", "yes"),
    _q("tf", "no"),
    _q("mc", "b b", options=("a", "b b", "c-d", "é"), lettered=True),
    _q("mc", "c-d", options=("a", "b b", "c-d", "é")),
    _q("sa", "black footed albatross", accepted=("Phoebastria nigripes",)),
]


@settings(max_examples=200, deadline=None)
@given(st.text(), st.sampled_from(QUESTIONS), st.sampled_from(["strict", "official"]))
def test_never_raises_on_any_unicode(response, q, mode):
    s = score(q, response, mode)
    assert s.how in HOWS and s.how != "error"
    assert isinstance(s.correct, bool)


@pytest.mark.parametrize("q", QUESTIONS, ids=lambda q: q.qtype + q.truth)
def test_never_raises_on_empty_and_one_megabyte(q):
    big = ("The bird is perhaps a laysan albatross, or not. " * 25_000)[: 1 << 20]
    for response in (
        "",
        big,
        "<think>" + big,
        "<think>" + big + "</think>yes",
        "\x00" * (1 << 20),
        "\ud800",
    ):
        for mode in ("strict", "official"):
            s = score(q, response, mode)
            assert s.how != "error"


def test_summary_exact_values_and_wilson_matches_scipy():
    qs = [
        _q("tf", "yes"),
        _q("tf", "no"),
        _q("tf", "yes"),
        _q("tf", "no"),
    ]
    qs = [
        Question(
            f"i{k}",
            "d",
            f"img{k // 2}",
            "p",
            "tf",
            "knowledge_bias",
            "species",
            f"cat{k % 2}",
            q.truth,
            "t",
        )
        for k, q in enumerate(qs)
    ]
    always_yes = [score(q, "Yes, it is.") for q in qs]
    s = summarize(qs, always_yes)
    assert (s.accuracy, s.n, s.unparsed_rate) == (50.0, 4, 0.0)
    assert s.per_category == {"cat0": (2, 2), "cat1": (0, 2)}
    assert s.all_correct_accuracy == 0.0
    ci = binomtest(2, 4).proportion_ci(confidence_level=0.95, method="wilson")
    assert s.low == pytest.approx(ci.low * 100, abs=1e-9) and s.high == pytest.approx(
        ci.high * 100, abs=1e-9
    )
    mixed = [score(q, r) for q, r in zip(qs, ["yes", "no", "I do not know", "nope"], strict=True)]
    m = summarize(qs, mixed)
    assert (m.accuracy, m.unparsed_rate, m.all_correct_accuracy) == (75.0, 0.0, 50.0)
    assert (m.refusal_rate, s.refusal_rate) == (25.0, 0.0)  # "I do not know" declines
    odd = summarize(
        qs, [score(q, r) for q, r in zip(qs, ["yes", "no", "Maybe.", "?"], strict=True)]
    )
    assert (odd.unparsed_rate, odd.refusal_rate) == (50.0, 0.0)
    for k, n in ((0, 10), (7, 10), (10, 10), (123, 1000), (1, 1)):
        ci = binomtest(k, n).proportion_ci(method="wilson")
        lo, hi = wilson(k, n)
        assert (lo, hi) == (
            pytest.approx(ci.low * 100, abs=1e-9),
            pytest.approx(ci.high * 100, abs=1e-9),
        )
    assert wilson(0, 0) == (0.0, 100.0)
    with pytest.raises(ValueError, match="no questions"):
        summarize([], [])
    with pytest.raises(ValueError, match="4 questions but 1"):
        summarize(qs, always_yes[:1])


# -- issue 14: properties of reading answers -------------------------------------------------

#: Category-like names: one to three lowercase words (a name is not a function word).
_FUNCTION_WORDS = {"and", "are", "but", "either", "for", "may", "maybe", "might", "nor", "not",
                   "the", "than", "yes", "could", "option", "answer", "choice", "letter",
                   "unlike", "instead", "rather", "except", "none", "never", "neither"}  # fmt: skip
word = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz"), min_size=3, max_size=9).filter(
    lambda w: w not in _FUNCTION_WORDS
)
category = st.lists(word, min_size=1, max_size=3).map(" ".join)


@st.composite
def named_mc(draw, lettered=None):
    opts = draw(st.lists(category, min_size=2, max_size=5, unique=True))
    assume(all(not clashes(a, b) for i, a in enumerate(opts) for b in opts[i + 1 :]))
    truth = draw(st.sampled_from(opts))
    lettered = draw(st.booleans()) if lettered is None else lettered
    return _q("mc", truth, options=tuple(opts), lettered=lettered)


def _a(name: str) -> str:
    return f"a {name}"


OFFERS = [
    lambda ns, ls: " or ".join(ns),
    lambda ns, ls: "Either " + " or ".join(map(_a, ns)) + ".",
    lambda ns, ls: ", ".join(ns),
    lambda ns, ls: ", ".join(ns[:-1]) + ", or " + ns[-1],
    lambda ns, ls: f"It could be {_a(ns[0])} or {_a(ns[1])}.",
    lambda ns, ls: f"Maybe {_a(ns[0])}, maybe {_a(ns[1])}.",
    lambda ns, ls: " / ".join(ns),
    lambda ns, ls: f"Possibly {_a(ns[0])}; possibly {_a(ns[1])}.",
    lambda ns, ls: f"It might be {_a(ns[0])}. It could also be {_a(ns[1])}.",
    lambda ns, ls: f"**{ns[0].title()}** or **{ns[1].title()}**",
    lambda ns, ls: f"<think>hmm</think>The answer is {ns[0]} or {ns[1]}.",
]
LETTER_OFFERS = [
    lambda ns, ls: "Answer: " + ", ".join(ls),
    lambda ns, ls: " ".join(f"({x})" for x in ls),
    lambda ns, ls: "\n".join(f"{x}) {n.title()}" for x, n in zip(ls, ns, strict=True)),
    lambda ns, ls: " or ".join(ls),
    lambda ns, ls: f"The answer is {ls[0]} or {ls[1]}.",
    lambda ns, ls: f"({ls[0]}) or ({ls[1]})",
]


@settings(max_examples=300, deadline=None)
@given(named_mc(), st.data())
def test_offering_several_options_is_never_right(q, data):
    """Several options put forward as possible answers: never right (hedge or unparsed)."""
    t = q.options.index(q.truth)
    others = data.draw(st.permutations([i for i in range(len(q.options)) if i != t]))
    k = data.draw(st.integers(1, len(others)))
    chosen = data.draw(st.permutations([t, *others[:k]]))
    names, letters = [q.options[i] for i in chosen], [chr(65 + i) for i in chosen]
    offers = OFFERS + (LETTER_OFFERS if q.lettered else [])
    response = data.draw(st.sampled_from(offers))(names, letters)
    s = score(q, response)
    assert not s.correct, (response, s)
    assert s.how in ("hedge", "unparsed"), (response, s)


@settings(max_examples=100, deadline=None)
@given(category, st.lists(category, min_size=1, max_size=3), st.sampled_from(OFFERS))
def test_short_answer_offering_several_names_is_never_right(truth, others, offer):
    assume(all(not clashes(truth, o) for o in others))
    names = [truth, *others] if len(others) > 1 else [others[0], truth]
    s = score(_q("sa", truth), offer(names, []))
    assert (s.correct, s.how) == (False, "hedge"), (offer(names, []), s)


DISAGREE = [
    "{L}) {o}",
    "({L}) {o}",
    "{L}. {o}",
    "[{L}] {o}",
    "Answer: ({L}) {o}",
    "The answer is {L}: {o}.",
    "**{L}.** {o}",
    "Final answer: {L}) {O}",
]


@settings(max_examples=300, deadline=None)
@given(named_mc(lettered=True), st.data())
def test_letter_and_option_text_disagreeing_is_unparsed(q, data):
    i, j = data.draw(st.permutations(range(len(q.options))))[:2]
    template = data.draw(st.sampled_from(DISAGREE))
    response = template.format(L=chr(65 + i), o=q.options[j], O=q.options[j].title())
    assert score(q, response) == Scored(False, None, "unparsed"), response
    agree = template.format(L=chr(65 + i), o=q.options[i], O=q.options[i].title())
    assert score(q, agree) == Scored(q.options[i] == q.truth, q.options[i], "letter"), agree


REFUSALS = [
    "I'm not sure.",
    "But I can't tell for certain.",
    "No idea, really.",
    "There is no way to know from this image.",
    "Hard to say.",
    "It is not clear from the photo.",
    "不确定。",
]
RIGHT = {
    "tf": ["Yes", "Yes, it is.", "It is a laysan albatross.", "The answer is yes."],
    "mc": ["B", "(B) laysan albatross", "laysan albatross", "The answer is B.", "Answer: b"],
    "sa": ["laysan albatross", "It is a Laysan Albatross.", "Final answer: laysan albatrosses"],
}
APPEND_QS = [
    _q("tf", "yes", asked="laysan albatross"),
    _q("tf", "no", asked="laysan albatross"),
    _q(
        "mc",
        "laysan albatross",
        options=("black footed albatross", "laysan albatross", "sooty albatross"),
        lettered=True,
    ),  # fmt: skip
    _q("sa", "laysan albatross"),
]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(APPEND_QS),
    st.one_of(st.text(max_size=60), st.sampled_from(sum(RIGHT.values(), []))),
    st.sampled_from(REFUSALS),
    st.sampled_from([" ", ". ", "\n", " - "]),
)
def test_appending_a_refusal_does_not_make_an_answer_more_right(q, response, refusal, sep):
    before, after = score(q, response), score(q, response + sep + refusal)
    assert after.correct <= before.correct, (response, before, after)


@pytest.mark.parametrize("q", APPEND_QS, ids=lambda q: q.qtype + q.truth)
def test_a_right_answer_stays_right_with_a_refusal_appended(q):
    """A caveat after the answer does not withdraw it (the answer was given)."""
    for response in RIGHT[q.qtype]:
        if not score(q, response).correct:
            continue
        for refusal in REFUSALS[1:5]:
            for sep in (". ", "\n"):
                assert score(q, f"{response}{sep}{refusal}").correct, (response, refusal)


MORE_QUESTIONS = [
    _q("tf", "yes", asked="pair of skis"),
    _q("tf", "no", prompt="Is there a cup in the image?"),
    _q(
        "mc", "No", prompt="Is the tail longer than the wing?", options=("Yes", "No"), lettered=True
    ),  # fmt: skip
    _q("sa", "黑脚信天翁", accepted=("Phoebastria nigripes",)),
]


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.lists(
            st.sampled_from(
                [
                    "yes",
                    "no",
                    "not",
                    "A",
                    "(B)",
                    "answer:",
                    "or",
                    "<think>",
                    "</think>",
                    "**",
                    "laysan albatross",
                    "不是",
                    "\n",
                    ",",
                    ".",
                ]
            ),
            max_size=12,
        ).map(" ".join),  # fmt: skip
    ),
    st.sampled_from(QUESTIONS + MORE_QUESTIONS),
    st.sampled_from(["strict", "official"]),
)
def test_never_raises_on_answer_like_text(response, q, mode):
    s = score(q, response, mode)
    assert s.how in HOWS and s.how != "error"
    assert isinstance(s.correct, bool)
    if s.how in ("refusal", "hedge", "unparsed"):
        assert not s.correct and s.parsed is None
