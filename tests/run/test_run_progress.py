"""A plain CI log (`pytest ... > run.log 2>&1`) shows progress while answering and fitting."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_a_plain_log_shows_answering_encoding_and_probe_fitting_progress(tmp_path, synth_dir):
    """The README's first command on the small synthetic data, its output sent to a file."""
    log = tmp_path / "run.log"
    # a fresh user cache: the probe: model keeps its fitted heads there between runs
    env = dict(os.environ, FGBMK_SYNTH_DIR=str(synth_dir), XDG_CACHE_HOME=str(tmp_path / "xdg"))
    with log.open("w") as out:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "pytest_fgbmk.plugin",
                "-p",
                "no:cacheprovider",
                "--pyargs",
                "pytest_fgbmk.suites",
                "--fgbmk-synth=small",
                "--fgbmk-model=probe:efficientnet-lite0",
                "--fgbmk-no-cache",
                "--fgbmk-update-baselines",
            ],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=900,
        )
    text = log.read_text()
    assert proc.returncode == 0, text[-3000:]
    assert "\r" not in text  # whole lines only
    lines = text.splitlines()

    def shown(prefix: str) -> list[str]:
        return [line for line in lines if line.startswith(prefix)]

    answering = shown("fgbmk answering: ")
    assert answering and answering[-1].endswith("done") and "(100%)" in answering[-1]
    assert all("questions/s" in line for line in answering)
    # each train split is encoded once: by the machine cases or by the probe: model, whichever
    # comes first, the other reading the shared feature store
    for ds in ("synth_birds", "synth_flowers"):
        done = [
            line
            for line in lines
            if line.endswith("done")
            and line.startswith((f"fgbmk features {ds}/train:", f"probe: encoding {ds} train"))
        ]
        assert len(done) == 1, done
        # the probe: model fits its heads before answering, with progress
        assert shown(f"probe: fitting {ds} heads")[-1].endswith("done")
    # the linear-probe grid of the machine cases, per dataset, with rate and ETA or done
    assert shown("fgbmk robustness head synth_birds: ")[-1].endswith("done")
    grid = shown("fgbmk probe synth_birds: ")
    assert grid and all("epochs/s" in line for line in grid) and grid[-1].endswith("done")
    assert shown("fgbmk features synth_flowers/test: ")
    # progress precedes the first test's result line (the run is measured before any test)
    first_result = next(
        i for i, line in enumerate(lines) if "test_attribute_recognition.py" in line
    )
    assert lines.index(answering[-1]) < first_result
