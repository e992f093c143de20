"""Question files: the release's JSONL (its own sample files), our JSONL, VLMEvalKit TSV."""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest
from questions_replicas import cub_like

from pytest_fgbmk.errors import DataFormatError
from pytest_fgbmk.questions.cases import Case, build_questions, cases_for
from pytest_fgbmk.questions.files import (
    read_jsonl,
    read_questions,
    read_release,
    read_release_files,
    read_vlmevalkit,
    write_jsonl,
    write_release,
    write_vlmevalkit,
)
from pytest_fgbmk.questions.templates import BUILTIN_SIBLINGS, which_word

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
SAMPLE_FILES = sorted(SAMPLE.rglob("*.jsonl")) if SAMPLE.is_dir() else []
needs_sample = pytest.mark.skipif(
    not SAMPLE_FILES, reason=f"release sample not present at {SAMPLE}"
)


def _lines(path):
    return [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]


@needs_sample
@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: str(p.relative_to(SAMPLE)))
def test_release_sample_imports_with_same_prompts_and_truths(path, tmp_path):
    qs = read_release(path)
    rows = _lines(path)
    assert [q.prompt for q in qs] == [r["text"] for r in rows]
    assert [q.truth for q in qs] == [r["class"] for r in rows]
    assert [q.image for q in qs] == [r["image"] for r in rows]
    # every line is one of the release's four templates of its type
    assert all(q.template_id.startswith(f"original-r1:{q.qtype}:") for q in qs)
    assert len({q.id for q in qs}) == len(qs)
    for q in qs:
        if q.qtype == "mc":
            assert len(q.options) == 4 and q.truth in q.options
        if q.qtype == "tf":
            assert q.truth in ("yes", "no") and q.asked and q.asked in q.prompt
    # round trip to the release format gives the file back, line for line
    out = tmp_path / "back.jsonl"
    assert write_release(qs, out) == len(rows)
    assert _lines(out) == rows
    # and through our format without loss
    ours = tmp_path / "ours.jsonl"
    write_jsonl(qs, ours)
    assert read_jsonl(ours) == qs == read_questions(ours)


@needs_sample
def test_release_context_from_path():
    tf = read_release(
        SAMPLE / "hierarchical_granularity_recognition/cub/class/class_question_true_flase.jsonl"
    )
    assert {(q.dataset, q.task, q.facet, q.qtype) for q in tf} == {
        ("cub", "granularity", "class", "tf")
    }
    assert {q.asked for q in tf if q.truth == "no"} >= {"insecta", "reptilia"}
    order = read_release(
        SAMPLE / "hierarchical_granularity_recognition/iNat2021/order/order_question_choice.jsonl"
    )
    assert {(q.dataset, q.facet, q.qtype) for q in order} == {("inat2021", "order", "mc")}
    assert order[0].options == ("ranunculales", "rosales", "apiales", "malvales")


def test_release_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "species_question_choice.jsonl"
    bad.write_text(
        '{"question_id": 1, "image": "a.jpg", "text": "x", "class": "y", "category": "generic"}\n'
    )
    with pytest.raises(
        DataFormatError, match=r"species_question_choice.jsonl:1: a multiple-choice prompt"
    ):
        read_release(bad)
    bad.write_text(bad.read_text() + "{oops\n")
    with pytest.raises(DataFormatError, match=r"species_question_choice.jsonl:2: not valid JSON"):
        read_release(bad)
    bad.write_text('{"question_id": 1, "image": "a.jpg"}\n')
    with pytest.raises(DataFormatError, match=r":1: missing field\(s\) text, class, category"):
        read_release(bad)
    bad.write_text("\n[1, 2]\n")
    with pytest.raises(DataFormatError, match=r":2: each line must be a JSON object"):
        read_release(bad)
    with pytest.raises(DataFormatError, match="cannot read the file"):
        read_release(tmp_path / "absent.jsonl")


def test_release_without_path_context_guesses_type(tmp_path):
    f = tmp_path / "merge.jsonl"
    rows = [
        {"question_id": 1, "image": "d/a.jpg", "text": "Is it a cat? Answer with yes or no.", "class": "no", "category": "generic"},
        {"question_id": 2, "image": "d/b.jpg", "text": 'Pick: Choose one answer from the following list: "x", "y". Answer the question using a single word or phrase.', "class": "x", "category": "generic"},
        {"question_id": 3, "image": "d/c.jpg", "text": "Name it.", "class": "cat", "category": "generic"},
    ]  # fmt: skip
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    qs = read_release(f)
    assert [q.qtype for q in qs] == ["tf", "mc", "sa"]
    assert qs[1].options == ("x", "y") and qs[0].template_id == "release"
    assert [q.category for q in qs] == ["", "", ""]  # no level, folder or line names a class


