"""The ``fgbmk questions import|export`` command."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from questions_replicas import cub_like

from pytest_fgbmk import cli
from pytest_fgbmk.questions.files import read_jsonl, write_release

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


@pytest.mark.skipif(not SAMPLE.is_dir(), reason=f"release sample not present at {SAMPLE}")
def test_import_release_files(tmp_path, capsys):
    files = sorted(SAMPLE.rglob("*.jsonl"))
    out = tmp_path / "ours.jsonl"
    assert cli.main(["questions", "import", *map(str, files), "--out", str(out)]) == 0
    qs = read_jsonl(out)
    assert len(qs) == 40 * len(files)
    assert f"wrote {len(qs)} questions from {len(files)} file(s)" in capsys.readouterr().out


def test_import_bad_file_exits_2_with_file_and_line(tmp_path, capsys):
    bad = tmp_path / "x.jsonl"
    bad.write_text("{not json\n")
    assert cli.main(["questions", "import", str(bad), "--out", str(tmp_path / "o.jsonl")]) == 2
    assert f"{bad}:1: not valid JSON" in capsys.readouterr().err


@pytest.fixture
def fake_loader(monkeypatch):
    calls = []

    def load(name, root):
        calls.append((name, root))
        return cub_like(name=name)

    monkeypatch.setattr(cli, "_load_dataset", load)
    return calls


@pytest.mark.parametrize("fmt", ["fgbmk", "release", "vlmevalkit"])
def test_export_formats(tmp_path, fake_loader, fmt):
    out = tmp_path / "q.out"
    argv = ["questions", "export", "--data", str(tmp_path), "--dataset", "cub", "--task", "granularity",
            "--format", fmt, "--out", str(out), "--limit", "7"]  # fmt: skip
    assert cli.main(argv) == 0
    assert fake_loader == [("cub", tmp_path)]
    n_cases = 7  # class tf/mc, genus tf/mc, species tf/mc/sa
    if fmt == "fgbmk":
        qs = read_jsonl(out)
        assert len(qs) == 7 * n_cases and {q.task for q in qs} == {"granularity"}
    elif fmt == "release":
        rows = [json.loads(x) for x in out.read_text().splitlines()]
        assert len(rows) == 7 * n_cases and list(rows[0]) == [
            "question_id",
            "image",
            "text",
            "class",
            "category",
        ]
    else:
        with open(out, newline="") as f:
            assert len(list(csv.DictReader(f, delimiter="\t"))) == 7 * n_cases


def test_export_qtype_and_task_filters(tmp_path, fake_loader):
    out = tmp_path / "q.jsonl"
    argv = ["questions", "export", "--data", str(tmp_path), "--dataset", "cub", "--task", "attribute",
            "--qtype", "tf", "--out", str(out)]  # fmt: skip
    assert cli.main(argv) == 0
    assert {(q.task, q.qtype) for q in read_jsonl(out)} == {("attribute", "tf")}
    argv[-3:-2] = ["sa"]
    assert cli.main(argv) == 2


def test_export_usage_errors(tmp_path, fake_loader, capsys):
    missing = tmp_path / "nope"
    assert (
        cli.main(["questions", "export", "--data", str(missing), "--dataset", "cub", "--out", "x"])
        == 2
    )
    assert "--data" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(
            [
                "questions",
                "export",
                "--data",
                str(tmp_path),
                "--dataset",
                "cub",
                "--out",
                "x",
                "--limit",
                "0",
            ]
        )
    with pytest.raises(SystemExit):
        cli.main(["questions"])


def _strip(q):
    """What the release format cannot carry: our sample id and the synonyms that count."""
    return replace(q, sample_id="", accepted=(), option_synonyms=())


@pytest.mark.parametrize("templates", ["original", "extended"])
@pytest.mark.parametrize("task", ["granularity", "attribute", "knowledge_bias"])
def test_every_export_imports_back(tmp_path, fake_loader, templates, task):
    """export → import gives the same questions: every field through our format, every
    field the release format holds through it (ids, levels, templates, options, classes),
    and re-exporting the import writes the same release file."""
    ours, release = tmp_path / "ours.jsonl", tmp_path / "release.jsonl"
    base = ["questions", "export", "--data", str(tmp_path), "--dataset", "cub", "--task", task,
            "--templates", templates]  # fmt: skip
    assert cli.main([*base, "--format", "fgbmk", "--out", str(ours)]) == 0
    assert cli.main([*base, "--format", "release", "--out", str(release)]) == 0
    expected = read_jsonl(ours)
    assert len(expected) > 50 and any(q.template_id.endswith(":mc:1") for q in expected) == (
        task != "knowledge_bias"
    )
    back = tmp_path / "back.jsonl"
    assert cli.main(["questions", "import", str(ours), "--out", str(back)]) == 0
    assert read_jsonl(back) == expected
    argv = ["questions", "import", str(release), "--out", str(back), "--dataset", "cub"]
    assert cli.main([*argv, "--task", task]) == 0
    imported = read_jsonl(back)
    assert [_strip(q) for q in imported] == [_strip(q) for q in expected]
    again = tmp_path / "again.jsonl"
    write_release(imported, again)
    assert again.read_text() == release.read_text()


def test_release_export_of_several_tasks_is_refused(tmp_path, fake_loader, capsys):
    argv = ["questions", "export", "--data", str(tmp_path), "--dataset", "cub", "--format",
            "release", "--out", str(tmp_path / "r.jsonl")]  # fmt: skip
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "--format release holds one task per file" in err and "give --task" in err


@pytest.mark.parametrize("templates", ["original", "extended"])
@pytest.mark.parametrize("task", ["granularity", "attribute", "knowledge_bias"])
def test_vlmevalkit_export_imports_back(tmp_path, fake_loader, templates, task):
    """The TSV holds an MC question without its options and the answer as a letter: the
    prompt is rebuilt as the template wrote it, and everything but our sample id and
    synonyms comes back (the class from its category column)."""
    ours, tsv, back = tmp_path / "ours.jsonl", tmp_path / "q.tsv", tmp_path / "back.jsonl"
    base = ["questions", "export", "--data", str(tmp_path), "--dataset", "cub", "--task", task,
            "--templates", templates]  # fmt: skip
    assert cli.main([*base, "--format", "fgbmk", "--out", str(ours)]) == 0
    assert cli.main([*base, "--format", "vlmevalkit", "--out", str(tsv)]) == 0
    root = str(cub_like().root)  # the export joins image paths to the dataset's root
    argv = ["questions", "import", str(tsv), "--out", str(back), "--dataset", "cub", "--task",
            task, "--image-root", root]  # fmt: skip
    assert cli.main(argv) == 0
    expected = read_jsonl(ours)
    assert [_strip(q) for q in read_jsonl(back)] == [_strip(q) for q in expected]
    assert any(q.qtype == "mc" for q in expected) == (task != "knowledge_bias")


def test_vlmevalkit_rows_are_checked(tmp_path, capsys):
    tsv = tmp_path / "q.tsv"
    head = "index\timage_path\tquestion\tA\tB\tanswer\tcategory\n"
    tsv.write_text(head + "0\ta.jpg\tWhich?\tx\ty\tC\tcat\n")
    assert cli.main(["questions", "import", str(tsv), "--out", str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"fgbmk: error: {tsv}:2: answer 'C' is not the letter of an option (A–B)"
    tsv.write_text(head + "0\ta.jpg\tWhich?\tx\n")
    assert cli.main(["questions", "import", str(tsv), "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "q.tsv:2: 4 columns where the header has 7" in capsys.readouterr().err


def test_import_says_when_it_assumed_the_task_or_dataset(tmp_path, fake_loader, capsys):
    """A release-format file whose path names neither: the ids depend on both, so the
    import says what it assumed, in one line, instead of writing other ids silently."""
    release = tmp_path / "attr.jsonl"
    argv = ["questions", "export", "--data", str(tmp_path), "--dataset", "cub", "--task",
            "attribute", "--format", "release", "--out", str(release)]  # fmt: skip
    assert cli.main(argv) == 0
    capsys.readouterr()
    back = tmp_path / "back.jsonl"
    assert cli.main(["questions", "import", str(release), "--out", str(back)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"fgbmk: warning: {release}: its path names no")
    assert "assumed task granularity (give --task) and dataset" in err[0]
    assert "(give --dataset)" in err[0]
    argv = ["questions", "import", str(release), "--out", str(back), "--dataset", "cub"]
    assert cli.main([*argv, "--task", "attribute"]) == 0
    assert capsys.readouterr().err == ""
