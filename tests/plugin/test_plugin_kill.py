"""Resumability: SIGKILL a run mid-way; the cache keeps every committed batch and the
rerun asks the model only for the rest."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_fgbmk.cache import AnswerCache, CacheKey
from pytest_fgbmk.models.base import GenerationSettings
from tests.harness import PLUGIN_ARGS, REPO

BATCH = 8


def _command(log: Path, cache: Path, delay: float) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        *PLUGIN_ARGS,
        "-p",
        "no:cacheprovider",
        "-q",
        "--pyargs",
        "pytest_fgbmk.suites",
        "-m",
        "fgbmk_human",
        "--fgbmk-synth=small",
        "--fgbmk-model=tests.fake_models:counting",
        f"--fgbmk-model-arg=log={log}",
        f"--fgbmk-model-arg=delay={delay}",
        f"--fgbmk-cache={cache}",
        f"--fgbmk-batch-size={BATCH}",
        "-k",
        "synth_birds",
    ]


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_sigkill_loses_at_most_the_batch_in_flight(tmp_path, synth_dir):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env["FGBMK_SYNTH_DIR"] = str(synth_dir)
    log, cache_dir = tmp_path / "asked.txt", tmp_path / "cache"
    proc = subprocess.Popen(
        _command(log, cache_dir, delay=0.15),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if log.exists() and len(log.read_text().split()) >= 5 * BATCH:
                break
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail("the run never answered 5 batches within 120 s")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    asked_before = log.read_text().split()
    cache = AnswerCache(cache_dir)
    key = CacheKey("counting-v1", GenerationSettings().key())
    committed = cache.question_ids(key)
    cache.close()
    assert committed and committed <= set(asked_before)
    assert len(set(asked_before) - committed) <= BATCH  # at most the batch in flight
    log.unlink()
    done = subprocess.run(
        _command(log, cache_dir, delay=0.0),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # 0 or 1: pass/fail is the gate's verdict (no baseline stored here); anything else is a crash
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    counts = {
        k: int(v)
        for v, k in re.findall(r"(\d+) (passed|failed|error)", done.stdout.splitlines()[-1])
    }
    assert counts.get("passed", 0) + counts.get("failed", 0) == 24 and "error" not in counts
    asked_after = log.read_text().split()
    assert len(asked_after) == len(set(asked_after))
    assert not set(asked_after) & committed  # nothing committed was asked again
    assert len(committed) + len(asked_after) == 300  # every question of synth_birds, once
    assert "300 questions, " + str(len(committed)) + " from the cache" in done.stdout
