"""Question files: the release's JSONL (its own sample files), our JSONL, VLMEvalKit TSV."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from questions_replicas import cub_like

from pytest_fgbmk.errors import DataFormatError
from pytest_fgbmk.questions.cases import Case, build_questions, cases_for
from pytest_fgbmk.questions.files import (
    read_jsonl,
    read_questions,
    read_release,
    write_jsonl,
    write_release,
    write_vlmevalkit,
)

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
        '{"question_id": 1, "image": "a.jpg", "text": "x", "class": "y", "category": "generic"}\n{oops\n'
    )
    with pytest.raises(
        DataFormatError, match=r"species_question_choice.jsonl:1: a multiple-choice prompt"
    ):
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
    assert [q.category for q in qs] == ["d", "d", "d"]


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
