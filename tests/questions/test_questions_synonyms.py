"""Questions carry the data's synonyms: short answers in ``accepted``, each multiple-choice
option's in ``option_synonyms``; ids stay, the content digest follows them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import pytest
from questions_replicas import cub_like

from pytest_fgbmk.data.records import Category
from pytest_fgbmk.errors import DataFormatError
from pytest_fgbmk.hashing import SEP
from pytest_fgbmk.questions.cases import Case, build_questions, cases_for
from pytest_fgbmk.questions.files import read_jsonl, write_jsonl
from pytest_fgbmk.questions.ids import content_digest
from pytest_fgbmk.questions.records import Question, option_names

#: cub_like with species synonyms on two birds and a synonym on the genus "albatross".
SPECIES_SYNONYMS = {
    "black footed albatross": ("Phoebastria nigripes",),
    "laysan albatross": ("Phoebastria immutabilis", "gooney"),
}


def _with_synonyms(synonyms=SPECIES_SYNONYMS, genus=("Phoebastria",)):
    ds = cub_like()
    cats = tuple(
        Category(
            c.index,
            c.name,
            c.taxonomy,
            synonyms.get(c.name, ()),
            ((), genus, ()) if c.taxonomy[1] == "albatross" and genus else (),
        )
        for c in ds.categories
    )
    return replace(ds, categories=cats)


def test_multiple_choice_options_carry_their_synonyms():
    ds = _with_synonyms()
    qs = build_questions(ds, Case("cub", "granularity", "species", "mc"))
    assert qs
    for q in qs:
        expected = tuple(SPECIES_SYNONYMS.get(o, ()) for o in q.options)
        assert q.option_synonyms == (expected if any(expected) else ())
        assert [option_names(q, i) for i in range(len(q.options))] == [
            (o, *SPECIES_SYNONYMS.get(o, ())) for o in q.options
        ]
    assert any(q.option_synonyms for q in qs) and any(not q.option_synonyms for q in qs)


def test_coarser_level_options_carry_the_taxonomy_synonyms():
    qs = build_questions(_with_synonyms(), Case("cub", "granularity", "genus", "mc"))
    with_albatross = [q for q in qs if "albatross" in q.options]
    assert with_albatross
    for q in with_albatross:
        assert q.option_synonyms == tuple(
            ("Phoebastria",) if o == "albatross" else () for o in q.options
        )
        assert option_names(q, q.options.index("albatross")) == ("albatross", "Phoebastria")
    assert all(q.option_synonyms == () for q in qs if "albatross" not in q.options)


def test_short_answers_accept_the_species_synonyms():
    qs = build_questions(_with_synonyms(), Case("cub", "granularity", "species", "sa"))
    assert {q.truth: q.accepted for q in qs} == {
        "black footed albatross": ("Phoebastria nigripes",),
        "laysan albatross": ("Phoebastria immutabilis", "gooney"),
        "sooty albatross": (),
        "baird sparrow": (),
        "song sparrow": (),
        "black capped vireo": (),
        "baltimore oriole": (),
    }


def test_other_question_kinds_have_no_option_synonyms():
    ds = _with_synonyms()
    for case in cases_for(ds):
        if case.qtype == "mc" and case.task == "granularity" and case.facet != "class":
            continue
        assert all(q.option_synonyms == () for q in build_questions(ds, case)), case


def test_option_names_without_synonyms_is_the_text():
    q = Question("i", "d", "a.jpg", "p", "mc", "granularity", "species", "c", "x", "t", ("x", "y"))
    assert option_names(q, 0) == ("x",) and option_names(q, 1) == ("y",)
    with pytest.raises(IndexError):
        option_names(q, 2)


def _old_digest(questions) -> str:
    """content_digest as it was before option synonyms existed."""
    h = hashlib.sha256()
    for q in sorted(questions, key=lambda q: q.id):
        parts = (q.id, q.prompt, *q.options, "\x1e", q.truth, *q.accepted)
        h.update((SEP.join(parts) + "\n").encode("utf-8", "surrogatepass"))
    return h.hexdigest()


@pytest.mark.parametrize("qtype", ["mc", "sa"])
def test_synonyms_change_the_content_digest_not_the_ids(qtype):
    case = Case("cub", "granularity", "species", qtype)
    plain = build_questions(_with_synonyms({}, ()), case)
    one = build_questions(_with_synonyms(), case)
    other = build_questions(
        _with_synonyms({**SPECIES_SYNONYMS, "laysan albatross": ("gooney",)}), case
    )
    assert [q.id for q in plain] == [q.id for q in one] == [q.id for q in other]
    assert [q.prompt for q in plain] == [q.prompt for q in one]
    digests = {content_digest(plain), content_digest(one), content_digest(other)}
    assert len(digests) == 3
    # questions without synonyms hash as before the field existed
    assert content_digest(plain) == _old_digest(plain)


def test_digest_tells_which_option_a_synonym_belongs_to():
    q = Question("i", "d", "a.jpg", "p", "mc", "granularity", "species", "c", "x", "t", ("x", "y"))
    a = replace(q, option_synonyms=(("s",), ()))
    b = replace(q, option_synonyms=((), ("s",)))
    assert len({content_digest([q]), content_digest([a]), content_digest([b])}) == 3


def test_jsonl_round_trips_option_synonyms(tmp_path):
    qs = build_questions(_with_synonyms(), Case("cub", "granularity", "species", "mc"))
    f = tmp_path / "q.jsonl"
    write_jsonl(qs, f)
    assert read_jsonl(f) == tuple(qs)
    row = json.loads(f.read_text().splitlines()[0])
    for bad in ([["a"]], [["a"], "b", [], []], [[1], [], [], []]):
        f.write_text(json.dumps({**row, "option_synonyms": bad}) + "\n")
        with pytest.raises(DataFormatError, match="q.jsonl:1: field 'option_synonyms' must be"):
            read_jsonl(f)
