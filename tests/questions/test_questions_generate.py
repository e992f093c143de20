"""Question generation: counts, balance, option rules, nouns, ids, determinism, errors."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import FrozenInstanceError, fields, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from questions_replicas import BIRDS, cub_like, flat, many_classes

from pytest_fgbmk import rule_versions
from pytest_fgbmk.data.records import Category, Dataset, Sample
from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.hashing import derive_seed
from pytest_fgbmk.questions.cases import Case, build_questions, cases_for
from pytest_fgbmk.questions.generate import (
    LevelPools,
    attribute,
    balanced_roles,
    granularity,
    knowledge_bias,
    level_pools,
    new_question,
    truth_positions,
)
from pytest_fgbmk.questions.ids import question_id
from pytest_fgbmk.questions.records import Question
from pytest_fgbmk.questions.subsample import stratified
from pytest_fgbmk.questions.templates import EXTENDED, ORIGINAL, template_set
from pytest_fgbmk.questions.text import clashes, normalize
from tests.harness import in_fresh_interpreters

CUB = cub_like()


def _all(ds, **kw):
    return {c.id: build_questions(ds, c, **kw) for c in cases_for(ds)}


def test_cases_for_cub_like_exact_ids():
    assert [c.id for c in cases_for(CUB)] == [
        "cub-wing_color-tf", "cub-wing_color-mc", "cub-bill_shape-tf", "cub-bill_shape-mc",
        "cub-knowledge_bias-tf",
        "cub-class-tf", "cub-class-mc", "cub-genus-tf", "cub-genus-mc",
        "cub-species-tf", "cub-species-mc", "cub-species-sa",
    ]  # fmt: skip
    assert [c.id for c in cases_for(CUB, ["granularity"])][-1] == "cub-species-sa"
    assert Case("inat2021", "granularity", "family", "mc").id == "inat2021-family-mc"
    with pytest.raises(ConfigError, match="unknown task"):
        cases_for(CUB, ["colour"])


def test_counts_per_case():
    qs = _all(CUB)
    n_test = 7 * 5
    # granularity: every test image once (tf: odd count → one image asked twice)
    assert len(qs["cub-species-mc"]) == len(qs["cub-species-sa"]) == n_test
    assert len(qs["cub-species-tf"]) == n_test + 1
    assert len(qs["cub-knowledge_bias-tf"]) == 2 * n_test
    # bill shape: certainty 1 on image j == 3 (one per class) is below "probably"
    assert len(qs["cub-bill_shape-mc"]) == n_test - 7
    assert len(qs["cub-bill_shape-tf"]) == n_test - 7
    assert {q.image for q in qs["cub-species-tf"]} == {s.path for s in CUB.split("test")}


@pytest.mark.parametrize("case", [c for c in cases_for(CUB) if c.qtype == "tf"], ids=lambda c: c.id)
def test_true_false_exactly_half_positive(case):
    qs = build_questions(CUB, case)
    truths = Counter(q.truth for q in qs)
    assert truths["yes"] == truths["no"] == len(qs) // 2
    for q in qs:
        if q.task == "attribute":
            sample = next(s for s in CUB.samples if s.path == q.image)
            held = {a.value for a in sample.annotations if a.group == q.facet}
            assert (q.asked in held) == (q.truth == "yes")
        else:
            if q.facet == "species":
                assert (q.asked == q.category) == (q.truth == "yes")
            if q.truth == "no":
                assert not clashes(q.asked, q.category)


def test_knowledge_bias_one_positive_one_negative_per_image_from_same_genus():
    qs = build_questions(CUB, Case("cub", "knowledge_bias", "species", "tf"))
    by_image: dict[str, list] = {}
    for q in qs:
        by_image.setdefault(q.image, []).append(q)
    genus = {t[-1]: t[1] for t in BIRDS}
    for pair in by_image.values():
        assert sorted(q.truth for q in pair) == ["no", "yes"]
        pos = next(q for q in pair if q.truth == "yes")
        neg = next(q for q in pair if q.truth == "no")
        assert pos.asked == pos.category
        if genus[pos.category] in ("albatross", "sparrow"):  # genera with siblings
            assert genus[neg.asked] == genus[pos.category]


def test_mc_four_unique_options_siblings_first():
    genus = {t[-1]: t[1] for t in BIRDS}
    for q in build_questions(CUB, Case("cub", "granularity", "species", "mc")):
        assert len(q.options) == 4 and len(set(map(normalize, q.options))) == 4
        assert q.options.count(q.truth) == 1 and q.truth == q.category
        sibs = [o for o in q.options if o != q.truth and genus[o] == genus[q.truth]]
        n_sibs = sum(1 for t in BIRDS if t[1] == genus[q.truth]) - 1
        assert len(sibs) == min(3, n_sibs)
        assert all(not clashes(o, q.truth) for o in q.options if o != q.truth)
        assert q.prompt.endswith("Answer the question using a single word or phrase.")


def test_builtin_siblings_for_single_name_level():
    qs = build_questions(CUB, Case("cub", "granularity", "class", "tf"))
    negs = {q.asked for q in qs if q.truth == "no"}
    # the names the release's CUB class-level true/false file asks about (no actinopterygii)
    release_tf = {"mammalia", "reptilia", "amphibia", "insecta", "arachnida", "chondrichthyes"}
    assert negs == release_tf
    assert {q.asked for q in qs if q.truth == "yes"} == {"aves"}
    assert all(
        "of the object" in q.prompt or "this object" in q.prompt or "object class" in q.prompt
        for q in qs
    )
    mc = build_questions(CUB, Case("cub", "granularity", "class", "mc"))
    assert all(len(q.options) == 4 and "aves" in q.options for q in mc)
    # the release's class-level options: aves, reptilia, amphibia, insecta, arachnida, mammalia
    options = {o for q in mc for o in q.options}
    assert options == {"aves", "reptilia", "amphibia", "insecta", "arachnida", "mammalia"}


def test_level_without_names_or_builtin_list_is_left_out_and_raises():
    ds = replace(
        CUB,
        levels=("order", "genus", "species"),
        categories=tuple(
            Category(c.index, c.name, ("passeriformes", *c.taxonomy[1:])) for c in CUB.categories
        ),
        samples=tuple(replace(s, taxonomy=("passeriformes", *s.taxonomy[1:])) for s in CUB.samples),
    )
    assert "cub-order-tf" not in [c.id for c in cases_for(ds)]
    with pytest.raises(ConfigError, match="fewer than two names at level 'order'"):
        build_questions(ds, Case("cub", "granularity", "order", "tf"))


def test_nouns_and_release_wording():
    qs = _all(CUB)
    assert qs["cub-species-sa"][0].prompt in {
        t.format(level="species", noun="aves") for t in ORIGINAL.sa
    }
    # the release's word after "which of the following", per dataset and level (a table)
    assert any("which of the following genera is it?" in q.prompt for q in qs["cub-genus-mc"])
    assert any("which of the following classes is it?" in q.prompt for q in qs["cub-class-mc"])
    assert any("which of the following species is it?" in q.prompt for q in qs["cub-species-mc"])
    inat = replace(many_classes(80), name="inat2021")
    got = {c.id: build_questions(inat, c) for c in cases_for(inat, ("granularity",))}
    for level in ("order", "genus"):  # iNat2021's files keep the level: no "genera"
        said = [
            f"which of the following {level} is it?" in q.prompt
            for q in got[f"inat2021-{level}-mc"]
        ]
        assert any(said)
    assert all(" bird" in q.prompt for q in qs["cub-wing_color-tf"])
    inat = Dataset(
        "inat2021", CUB.root, "natural", ("kingdom", "phylum", "species"),
        (Category(0, "Rosa majalis", ("Plantae", "Tracheophyta", "Rosa majalis")),
         Category(1, "Rosa canina", ("Plantae", "Tracheophyta", "Rosa canina"))),
        tuple(Sample(f"s{i}", f"val/{i}.jpg", i % 2, ("Rosa majalis", "Rosa canina")[i % 2], "test",
                     (("Plantae", "Tracheophyta", "Rosa majalis"), ("Plantae", "Tracheophyta", "Rosa canina"))[i % 2])
              for i in range(6)),
    )  # fmt: skip
    kq = build_questions(inat, Case("inat2021", "granularity", "kingdom", "tf"))
    assert all("object" in q.prompt for q in kq)
    assert {q.asked for q in kq if q.truth == "no"} <= {
        "Animalia",
        "Fungi",
        "Protozoa",
        "Chromista",
    }
    sq = build_questions(inat, Case("inat2021", "granularity", "species", "sa"))
    assert all(" plantae " in q.prompt for q in sq)
    assert [c.id for c in cases_for(inat)] == [
        "inat2021-knowledge_bias-tf", "inat2021-kingdom-tf", "inat2021-kingdom-mc",
        "inat2021-phylum-tf", "inat2021-phylum-mc",
        "inat2021-species-tf", "inat2021-species-mc", "inat2021-species-sa",
    ]  # fmt: skip
    pm = build_questions(inat, Case("inat2021", "granularity", "phylum", "mc"))
    assert all(len(q.options) == 4 and "Tracheophyta" in q.options for q in pm)


def test_no_option_contains_the_truth_as_whole_words():
    ds = flat(
        ("dress", "sundress", "wrap dress", "maxi dress", "skirt", "blouse", "jeans", "Dress")
    )
    for qtype in ("mc", "tf"):
        for q in build_questions(ds, Case("deepfashion", "granularity", "category", qtype)):
            others = [o for o in q.options if o != q.truth] or (
                [q.asked] if q.truth == "no" else []
            )
            for o in others:
                assert not clashes(o, q.category), (q.category, o)
    mc = build_questions(ds, Case("deepfashion", "granularity", "category", "mc"))
    assert any("sundress" in q.options for q in mc if q.truth == "dress")
    assert not any("wrap dress" in q.options for q in mc if q.truth == "dress")


def test_truth_position_uniform_over_10k():
    names = tuple(f"species {chr(97 + i)}{chr(97 + j)}" for i in range(10) for j in range(10))
    ds = flat(names, per_class=100)
    qs = build_questions(ds, Case("deepfashion", "granularity", "category", "mc"))
    assert len(qs) == 10_000
    pos = Counter(q.options.index(q.truth) for q in qs)
    assert all(abs(pos[i] / 10_000 - 0.25) <= 0.03 for i in range(4)), pos
    assert all(len(set(q.options)) == 4 for q in qs)


def test_attribute_mc_options_argument():
    case = Case("cub", "attribute", "wing color", "mc")
    four = build_questions(CUB, case)
    assert {len(q.options) for q in four} == {4}
    every = build_questions(CUB, case, mc_options=None)
    for q in every:
        sample = next(s for s in CUB.samples if s.path == q.image)
        held = {a.value for a in sample.annotations if a.group == "wing color"}
        assert set(q.options) == {q.truth} | (set(CUB.attribute_group("wing color").values) - held)
    assert all(q.truth in q.options for q in four + every)


def test_min_certainty_threshold():
    case = Case("cub", "attribute", "bill shape", "mc")
    assert len(build_questions(CUB, case, min_certainty=1)) == 35
    assert len(build_questions(CUB, case, min_certainty=4)) == 28


def test_determinism_seed_and_template_version():
    c = Case("cub", "granularity", "species", "mc")
    a, b = build_questions(CUB, c), build_questions(CUB, c)
    assert a == b
    other = build_questions(CUB, c, seed=1)
    assert [q.options for q in other] != [q.options for q in a]
    ext = build_questions(CUB, c, templates="extended")
    assert all(q.template_id.startswith("extended-x1:mc:") and q.lettered for q in ext)
    assert all("\nA. " in q.prompt and "\nD. " in q.prompt for q in ext)
    assert not {q.id for q in ext} & {q.id for q in a}
    assert len(EXTENDED.tf) == len(EXTENDED.mc) == len(EXTENDED.sa) == 10
    assert len(ORIGINAL.tf) == len(ORIGINAL.mc) == len(ORIGINAL.sa) == 4
    with pytest.raises(ConfigError, match="unknown template set"):
        template_set("fancy")


def test_ids_and_seeds_are_stable_constants():
    # same inputs → same id on every machine (blake2b, never hash()): the ids and seeds are
    # pinned, and two fresh interpreters with different hash seeds give the same ones
    assert question_id(
        "cub", "a.jpg", "granularity", "species", "tf", "yes", "x", "original-r1:tf:0"
    ) == (
        question_id("cub", "a.jpg", "granularity", "species", "tf", "yes", "x", "original-r1:tf:0")
    )
    assert len(question_id("a", "b", "c", "d", "e", "f", "g", "h")) == 16
    assert derive_seed("cub", "granularity", "test") == derive_seed("cub", "granularity", "test")
    assert derive_seed("cub", "granularity", "test") != derive_seed("cub", "attribute", "test")
    here = (
        question_id("cub", "a.jpg", "granularity", "species", "tf", "yes", "x", "original-r1:tf:0"),
        question_id("a", "b", "c", "d", "e", "f", "g", "h"),
        derive_seed("cub", "granularity", "test"),
    )
    assert here == ("05d7aa11da4118ef", "7e275b57639db316", 5901286456534222433)
    code = (
        "from pytest_fgbmk.hashing import derive_seed\nfrom pytest_fgbmk.questions.ids import question_id\n"
        "print(question_id('cub', 'a.jpg', 'granularity', 'species', 'tf', 'yes', 'x',"
        " 'original-r1:tf:0'), question_id('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'),"
        " derive_seed('cub', 'granularity', 'test'))"
    )
    assert in_fresh_interpreters(code) == [" ".join(map(str, here))] * 2


@settings(max_examples=15, deadline=None)
@given(st.randoms(use_true_random=False))
def test_ids_stable_under_sample_reordering(r):
    samples = list(CUB.samples)
    r.shuffle(samples)
    shuffled = replace(CUB, samples=tuple(samples))
    for case in cases_for(CUB):
        a = build_questions(CUB, case)
        b = build_questions(shuffled, case)
        assert sorted(q.id for q in a) == sorted(q.id for q in b)
        assert sorted(a, key=lambda q: q.id) == sorted(b, key=lambda q: q.id)


def test_ids_unique_within_case():
    for qs in _all(CUB).values():
        assert len({q.id for q in qs}) == len(qs)


def test_stratified_limit_keeps_every_category():
    qs = build_questions(CUB, Case("cub", "granularity", "species", "tf"))
    sub = build_questions(CUB, Case("cub", "granularity", "species", "tf"), limit=14)
    assert len(sub) == 14
    assert {q.category for q in sub} == {q.category for q in qs}
    assert Counter(q.truth for q in sub) == Counter({"yes": 7, "no": 7})
    assert sub == build_questions(CUB, Case("cub", "granularity", "species", "tf"), limit=14)
    assert set(sub) <= set(qs)
    # order-independent: same subset from a shuffled list
    shuffled = list(qs)
    random.Random(3).shuffle(shuffled)
    assert {q.id for q in stratified(shuffled, 14)} == {q.id for q in sub}
    assert stratified(qs, None) == qs and stratified(qs, 0) == ()
    few = stratified(qs, 3)
    assert len({q.category for q in few}) == 3


def test_draw_prefers_nearest_pool_and_samples_large_pools():
    pools = LevelPools.build(CUB, 2)
    rng = random.Random(0)
    for _ in range(20):
        got = pools.draw(("aves", "albatross", "laysan albatross"), 3, rng)
        assert sorted(got[:2]) == ["black footed albatross", "sooty albatross"]
        assert got[2] not in got[:2] and "laysan albatross" not in got
    # a flat level of 500 names is sampled, never scanned; still no clash and no repeat
    names = tuple(f"gown {i}" for i in range(500)) + tuple(f"dress {i}" for i in range(300))
    big = LevelPools.build(flat((*names, "dress", "sundress", "wrap dress"), per_class=1), 0)
    drawn = Counter()
    for _ in range(3000):
        got = big.draw(("dress",), 3, rng)
        assert len(set(got)) == 3 and not any(clashes(g, "dress") for g in got)
        drawn.update(got)
    assert drawn["sundress"] > 0 and len(drawn) > 400
    # when nearly everything clashes, rejection gives up and the pool is filtered in full
    only = LevelPools.build(
        flat((*(f"dress {i}" for i in range(300)), "dress", "sundress"), per_class=1), 0
    )
    assert only.draw(("dress",), 3, rng) == ["sundress"]


def test_build_questions_errors():
    with pytest.raises(ConfigError, match="no level 'family'"):
        build_questions(CUB, Case("cub", "granularity", "family", "tf"))
    with pytest.raises(ConfigError, match="no attribute group 'tail'"):
        build_questions(CUB, Case("cub", "attribute", "tail", "tf"))
    with pytest.raises(ConfigError, match="true/false only"):
        build_questions(CUB, Case("cub", "knowledge_bias", "species", "mc"))
    with pytest.raises(ConfigError, match="finest level"):
        build_questions(CUB, Case("cub", "granularity", "genus", "sa"))
    with pytest.raises(ConfigError, match="belongs to dataset"):
        build_questions(CUB, Case("dogs", "granularity", "species", "sa"))
    assert (
        cases_for(replace(CUB, samples=tuple(s for s in CUB.samples if s.split == "train"))) == []
    )


def test_names_are_shown_as_written_and_synonyms_carried():
    sa = build_questions(CUB, Case("cub", "granularity", "species", "sa"))
    assert all("_" not in q.truth for q in sa)
    first = [q for q in sa if q.category == "black footed albatross"]
    assert first and all(q.accepted == ("black footed albatross bird",) for q in first)


def _digest(datasets, **kw) -> str:
    h = hashlib.sha256()
    names = [f.name for f in fields(Question)]
    for ds in datasets:
        for case in cases_for(ds):
            for q in build_questions(ds, case, **kw):
                h.update(repr([getattr(q, n) for n in names]).encode() + b"\n")
    return h.hexdigest()


def test_generated_questions_are_pinned():
    """Every field of every question, pinned: speed-ups must not change what is asked.

    Covers sibling pools, built-in siblings, clashing names, rejection sampling from a level
    of more than 48 names, odd counts, shuffled sample order, both template sets and the
    all-candidates attribute MC. An intended change of wording or drawing bumps
    ``rule_versions.QUESTIONS`` (so baselines of the old questions ask to be rewritten) and
    pins the new digests under the new version.
    """
    pins = {
        "3": (
            "0dc2cbb49bddf3d7af59796d42070d841e82a76ce1363508ce9d71a5a6e9e569",
            "837efce6d8100da9e727fb211f3bcf68898cca7d9041365269cc8163279a1a10",
        ),
        "4": (
            "450145695a7ba789df1b074d5ac1a72d8dd0b4efa9390e6bf4023e480c61ba3d",
            "5d3889f78485f2998c2731bf4f261c48a6b50755f0b0fe6bce26ab90ac96683c",
        ),
    }
    clashing = flat(("dress", "wrap dress", "sundress", "Wrap-Dress", "jeans", "mini skirt"))
    many = flat(tuple(f"name {i}" for i in range(70)) + ("name", "Name 3 x"), per_class=2)
    datasets = [cub_like(), cub_like(3, order="reversed"), clashing, many]
    got = (_digest(datasets), _digest(datasets, templates="extended", mc_options=None, seed=5))
    assert got == pins.get(rule_versions.QUESTIONS), (
        "the generated questions changed: bump rule_versions.QUESTIONS and pin "
        f"{got} under the new version"
    )


def test_fast_question_constructor_equals_the_dataclass():
    values = ("id", "ds", "a.jpg", "Is it?", "mc", "granularity", "species", "cat", "x")
    values += ("original-r1:mc:0", ("x", "y"), True, "", ("z",), "s1")
    q = new_question(*values)
    assert type(q) is Question and q == Question(*values) and hash(q) == hash(Question(*values))
    assert q.option_synonyms == ()
    values += ((("x1", "x2"), ()),)
    q = new_question(*values)
    assert type(q) is Question and q == Question(*values) and hash(q) == hash(Question(*values))
    with pytest.raises(FrozenInstanceError):
        q.truth = "y"  # type: ignore[misc]


def _roles_reference(items, can_negative, rng):
    """The sort-based construction balanced_roles replaced."""
    order = list(items)
    rng.shuffle(order)
    negs = [x for x in order if can_negative(x)]
    n, half = len(order), (len(order) + 1) // 2
    if len(negs) >= half:
        neg_set = negs[:half]
        pos = [x for x in order if x not in neg_set] + ([neg_set[0]] if n % 2 else [])
    else:
        neg_set = negs
        pos = [x for x in order if x not in neg_set][: len(neg_set)]
    roles = [(x, True) for x in pos] + [(x, False) for x in neg_set]
    return sorted(roles, key=lambda r: (items.index(r[0]), not r[1]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), max_size=30), st.integers(0, 2**32))
def test_balanced_roles_matches_reference(negatable, seed):
    items = [(i, ok) for i, ok in enumerate(negatable)]
    got = balanced_roles(items, lambda it: it[1], random.Random(seed))
    assert got == _roles_reference(items, lambda it: it[1], random.Random(seed))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(2, 6), max_size=40), st.integers(0, 2**32))
def test_truth_positions_are_uniform_within_each_option_count(sizes, seed):
    places = truth_positions(sizes, random.Random(seed))
    assert len(places) == len(sizes)
    assert all(0 <= at < k for at, k in zip(places, sizes, strict=True))
    for k in set(sizes):
        got = Counter(at for at, size in zip(places, sizes, strict=True) if size == k)
        counts = [got.get(p, 0) for p in range(k)]
        assert max(counts) - min(counts) <= 1
    assert places == truth_positions(sizes, random.Random(seed))


def test_every_multiple_choice_case_puts_the_truth_evenly():
    """The full case (no limit): "always A" scores 1/k up to one question."""
    for case_id, qs in _all(CUB).items():
        if not case_id.endswith("-mc"):
            continue
        for k in {len(q.options) for q in qs}:
            got = Counter(q.options.index(q.truth) for q in qs if len(q.options) == k)
            counts = [got.get(p, 0) for p in range(k)]
            assert max(counts) - min(counts) <= 1, (case_id, k, counts)


def test_generators_same_for_a_split_tuple_and_a_copy():
    test = CUB.split("test")
    for gen in (
        lambda s, r: granularity(CUB, s, "genus", "mc", ORIGINAL, r),
        lambda s, r: knowledge_bias(CUB, s, ORIGINAL, r),
        lambda s, r: attribute(CUB, s, "wing color", "tf", ORIGINAL, r),
    ):
        cached = gen(test, random.Random(1))
        assert gen(test, random.Random(1)) == cached
        assert gen(list(reversed(test)), random.Random(1)) == cached
    assert level_pools(CUB, 2) is level_pools(CUB, 2)


def test_every_level_s_pools_read_the_sample_paths_collected_once():
    from pytest_fgbmk.questions import generate

    paths = generate._sample_paths(CUB)
    assert paths == {generate.sample_path(CUB, s) for s in CUB.samples}
    assert generate._sample_paths(CUB) is paths
    for level in range(len(CUB.levels)):
        pools = generate.LevelPools.build(CUB, level)
        want = {c.taxonomy[level] for c in CUB.categories} | {p[level] for p in paths}
        assert set(pools.names) == want
