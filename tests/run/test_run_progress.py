"""A plain CI log (`pytest ... > run.log 2>&1`) shows progress while answering and fitting."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_a_plain_log_shows_answering_encoding_and_probe_fitting_progress(
    run, tmp_path, monkeypatch
):
    """The README's first command on one small synthetic dataset, its output not a terminal
    (pytester captures it as a CI log would)."""
    # a fresh user cache: the probe: model keeps its fitted heads there between runs
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    result = run(
        "--fgbmk-datasets=synth_birds",
        "--fgbmk-model=probe:efficientnet-lite0",
        "--fgbmk-no-cache",
        "--fgbmk-update-baselines",
    )
    text = result.stdout.str()
    assert result.ret == 0, text[-3000:]
    assert "\r" not in text  # whole lines only
    lines = text.splitlines()

    def shown(prefix: str) -> list[str]:
        return [line for line in lines if line.startswith(prefix)]

    answering = shown("fgbmk answering: ")
    assert answering and answering[-1].endswith("done") and "(100%)" in answering[-1]
    assert all("questions/s" in line for line in answering)
    # the train split is encoded once: by the machine cases or by the probe: model, whichever
    # comes first, the other reading the shared feature store
    done = [
        line
        for line in lines
        if line.endswith("done")
        and line.startswith(("fgbmk features synth_birds/train:", "probe: encoding synth_birds"))
    ]
    assert len(done) == 1, done
    # the probe: model fits its heads before answering, with progress
    assert shown("probe: fitting synth_birds heads")[-1].endswith("done")
    # the probe grids of the machine cases, with rate and ETA, then done
    assert shown("fgbmk robustness head synth_birds: ")[-1].endswith("done")
    grid = shown("fgbmk probe synth_birds: ")
    assert grid and all("epochs/s" in line for line in grid) and grid[-1].endswith("done")
    assert shown("fgbmk features synth_birds/test: ")[-1].endswith("done")
    # progress precedes the first test's result line (the run is measured before any test)
    first_result = next(
        i for i, line in enumerate(lines) if "test_attribute_recognition.py" in line
    )
    assert lines.index(answering[-1]) < first_result