def test_our_jsonl_round_trip_and_errors(tmp_path):
    ds = cub_like()
    qs = [q for c in cases_for(ds) for q in build_questions(ds, c, templates="extended", limit=10)]
    f = tmp_path / "q.jsonl"
    assert write_jsonl(qs, f) == len(qs)
    assert list(read_jsonl(f)) == qs
    row = json.loads(f.read_text().splitlines()[0])
    for change, message in (
        ({"format": "other"}, "not a fgbmk-question/1 line"),
        ({"extra": 1}, "unknown field"),
        ({"options": "abc"}, "must be a list of strings"),
        ({"qtype": "essay"}, "unknown qtype"),
        ({"lettered": "yes"}, "wrong type"),
    ):
        f.write_text(json.dumps({**row, **change}) + "\n")
        with pytest.raises(DataFormatError, match=rf"q.jsonl:1: .*{message}"):
            read_jsonl(f)
    f.write_text(json.dumps({k: v for k, v in row.items() if k != "truth"}) + "\n")
    with pytest.raises(DataFormatError, match="missing truth"):
        read_jsonl(f)


def test_vlmevalkit_tsv(tmp_path):
    ds = cub_like()
    mc = build_questions(ds, Case("cub", "granularity", "species", "mc"))
    tf = build_questions(ds, Case("cub", "granularity", "genus", "tf"), limit=4)
    sa = build_questions(ds, Case("cub", "granularity", "species", "sa"), limit=2)
    xmc = build_questions(
        ds, Case("cub", "granularity", "genus", "mc"), templates="extended", limit=3
    )
    qs = [*mc, *tf, *sa, *xmc]
    f = tmp_path / "q.tsv"
    write_vlmevalkit(qs, f, root="/data/cub")
    with open(f, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert list(rows[0]) == [
        "index",
        "image_path",
        "question",
        "A",
        "B",
        "C",
        "D",
        "answer",
        "category",
    ]
    assert len(rows) == len(qs)
    for q, r in zip(qs, rows, strict=True):
        assert r["image_path"] == f"/data/cub/{q.image}"
        if q.qtype == "mc":
            assert r[r["answer"]] == q.truth
            assert [r[k] for k in "ABCD"] == list(q.options)
            assert "following list" not in r["question"] and q.options[0] not in r["question"]
            assert r["question"].endswith("?") or r["question"].endswith(".")
        elif q.qtype == "tf":
            assert r["answer"] == q.truth.capitalize() and r["question"] == q.prompt
        else:
            assert r["answer"] == q.truth


ROW = {"question_id": 7, "image": "images/001.Black_footed_Albatross/a.jpg",
       "text": "Is the class of the object aves? Answer with yes or no.", "class": "yes",
       "category": "generic"}  # fmt: skip
MC = {**ROW, "class": "albatross", "text": 'Can you identify the genus of this aves? Choose one '
      'answer from the following list: "albatross", "vireo", "flicker", "waxwing". Answer the '
      'question using a single word or phrase.'}  # fmt: skip


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({**ROW, "class": 5}, "field 'class' must be a string, got int 5"),
        ({**ROW, "class": None}, "field 'class' must be a string, got null"),
        ({**ROW, "text": None}, "field 'text' must be a string, got null"),
        ({**ROW, "text": ["Is it?"]}, "field 'text' must be a string, got list"),
        ({**ROW, "image": 3}, "field 'image' must be a string, got int 3"),
        ({**ROW, "category": None}, "field 'category' must be a string, got null"),
        ({**ROW, "question_id": None}, "field 'question_id' must be a number or a string"),
        ({**ROW, "question_id": True}, "field 'question_id' must be a number or a string"),
        ({**ROW, "text": " "}, "field 'text' is empty"),
        ({**ROW, "class": "maybe"}, "a true/false question's truth must be 'yes' or 'no', got 'maybe'"),
        ({**ROW, "class": "Yes"}, "a true/false question's truth must be 'yes' or 'no'"),
        ({**MC, "class": "sparrow"}, "the multiple-choice truth 'sparrow' is not one of its options"),
    ],
)  # fmt: skip
def test_release_line_types_are_checked_with_file_and_line(tmp_path, row, message):
    f = tmp_path / "x.jsonl"
    f.write_text(json.dumps(ROW) + "\n\n" + json.dumps(row) + "\n")
    with pytest.raises(DataFormatError) as e:
        read_release(f)
    assert str(e.value).startswith(f"{f}:3: {message}")
    assert "\n" not in str(e.value)


