"""Corrupt and undecodable baseline files through the plugin: each kind fails its case with
one line naming the file, the reason and the rewrite command, and that command (run as
printed) overwrites it without a traceback; the rerun then passes.

A user's UTF-16 file (``iconv -t utf-16``) said "not valid JSON: Expecting value (line 1)"
and the printed rewrite command crashed ("AssertionError: syrupy could not write the
baseline"); the only way out was to delete the file by hand.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from pathlib import Path

import numpy  # noqa: F401 - imported before pytester's inline runs, which cannot reload it
import pytest

import pytest_fgbmk.data.discovery  # noqa: F401 - keep loaded modules across inline runs
import pytest_fgbmk.data.synth  # noqa: F401
import pytest_fgbmk.models.references  # noqa: F401
import pytest_fgbmk.plugin  # noqa: F401
import pytest_fgbmk.questions.cases  # noqa: F401
from pytest_fgbmk.baselines.record import REWRITE_HINT, parse_record
from pytest_fgbmk.baselines.store import BaselineStore, decode_baseline
from pytest_fgbmk.errors import DataFormatError

ARGS = (
    "-m",
    "fgbmk_human",
    "--fgbmk-model=tests.fake_models:flip",
    "--fgbmk-no-cache",
    "--fgbmk-model-arg",
    "flip=0.2",
    "-k",
    "test_granularity[synth_birds-species-tf]",
)
CASE = "synth_birds-species-tf"
NAME = f"test_granularity[{CASE}].json"


def _latin1(path: Path) -> None:
    """A valid baseline with one Latin-1 byte (``é`` as 0xE9) on its second line."""
    text = path.read_text(encoding="utf-8").replace('"metric"', '"m\u00e9tric"', 1)
    path.write_bytes(text.encode("latin-1"))


def _folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


#: kind -> (how the file is broken, the reason its case's one-line failure gives)
KINDS: dict[str, tuple[Callable[[Path], None], str]] = {
    "binary": (
        lambda p: p.write_bytes(bytes(range(256)) * 4),
        "is corrupt: binary data, not UTF-8 JSON text",
    ),
    "utf-16": (
        lambda p: p.write_bytes(p.read_text(encoding="utf-8").encode("utf-16")),
        "is corrupt: UTF-16 text, not UTF-8",
    ),
    "utf-16le-no-bom": (
        lambda p: p.write_bytes(p.read_text(encoding="utf-8").encode("utf-16-le")),
        "is corrupt: UTF-16 text, not UTF-8",
    ),
    "utf-8-bom": (
        lambda p: p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes()),
        "is corrupt: UTF-8 with a byte-order mark",
    ),
    "latin-1-byte": (
        _latin1,
        "is corrupt: not UTF-8 text: byte 0xe9 (Latin-1 or another 8-bit encoding?) (line 2)",
    ),
    "truncated": (
        lambda p: p.write_text(p.read_text()[:40]),
        "is corrupt: not valid JSON: Expecting ',' delimiter (line 3)",
    ),
    "empty": (lambda p: p.write_bytes(b""), "is corrupt: empty (0 bytes)"),
    "folder": (_folder, "is corrupt: a folder, not a file"),
}


@pytest.fixture
def baseline(run, pytester) -> Path:
    """The one case's baseline, written by the flipping model."""
    run(*ARGS, "--fgbmk-update-baselines").assert_outcomes(passed=1)
    path = pytester.path / "baselines" / "tests.fake_models-flip" / "test_granularity" / NAME
    assert path.is_file()
    return path


def _rewrite_command(text: str) -> list[str]:
    """The rewrite command the case's failure printed, as arguments (``pytest`` dropped)."""
    found = re.search(r"or rewrite it with: (pytest .*--fgbmk-update-baselines)", text)
    assert found, text
    args = shlex.split(found.group(1))
    assert args[0] == "pytest" and args[args.index("-k") + 1] == f"test_granularity[{CASE}]"
    return args[1:]


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_corrupt_baseline_is_named_with_its_reason_and_the_rewrite_command_fixes_it(
    kind, run, pytester, baseline
):
    good = baseline.read_text(encoding="utf-8")
    breaks, reason = KINDS[kind]
    breaks(baseline)
    checked = run(*ARGS)
    checked.assert_outcomes(failed=1)
    text = checked.stdout.str()
    failures = [line for line in text.splitlines() if line.startswith("FAILED ")]
    assert len(failures) == 1, text
    assert f"{CASE}: the baseline file " in failures[0] and NAME in failures[0]
    assert reason in failures[0], failures[0]
    assert "Traceback" not in text and "Expecting value" not in text

    rewrite = pytester.runpytest(*_rewrite_command(text))
    rewrite.assert_outcomes(passed=1)
    out = rewrite.stdout.str()
    assert f"{CASE}: baseline written" in out or "1 passed" in out
    assert "Traceback" not in out and "AssertionError" not in out
    assert baseline.is_file() and baseline.read_text(encoding="utf-8") == good
    assert json.loads(good)["case"] == CASE
    run(*ARGS).assert_outcomes(passed=1)


