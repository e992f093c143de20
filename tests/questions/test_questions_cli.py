"""The ``fgbmk questions import|export`` command."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from questions_replicas import cub_like

from pytest_fgbmk import cli
from pytest_fgbmk.questions.files import read_jsonl

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