def test_our_jsonl_truths_are_checked_too(tmp_path):
    ds = cub_like()
    q = build_questions(ds, Case("cub", "granularity", "species", "mc"), limit=1)[0]
    f = tmp_path / "q.jsonl"
    write_jsonl([replace(q, truth="nothing listed")], f)
    with pytest.raises(DataFormatError, match=r"q.jsonl:1: the multiple-choice truth 'nothing"):
        read_questions(f)
    tf = build_questions(ds, Case("cub", "granularity", "species", "tf"), limit=1)[0]
    write_jsonl([replace(tf, truth="true")], f)
    with pytest.raises(DataFormatError, match=r"q.jsonl:1: a true/false question's truth"):
        read_questions(f)


def test_latin1_lfs_pointer_and_bom(tmp_path):
    f = tmp_path / "species_question_short_answer.jsonl"
    line = json.dumps({**ROW, "class": "pájaro", "text": "Name it."}, ensure_ascii=False)
    f.write_bytes((json.dumps(ROW) + "\n" + line + "\n").encode("latin-1"))
    with pytest.raises(DataFormatError) as e:
        read_release(f)
    assert str(e.value).startswith(f"{f}:2: not UTF-8 (byte 0xe1 at column ")
    assert "iconv -f latin1 -t utf-8" in str(e.value)
    f.write_text(
        "version https://git-lfs.github.com/spec/v1\n"
        "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
        "size 12345\n"
    )
    with pytest.raises(DataFormatError) as e:
        read_questions(f)
    assert str(e.value) == (
        f"{f}: this is a Git LFS pointer, not the file's content "
        "(run git lfs pull in its repository, then import again)"
    )
    f.write_bytes(b"\xef\xbb\xbf" + line.encode("utf-8") + b"\n")  # a UTF-8 BOM is read past
    assert [q.truth for q in read_release(f)] == ["pájaro"]


def test_which_of_the_following_line_outside_a_release_path(tmp_path):
    """The template "…which of the following {levels} is it?" has no {level}: the level is
    read back from the word (crashed with IndexError: no such group)."""
    f = tmp_path / "mine.jsonl"
    text = (
        "Observing the aves in the image, which of the following genera is it? Choose one answer"
        ' from the following list: "albatross", "vireo", "flicker", "waxwing". Answer the '
        "question using a single word or phrase."
    )
    f.write_text(json.dumps({**MC, "text": text}) + "\n")
    (q,) = read_release(f, dataset="cub")
    assert (q.facet, q.qtype, q.template_id) == ("genus", "mc", "original-r1:mc:1")
    assert q.options == ("albatross", "vireo", "flicker", "waxwing")
    (q,) = read_release(f, dataset="inat2021")  # iNat writes the singular: a level 'genera'
    assert q.facet == "genera"


def test_prompts_that_split_two_ways_take_the_dataset_noun_and_the_file_level(tmp_path):
    f = tmp_path / "mine.jsonl"
    rows = [
        {**ROW, "text": "Is the category of the skin lesion melanoma? Answer with yes or no."},
        {**ROW, "class": "no",
         "text": "Look at the bird in this image. Is its wing color brown? Answer with yes or no."},
        {**ROW, "class": "no",
         "text": "Would you say the wing color of this bird is grey? Answer with yes or no."},
    ]  # fmt: skip
    f.write_text(json.dumps(rows[0]) + "\n")
    (q,) = read_release(f, dataset="skincon")
    assert (q.asked, q.facet) == ("melanoma", "category")
    f.write_text("".join(json.dumps(r) + "\n" for r in rows[1:]))
    qs = read_release(f, dataset="cub", task="attribute")
    assert [(q.facet, q.asked) for q in qs] == [("wing color", "brown"), ("wing color", "grey")]


@needs_sample
def test_release_sample_classes():
    """The image's class, not its folder's name ("images", "val"): CUB and Stanford Dogs
    from the folder as our loaders name it, iNat2021 the species its folder spells."""
    qs = read_release_files(SAMPLE_FILES)
    by_file = {}
    for q in qs:
        by_file.setdefault((q.dataset, q.facet, q.qtype), set()).add(q.category)
    assert by_file[("cub", "class", "tf")] == {"black footed albatross", "laysan albatross"}
    assert by_file[("stanforddog", "species", "tf")] == {"Chihuahua"}
    assert "Ulmus rubra" in by_file[("inat2021", "order", "mc")]
    assert all(q.category for q in qs)
    for q in qs:
        if q.dataset == "cub" and q.facet == "species" and q.qtype != "tf":
            assert q.category == q.truth