def test_a_folder_with_files_in_a_baselines_place_is_one_line_not_a_traceback(
    run, pytester, baseline
):
    """The rewrite removes an empty folder in the file's place, never one holding files:
    it says so in one line naming the folder."""
    baseline.unlink()
    baseline.mkdir()
    (baseline / "notes.txt").write_text("mine\n")
    result = run(*ARGS, "--fgbmk-update-baselines")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert "Traceback" not in text and "AssertionError" not in text
    failures = [line for line in text.splitlines() if line.startswith("FAILED ")]
    assert len(failures) == 1 and NAME in failures[0], text
    assert "is a folder holding files, not a baseline file" in failures[0]
    assert (baseline / "notes.txt").read_text() == "mine\n"


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_store_names_the_reason_and_its_write_overwrites_each_kind(kind, tmp_path):
    """The script's path (``fgbmk run --update``): :class:`BaselineStore` alone."""
    record = {"format": 3, "case": CASE, "text": "plain"}
    path = tmp_path / "a" / NAME
    assert BaselineStore.write(path, record) is True
    good = path.read_text(encoding="utf-8")
    breaks, reason = KINDS[kind]
    if kind in ("latin-1-byte", "truncated"):  # their breaks expect the suite's record
        path.write_text(good.replace('"case"', '"metric"'), encoding="utf-8")
        good = good.replace('"case"', '"metric"')
        record = json.loads(good)
    breaks(path)
    try:
        text = BaselineStore.read(path)
        parse_record(text or "", path)
    except DataFormatError as exc:
        where = f" (line {exc.line})" if exc.line is not None else ""
        shown = f"is corrupt: {exc.detail}{where}"
        expected = "is corrupt: not valid JSON: " if kind == "truncated" else reason
        assert shown.startswith(expected.split(" (line")[0]), shown
        assert exc.hint == REWRITE_HINT and str(exc).startswith(str(path))
    else:
        raise AssertionError(f"{kind}: read as a baseline")
    assert BaselineStore.write(path, record) is True
    assert path.is_file() and path.read_text(encoding="utf-8") == good
    assert BaselineStore.write(path, record) is False


def test_the_store_never_deletes_a_folder_holding_files(tmp_path):
    path = tmp_path / NAME
    path.mkdir()
    (path / "notes.txt").write_text("mine\n")
    with pytest.raises(DataFormatError, match=r"is a folder holding files.*move it away"):
        BaselineStore.write(path, {"format": 3})
    assert (path / "notes.txt").read_text() == "mine\n"


@pytest.mark.parametrize(
    ("data", "detail", "line"),
    [
        (b"{}", None, None),
        ('{"a": "\u00e9"}\n'.encode(), None, None),
        ("{\n}\n".encode("utf-16-be"), "UTF-16 text, not UTF-8 (saved re-encoded)", 1),
        (b"\xfe\xff\x00{", "UTF-16 text, not UTF-8 (saved re-encoded)", 1),
        (b"{\n\n\x00\x01", "binary data, not UTF-8 JSON text", 3),
        (b'{\n"a": "\xc3"\n}', "not UTF-8 text: byte 0xc3", 2),
        (b"\xef\xbb\xbf{}", "UTF-8 with a byte-order mark", 1),
    ],
)
def test_decode_baseline(data, detail, line, tmp_path):
    if detail is None:
        assert decode_baseline(data, tmp_path) == data.decode("utf-8")
        return
    with pytest.raises(DataFormatError) as e:
        decode_baseline(data, tmp_path)
    assert e.value.detail.startswith(detail) and e.value.line == line
