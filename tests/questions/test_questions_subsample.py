"""``--fgbmk-limit`` subsets keep each case's design: property tests over every N.

On every bundled synthetic dataset, a CUB-like replica and a 240-class replica: true/false
exactly balanced, multiple-choice truth positions uniform, categories spread, knowledge-
bias pairs kept together, and constant answerers (always yes, always no, always "A",
always the first option) scoring chance through the real scorer.
"""

from __future__ import annotations

import random
from collections import Counter
from fractions import Fraction
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from questions_replicas import cub_like, many_classes

from pytest_fgbmk.data.records import Dataset
from pytest_fgbmk.questions.cases import build_questions, cases_for
from pytest_fgbmk.questions.records import Question
from pytest_fgbmk.questions.subsample import stratified, stratum, targets
from pytest_fgbmk.scoring import score
from tests.harness import in_fresh_interpreters


@cache
def _synthetic(parent: str) -> tuple[Dataset, ...]:
    from pathlib import Path

    from pytest_fgbmk.data.synth import SynthConfig, ensure_synthetic, load_synthetic
    from pytest_fgbmk.run.options import SYNTH_SIZES

    root = ensure_synthetic(SynthConfig(**SYNTH_SIZES["small"]), Path(parent), progress=None)
    return tuple(load_synthetic(root))


@cache
def _questions(ds: Dataset) -> dict[str, tuple[Question, ...]]:
    return {c.id: build_questions(ds, c) for c in cases_for(ds)}


def _correct(sub, text: str | None) -> int:
    """Right answers of a constant answerer (``None``: the first option's text)."""
    return sum(
        score(q, q.options[0] if text is None else text).correct for q in sub if q.valid_answers
    )