def test_class_stored_in_category_is_kept_and_written_back(tmp_path):
    """The release stores the class in ``category`` in Stanford Cars' species true/false
    file; elsewhere a class comes from another line about the same image."""
    cars = tmp_path / "hierarchical_granularity_recognition" / "stanfordcar" / "species"
    cars.mkdir(parents=True)
    tf = cars / "species_question_true_false.jsonl"
    rows = [
        {"question_id": 1, "image": "car_ims/000001.jpg", "class": "no", "category": "AM General Hummer SUV 2000",
         "text": "Is the species of the car Audi TT Coupe 2012? Answer with yes or no."},
        {"question_id": 2, "image": "car_ims/000002.jpg", "class": "yes", "category": "Acura RL Sedan 2012",
         "text": "Is the species of the car Acura RL Sedan 2012? Answer with yes or no."},
    ]  # fmt: skip
    tf.write_text("".join(json.dumps(r) + "\n" for r in rows))
    qs = read_release(tf)
    assert [q.category for q in qs] == ["AM General Hummer SUV 2000", "Acura RL Sedan 2012"]
    out = tmp_path / "back.jsonl"
    write_release(qs, out)
    assert _lines(out) == rows
    make = tmp_path / "hierarchical_granularity_recognition" / "stanfordcar" / "make"
    make.mkdir()
    mc = make / "make_question_choice.jsonl"
    mc.write_text(
        json.dumps({"question_id": 1, "image": "car_ims/000001.jpg", "class": "AM General",
                    "category": "generic", "text": 'What is the make of the car in this image? '
                    'Choose one answer from the following list: "Audi", "AM General", "BMW", '
                    '"Acura". Answer the question using a single word or phrase.'}) + "\n"
    )  # fmt: skip
    (alone,) = read_release(mc)
    assert alone.category == ""  # nothing in the file names the class of car_ims/000001.jpg
    both = read_release_files([tf, mc])
    assert both[-1].category == "AM General Hummer SUV 2000"


@needs_sample
def test_generator_wording_and_class_names_match_the_release_sample():
    """Each sample choice file's "which of the following X" is our table's word for its
    dataset and level, and the CUB class-level names asked about are our built-in list."""
    checked = []
    for path in SAMPLE_FILES:
        for q in read_release(path):
            m = re.search(r"which of the following (.+?) is it\?", q.prompt)
            if m:
                assert m.group(1) == which_word(q.dataset, q.facet), (path, q.prompt)
                checked.append((q.dataset, q.facet))
            if (q.dataset, q.facet, q.qtype) == ("cub", "class", "tf"):
                assert q.asked in BUILTIN_SIBLINGS["class"]
    assert set(checked) == {("cub", "genus"), ("cub", "species"), ("inat2021", "order")}


def test_release_attribute_file_takes_the_group_from_the_prompt(tmp_path):
    """An attribute file's name is no level, and a group name in ``category`` is no class."""
    folder = tmp_path / "attribute_recognition" / "cub"
    folder.mkdir(parents=True)
    f = folder / "attribute_question_true_false.jsonl"
    row = {**ROW, "category": "wing_color",
           "text": "Is the wing color of the bird brown? Answer with yes or no."}  # fmt: skip
    f.write_text(json.dumps(row) + "\n")
    (q,) = read_release(f)
    assert (q.task, q.dataset, q.facet, q.asked) == ("attribute", "cub", "wing color", "brown")
    assert q.category == "black footed albatross"  # from the image's folder


def test_vlmevalkit_row_of_no_template_keeps_its_options(tmp_path):
    f = tmp_path / "q.tsv"
    f.write_text(
        "index\timage_path\tquestion\tA\tB\tC\tD\tanswer\tcategory\n"
        "3\t/d/images/x/a.jpg\tWhich bird?\tsparrow\tvireo\t\t\tB\tvireo\n"
        "4\t/d/images/x/b.jpg\tIs it a vireo? Answer with yes or no.\t\t\t\t\tNo\tsparrow\n"
    )
    mc, tf = read_vlmevalkit(f, dataset="birds", image_root="/d")
    assert (mc.qtype, mc.options, mc.truth, mc.template_id) == (
        "mc",
        ("sparrow", "vireo"),
        "vireo",
        "release",
    )
    assert mc.prompt.startswith('Which bird? Choose one answer from the following list: "sparrow"')
    assert (mc.image, mc.category, mc.sample_id) == ("images/x/a.jpg", "vireo", "3")
    assert (tf.qtype, tf.truth, tf.category) == ("tf", "no", "sparrow")
