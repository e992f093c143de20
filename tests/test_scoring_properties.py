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


def _q(qtype, truth, **kw):
    return Question("i", "d", "im", "p", qtype, "granularity", "l", "c", truth, "t", **kw)


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
    assert (m.accuracy, m.unparsed_rate, m.all_correct_accuracy) == (75.0, 25.0, 50.0)
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