def check_subset(qs: tuple[Question, ...], n: int, seed: int = 0) -> None:
    """Every promise of :func:`stratified` for one case at one N."""
    sub = stratified(qs, n, seed)
    # deterministic, order-independent, a subset in the input order
    assert sub == stratified(qs, n, seed)
    shuffled = list(qs)
    random.Random(n).shuffle(shuffled)
    assert {q.id for q in stratified(shuffled, n, seed)} == {q.id for q in sub}
    pos = {q.id: i for i, q in enumerate(qs)}
    assert [pos[q.id] for q in sub] == sorted(pos[q.id] for q in sub)

    kb = qs[0].task == "knowledge_bias"
    units = Counter(q.sample_id for q in sub) if kb else None
    if kb:
        pairs = len({q.sample_id for q in qs})
        assert len(sub) == 2 * min(max(1, n // 2), pairs)
        assert set(units.values()) == {2}  # every kept image with both its questions
    else:
        assert len(sub) == min(n, len(qs))
    m = len(sub)

    # categories as even as N allows (in units: an image's pair counts once)
    per_cat = Counter(q.category for q in sub)
    all_cats = {q.category for q in qs}
    counts = [per_cat.get(c, 0) // (2 if kb else 1) for c in all_cats]
    if m // (2 if kb else 1) <= 0.9 * len(qs) // (2 if kb else 1):
        assert max(counts) - min(counts) <= 1, (n, Counter(counts))

    have = Counter(stratum(q) for q in qs)
    got = Counter(stratum(q) for q in sub)
    if qs[0].qtype == "tf":
        yes, no = got["yes"], got["no"]
        # exactly balanced, unless one kind runs out
        assert abs(yes - no) <= 1 or min(yes, no) == min(have["yes"], have["no"])
        if abs(yes - no) <= 1:
            for text in ("yes", "No."):
                right = _correct(sub, text)
                assert abs(2 * right - m) <= 1, (text, right, m)  # 50%, one question off if odd
    elif qs[0].qtype == "mc":
        for k in {key[0] for key in have}:
            cells = [got[(k, p)] for p in range(k)]
            full = [got[(k, p)] == have[(k, p)] for p in range(k)]
            short = [c for c, f in zip(cells, full, strict=True) if not f]
            assert not short or max(cells) - min(short) <= 1, (k, cells)
        chance = sum(got_k / key[0] for key, got_k in got.items())
        if all(
            max(got[(k, p)] for p in range(k)) - min(got[(k, p)] for p in range(k)) <= 1
            for k in {key[0] for key in have}
        ):
            # always the first option / always "A" scores 1/k, within one question
            first = _correct(sub, None)
            assert abs(first - chance) <= 1, (first, chance)
            if sub[0].lettered:
                assert abs(_correct(sub, "A") - chance) <= 1


def _every_case(datasets):
    for ds in datasets:
        yield from _questions(ds).items()


@pytest.fixture(scope="module")
def bundled(synth_dir):
    return _synthetic(str(synth_dir))


def test_every_n_on_the_bundled_datasets(bundled):
    """N from 1 to the full size, every case of both bundled datasets."""
    cases = 0
    for _, qs in _every_case(bundled):
        for n in range(1, len(qs) + 1):
            check_subset(qs, n)
        cases += 1
    assert cases > 40


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(0, 2**32))
def test_any_n_and_seed_on_a_240_class_replica(data, seed):
    items = sorted(_questions(MANY).items())
    _, qs = data.draw(st.sampled_from(items))
    n = data.draw(st.integers(1, len(qs)))
    check_subset(qs, n, seed)


MANY = many_classes()


def test_every_n_on_a_cub_like_replica():
    for _, qs in _every_case([cub_like()]):
        for n in range(1, len(qs) + 1):
            check_subset(qs, n)


def test_the_reported_faults_are_gone():
    """Issue 13: at limit 200 on a 200-plus-class dataset 0 of 200 true/false questions
    were "yes" (40% at 1,000); an always-"No." model scored 100% at limit 20."""
    qs = _questions(MANY)["many-species-tf"]
    for n in (20, 200, 240, 700):
        sub = stratified(qs, n)
        assert Counter(q.truth for q in sub) == {"yes": n // 2, "no": n // 2}
        assert 100 * _correct(sub, "No.") / n == 50.0
    kb = stratified(_questions(MANY)["many-knowledge_bias-tf"], 20)
    assert 100 * _correct(kb, "No.") / len(kb) == 50.0


def test_variable_option_counts_keep_each_counts_share():
    """``mc_options=None`` (every candidate): positions uniform within each option count."""
    from pytest_fgbmk.questions.cases import Case

    qs = build_questions(MANY, Case("many", "attribute", "wing color", "mc"), mc_options=None)
    assert len({len(q.options) for q in qs}) >= 1
    for n in (1, 7, 50, 333, len(qs)):
        check_subset(qs, n)


@given(
    sizes=st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 30), min_size=1),
    weights=st.lists(st.integers(1, 5), min_size=6, max_size=6),
    n=st.integers(0, 200),
)
def test_targets_water_fill_exactly(sizes, weights, n):
    """Targets sum to what can be given, never exceed a stratum, and every stratum not full
    gets the same multiple of its share (the full ones would have wanted more)."""
    total = sum(weights[: len(sizes)])
    shares = {k: Fraction(w, total) for k, w in zip(sizes, weights, strict=False)}
    t = targets(sizes, shares, n)
    assert sum(t.values()) == min(n, sum(sizes.values()))
    assert all(0 <= t[k] <= sizes[k] for k in sizes)
    ratios = {t[k] / shares[k] for k in sizes if t[k] < sizes[k]}
    assert len(ratios) <= 1
    if ratios:
        (lam,) = ratios
        assert all(sizes[k] <= lam * shares[k] for k in sizes if t[k] == sizes[k])


def test_subsets_are_the_same_in_every_interpreter():
    """Nothing drawn from ``hash()`` order (sets of strings) decides a subset."""
    code = (
        "import sys; sys.path.insert(0, 'tests/questions')\n"
        "from questions_replicas import many_classes\n"
        "from pytest_fgbmk.questions.cases import build_questions, cases_for\n"
        "from pytest_fgbmk.questions.subsample import stratified\n"
        "ds = many_classes(40)\n"
        "for c in cases_for(ds):\n"
        "    qs = build_questions(ds, c)\n"
        "    print(c.id, [q.id for q in stratified(qs, 9, 3)])\n"
    )
    first, second = in_fresh_interpreters(code, hashseeds=(1, 2))
    assert first == second and first.count("many-") == 10
