"""``benchmarks/bench_machine_scale.py --quick`` (issue 17 point 2): every stage timed at
each size, the growth exponents fitted, the figures written."""

from __future__ import annotations

import importlib
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.harness import REPO

SCRIPT = REPO / "benchmarks" / "bench_machine_scale.py"
STAGES = ("extract", "write", "read", "retrieval", "probe")


@pytest.fixture(scope="module")
def script():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        return importlib.import_module("bench_machine_scale")
    finally:
        sys.path.remove(str(SCRIPT.parent))


@pytest.mark.parametrize("b", [0.5, 1.0, 2.0])
def test_growth_recovers_the_exponent_of_a_power_law(script, b):
    ns = [1000, 2000, 4000, 8000]
    fit = script.growth(ns, [3e-4 * n**b for n in ns])
    assert fit["exponent"] == pytest.approx(b, abs=1e-12)
    assert fit["stderr"] == pytest.approx(0.0, abs=1e-9) and fit["points"] == 4


def test_images_carry_their_class(script, tmp_path):
    from PIL import Image

    files = script.write_images(tmp_path, 6, 3, seed=0)
    assert files == [(f"img/{i:06d}.jpg", i % 3) for i in range(6)]
    means = [np.asarray(Image.open(tmp_path / p)).reshape(-1, 3).mean(0) for p, _ in files]
    # the same class twice is closer in mean colour than two different classes
    same = math.dist(means[0], means[3])
    assert same < min(math.dist(means[0], means[1]), math.dist(means[0], means[2]))
    ds = script.subset(tmp_path, files, 4, 2, 3)
    assert [s.split for s in ds.samples] == ["train"] * 4 + ["test"] * 2
    assert [s.category for s in ds.samples] == [0, 1, 2, 0, 1, 2]


@pytest.mark.slow  # 20 to 100 s on a busy 2-core machine
def test_quick_run_times_every_stage_and_fits_their_growth(tmp_path):
    out = tmp_path / "figures.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
        capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("load average before:")
    assert lines[-1].startswith("load average after:")
    figures = json.loads(out.read_text())
    assert figures["sizes"] == [200, 400, 800] and figures["probe_grid"] == "small (quick)"
    rows = figures["rows"]
    assert [(r["n_train"], r["n_test"]) for r in rows] == [(200, 50), (400, 100), (800, 200)]
    for r in rows:
        assert all(r[stage] > 0 for stage in STAGES)
        assert not r["probe_cv"]
        # 20 well-separated classes: a random encoder's features still find them
        assert r["mAP"] > 0.5 and r["probe_top1"] > 0.5
    assert set(figures["growth"]) == set(STAGES)
    for stage in STAGES:
        assert figures["growth"][stage]["points"] == 3
        assert any(line.lstrip().startswith(f"{stage} ") for line in lines)


def test_bad_sizes_are_one_error_naming_the_option():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--sizes", "100,x"],
        capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "--sizes must be whole numbers separated by commas, got '100,x'" in proc.stderr
