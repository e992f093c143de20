"""What a user sees when images are missing or broken, or there is nothing to measure: one
session-level error listing the files, a non-zero exit, no case scored; the same with -n 2."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.harness import junit
from tests.run.test_run_verify import copy_synth, cub_split

ORACLE = ("--fgbmk-model=oracle", "--fgbmk-limit", "20")


@pytest.fixture
def broken(run, synth_dir, tmp_path, monkeypatch) -> list[Path]:
    """The runs read a copy of the small synthetic data with five test images broken:
    two deleted, one cut short, one emptied, one symlinked outside the data root."""
    parent = tmp_path / "broken-synth"
    root = copy_synth(synth_dir, parent)
    monkeypatch.setenv("FGBMK_SYNTH_DIR", str(parent))  # (after run's own setting)
    test = cub_split(root, "test")
    test[0].unlink()
    test[1].unlink()
    test[2].write_bytes(test[2].read_bytes()[:300])
    test[3].write_bytes(b"")
    outside = tmp_path / "elsewhere.jpg"
    outside.write_bytes(test[4].read_bytes())
    test[4].unlink()
    test[4].symlink_to(outside)
    return test[:5]


def _check_reported_once(text: str, files: list[Path], checked: int) -> None:
    assert "Traceback" not in text and "INTERNALERROR" not in text and "node down" not in text
    assert (
        f"ERROR: FG-BMK data: 5 of {checked} images the selected cases need cannot be used "
        "(2 missing, 1 empty (0 bytes), 1 outside the dataset root, 1 truncated); "
        "no case was scored:"
    ) in text
    for path, reason in zip(
        sorted(files),
        ["missing", "missing", "truncated", "empty (0 bytes)", "outside the dataset root"],
        strict=True,
    ):
        assert text.count(f"  {path}: {reason}") == 1  # listed once for the whole run


@pytest.mark.parametrize("workers", [0, 2])
def test_broken_images_fail_the_session_once_naming_them_and_score_nothing(
    run, pytester, broken, workers
):
    xml = pytester.path / "out.xml"
    summary = pytester.path / "job-summary.md"
    extra = ("-n", str(workers)) if workers else ()
    result = run(
        *ORACLE,
        f"--junitxml={xml}",
        f"--fgbmk-step-summary={summary}",
        *extra,
        subprocess=bool(workers),
    )
    text = result.stdout.str() + result.stderr.str()
    assert result.ret == 4
    _check_reported_once(text, broken, checked=24)  # the oracle answers: test images only
    # the CI job summary says why it has no verdict table (once, not once per worker)
    assert summary.read_text(encoding="utf-8") == (
        "## FG-BMK verdicts: oracle\n\n❌ nothing was scored: FG-BMK data: 5 of 24 images the "
        "selected cases need cannot be used (2 missing, 1 empty (0 bytes), 1 outside the dataset "
        "root, 1 truncated); no case was scored:\n\n"
    )
    cases = junit(xml)
    assert len(cases) == 59
    for name, props in cases.items():  # no case measured or decided, each refers to the error
        assert props["_status"] == "error"
        assert "value" not in props and "p" not in props
        head, _, rest = props["_message"].partition(": not measured: ")
        assert re.fullmatch(r'failed on setup with "Failed: FG-BMK [\w.-]+', head), name
        assert rest.startswith(
            "5 of 24 images the selected cases need cannot be used… (a data error that "
            "stopped 59 cases, shown in full once at the end under 'FG-BMK data')"
        )
        assert props["data_error"].startswith("5 of 24 images the selected cases need")
    # each test's line refers to the error; its full text (and every file) is printed once
    errors = text.split("short test summary info")[0]
    assert errors.count("(a data error that stopped 59 cases, shown in full once") == 59
    assert text.count("no case was scored") == 1


def test_one_selected_case_reads_one_case_in_its_line(run, broken):
    result = run(*ORACLE, "-k", "test_knowledge_bias and synth_birds")
    assert result.ret == 4
    text = result.stdout.str()
    assert "(a data error that stopped 1 case, shown in full once at the end" in text
    assert "stopped 1 cases" not in text


@pytest.mark.parametrize("stop, workers", [(("-x",), 0), (("--maxfail=3",), 0), (("-x",), 2)])
def test_stopping_early_still_prints_the_data_error_and_exits_4(
    run, pytester, broken, stop, workers
):
    """-x / --maxfail stop pytest's loop at the first failed cases: the data error those
    cases refer to is still printed once, in full, and the exit status is still 4 (before
    the fix: exit 1, the 'FG-BMK data' message never printed)."""
    extra = ("-n", str(workers)) if workers else ()
    result = run(*ORACLE, *stop, *extra, subprocess=bool(workers))
    text = result.stdout.str() + result.stderr.str()
    assert result.ret == 4, text[-2000:]
    _check_reported_once(text, broken, checked=24)
    assert text.count("no case was scored") == 1
    if not workers:  # the loop stopped after the first failed case(s)
        errors = text.split("short test summary info")[0]
        expected = 3 if "--maxfail=3" in stop else 1
        assert errors.count("(a data error that stopped 59 cases, shown in full once") == expected


def test_an_empty_data_root_fails_instead_of_skipping_everything(run, pytester, tmp_path):
    (tmp_path / "nothing").mkdir()
    result = run("--fgbmk-model=oracle", f"--fgbmk-data={tmp_path / 'nothing'}")
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        [
            f"ERROR: FG-BMK data: --fgbmk-data={tmp_path / 'nothing'}: no dataset found, nothing to measure*"
        ]
    )
    assert "skipped" not in result.stdout.str()


def test_a_selected_dataset_without_test_images_fails(run, synth_dir, tmp_path):
    root = copy_synth(synth_dir, tmp_path / "copy")
    split = root / "cub" / "train_test_split.txt"
    split.write_text("".join(f"{line.split()[0]} 1\n" for line in split.read_text().splitlines()))
    result = run("--fgbmk-model=oracle", f"--fgbmk-data={root}", "-n", "2", subprocess=True)
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        [f"ERROR: FG-BMK data: {root / 'cub'}: dataset cub lists no test image (24 train)*"]
    )


def test_a_data_root_with_an_incomplete_dataset_fails_once_and_the_header_fits(
    run, synth_dir, tmp_path
):
    """A real data root: the header names the datasets not there in a wrapped line; a
    dataset whose split file was deleted fails the run, unless it is left out."""
    root = copy_synth(synth_dir, tmp_path / "data")
    ok = run("--fgbmk-model=oracle", f"--fgbmk-data={root}", "-m", "fgbmk_human")
    lines = ok.stdout.lines
    at = next(i for i, x in enumerate(lines) if x.startswith("fgbmk datasets not under the data"))
    end = next(i for i in range(at + 1, len(lines)) if not lines[i].startswith("  "))
    assert "stanford_dogs" in lines[at] and "generic" in " ".join(lines[at:end])
    assert all(len(line) <= 100 for line in lines[at : end - 1])  # (the last holds the root)
    (root / "cub" / "train_test_split.txt").unlink()
    broken = run("--fgbmk-model=oracle", f"--fgbmk-data={root}", "-m", "fgbmk_human")
    text = broken.stdout.str() + broken.stderr.str()
    assert broken.ret == 4 and "Traceback" not in text
    assert "1 dataset folder(s) are there but incomplete" in text
    assert text.count(f"cub: {root / 'cub'}: CUB-200-2011: ") == 1
    left_out = run(
        "--fgbmk-model=oracle", f"--fgbmk-data={root}", "--fgbmk-datasets=inat2021", "-m",
        "fgbmk_human",
    )  # fmt: skip
    assert left_out.ret == 1  # no baselines yet: every case fails, none errors
    assert "are there but incomplete" not in left_out.stdout.str() + left_out.stderr.str()
