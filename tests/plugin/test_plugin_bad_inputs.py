"""Broken inputs through pytest: each is one message naming the file (and line) and what to
do, printed once per run, never a traceback or an INTERNALERROR. Datasets stop the session
at load (exit 4, no test runs); a broken baseline fails its own case with the file and the
command that rewrites it. (The damaged answer cache: ``test_plugin_messages.py``; the
loaders' messages in detail: ``tests/data/test_data_bad_inputs.py``.)"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from PIL import Image

from tests.bad_inputs import latin1_image_folder, unreadable
from tests.harness import junit
from tests.run.test_run_verify import copy_synth

HUMAN = ("-m", "fgbmk_human", "--fgbmk-model=oracle", "--fgbmk-no-cache")


def _stopped_once(result: pytest.RunResult, message: str) -> None:
    """The session stopped at load with ``message`` printed once, and nothing else ran."""
    text = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in text and "INTERNALERROR" not in text
    assert result.ret == 4
    assert text.count(message) == 1, text
    assert f"ERROR: FG-BMK data: {message}" in text
    assert "passed" not in text and "failed" not in text


def test_a_latin1_class_folder(run, tmp_path):
    root = tmp_path / "data"
    latin1_image_folder(root / "generic")
    result = run(*HUMAN, f"--fgbmk-data={root}")
    _stopped_once(
        result,
        f"{root}/generic/caf\\xe9: the class folder name is not UTF-8 (shown with its raw bytes "
        "as \\xNN) (rename it in UTF-8, e.g. convmv -f latin1 -t utf-8 --notest -r on the "
        "dataset folder, and rerun)",
    )


def test_a_latin1_manifest(run, tmp_path):
    root = tmp_path / "data" / "generic"
    rows = ["path,label,split"]
    for i in range(8):
        (root / "img").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (30 * i, 0, 0)).save(root / "img" / f"{i}.png")
        rows.append(f"img/{i}.png,{'café' if i % 2 else 'thé'},{'test' if i < 4 else 'train'}")
    (root / "manifest.csv").write_bytes("\n".join(rows).encode("latin-1"))
    result = run(*HUMAN, f"--fgbmk-data={root.parent}")
    _stopped_once(
        result,
        f"{root / 'manifest.csv'}:2: is not UTF-8 text: byte 0xe9 at column 13 cannot be decoded "
        "(Latin-1 or another legacy encoding?) (save it as UTF-8, e.g. iconv -f latin1 -t "
        "utf-8 FILE > NEW, and rerun)",
    )


def test_an_unreadable_cub_images_txt(run, synth_dir, tmp_path, monkeypatch):
    """Permission denied, simulated (the tests run as root, whom chmod does not stop): see
    :func:`tests.data.test_data_bad_inputs.unreadable`; the run is inline, so it applies."""
    root = copy_synth(synth_dir, tmp_path / "data")
    unreadable(monkeypatch, root / "cub" / "images.txt")
    result = run(*HUMAN, f"--fgbmk-data={root}")
    _stopped_once(
        result,
        f"{root / 'cub' / 'images.txt'}: cannot be read: Permission denied (make it a file the "
        "user running the tests can read (check its permissions and owner), then rerun)",
    )


def test_two_cub_image_ids_for_one_file(run, synth_dir, tmp_path):
    root = copy_synth(synth_dir, tmp_path / "data")
    index = root / "cub" / "images.txt"
    lines = index.read_text(encoding="utf-8").splitlines()
    first = lines[0].split(" ", 1)[1]
    lines[4] = f"5 {first}"  # image id 5 now names image 1's file
    index.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run(*HUMAN, f"--fgbmk-data={root}")
    _stopped_once(
        result,
        f"{index}:5: image id 5 points at the same file {first!r} as image id 1 (line 1): its "
        "questions would repeat the other's (list each image file once, under one id)",
    )


# -- baselines ------------------------------------------------------------------------------

ONE = ("-k", "synth_birds and (genus or class) and tf")
FOLDER = Path("baselines") / "oracle" / "test_granularity"


def _edit(path: Path, change) -> None:
    record = json.loads(path.read_text(encoding="utf-8"))
    change(record)
    path.write_text(json.dumps(record, indent=2), encoding="utf-8")


def _flip_one_id_byte(record: dict) -> None:
    raw = bytearray(base64.b64decode(record["outcomes"]["ids"]))
    raw[11] ^= 0x01  # one bit of the second question's digest
    record["outcomes"]["ids"] = base64.b64encode(bytes(raw)).decode()


def test_broken_baselines_fail_their_case_naming_the_file_and_the_rewrite(run, pytester):
    run(*HUMAN, *ONE, "--fgbmk-update-baselines").assert_outcomes(passed=2)
    high = FOLDER / "test_granularity[synth_birds-class-tf].json"
    flipped = FOLDER / "test_granularity[synth_birds-genus-tf].json"
    n = json.loads((pytester.path / flipped).read_text(encoding="utf-8"))["n"]
    _edit(pytester.path / high, lambda r: r.update(value="high"))
    _edit(pytester.path / flipped, _flip_one_id_byte)
    result = run(*HUMAN, *ONE)
    text = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in text and "INTERNALERROR" not in text
    assert result.ret == 1
    result.assert_outcomes(failed=2)
    failures = text.split("short test summary info")[0]
    messages = {
        "class": f"synth_birds-class-tf: the baseline file {high} is corrupt: not a valid "
        "baseline: 'value' must be a number, got \"high\"; restore it from version control, "
        "or rewrite it with: pytest ",
        "genus": f"synth_birds-genus-tf: the baseline file {flipped} is corrupt: 1 of its {n} "
        "outcome ids match no question of this run, although the question-id digest it "
        "records matches them all (its outcomes were edited or damaged); restore it from "
        "version control, or rewrite it with: pytest ",
    }
    for level, message in messages.items():
        assert failures.count(message) == 1, message
        line = next(x for x in failures.splitlines() if message in x)
        # the command rewrites exactly that case's baseline
        assert line.endswith(
            f"-k 'test_granularity[synth_birds-{level}-tf]' --fgbmk-update-baselines"
        ), line


# -- EXIF orientation ---------------------------------------------------------------------


def test_an_unknown_exif_orientation_is_one_usage_error(run):
    result = run(*HUMAN, "--fgbmk-exif-orientation=sideways")
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        ["ERROR: --fgbmk-exif-orientation='sideways' is not valid; use apply or ignore"]
    )


def test_a_baseline_made_with_exif_applied_is_not_compared_with_a_run_ignoring_it(run, pytester):
    one = ("-k", "synth_birds and class and tf")
    run(*HUMAN, *one, "--fgbmk-update-baselines").assert_outcomes(passed=1)
    record = json.loads(
        (pytester.path / FOLDER / "test_granularity[synth_birds-class-tf].json").read_text()
    )
    assert record["asked"]["exif_orientation"] == "apply"
    assert "images=2" in record["asked"]["rules"]
    result = run(*HUMAN, *one, "--fgbmk-exif-orientation=ignore", "--junitxml=out.xml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["fgbmk templates=original scoring=strict exif-orientation=ignore *"]
    )
    (props,) = junit(pytester.path / "out.xml").values()
    assert props["fingerprint_differs"] == "EXIF orientation: apply → ignore"
    run(*HUMAN, *one, "--fgbmk-exif-orientation=apply").assert_outcomes(passed=1)
