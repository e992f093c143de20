"""Across meta-categories and origin vs aligned, on constructed features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.machine.alignment import alignment_effect
from pytest_fgbmk.machine.meta import ProbeTask, across_meta_categories
from pytest_fgbmk.machine.probe import ProbeSettings

FAST = ProbeSettings(epochs=15)


def _task(name, seed, classes, shift, overlap=0.0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(classes, 8)) + shift
    ytr, yte = np.repeat(np.arange(classes), 30), np.repeat(np.arange(classes), 10)
    xtr = centers[ytr] + 0.3 * rng.normal(size=(len(ytr), 8))
    xte = centers[yte] + 0.3 * rng.normal(size=(len(yte), 8))
    to = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    return ProbeTask(name, {"cls": to(xtr)}, ytr, {"cls": to(xte)}, yte, classes)


def test_disjoint_domains_lose_nothing_overlapping_ones_drop():
    far = across_meta_categories([_task("a", 0, 4, 0.0), _task("b", 1, 4, 30.0)], settings=FAST)
    assert far["a"].single_top1 == 1.0 and far["b"].multiple_top1 == 1.0
    assert far["a"].drop == 0.0
    # same feature region: the union probe confuses the two datasets' classes
    near = across_meta_categories([_task("a", 0, 4, 0.0), _task("b", 0, 4, 0.0)], settings=FAST)
    assert near["a"].single_top1 == 1.0
    assert near["a"].multiple_top1 + near["b"].multiple_top1 == pytest.approx(1.0, abs=0.15)
    assert near["a"].drop + near["b"].drop > 0.8  # one of each pair of twins is wrong
    assert near["a"].multiple_correct.shape == (40,)


def test_meta_needs_two_datasets_and_a_shared_view():
    a = _task("a", 0, 3, 0.0)
    with pytest.raises(ConfigError, match="two"):
        across_meta_categories([a])
    with pytest.raises(ConfigError, match="repeat"):
        across_meta_categories([a, a])
    b = ProbeTask(
        "b", {"cls": torch.ones(6, 5)}, np.arange(6) % 2, {"cls": torch.ones(2, 5)}, np.arange(2), 2
    )
    with pytest.raises(ConfigError, match="share no feature view"):
        across_meta_categories([a, b])


def test_alignment_effect_probes_both_sides():
    rng = np.random.default_rng(3)
    y, yt = np.repeat(np.arange(3), 30), np.repeat(np.arange(3), 10)

    def good(lab):
        return torch.tensor(
            np.eye(3)[lab] * 4 + 0.3 * rng.normal(size=(len(lab), 3)), dtype=torch.float32
        )

    def noise(lab):
        return torch.tensor(rng.normal(size=(len(lab), 3)), dtype=torch.float32)

    train = {"cls": good(y), "patch_mean": good(y), "aligned": noise(y)}
    test = {"cls": good(yt), "patch_mean": good(yt), "aligned": noise(yt)}
    eff = alignment_effect(train, y, test, yt, settings=FAST)
    assert eff.origin.top1 == 1.0
    assert eff.aligned.top1 < 0.7
    assert eff.delta == eff.aligned.top1 - 1.0
    assert eff.aligned.head.view == "aligned" and eff.origin.head.view in ("cls", "cls+patch")
    with pytest.raises(ConfigError, match="aligned"):
        alignment_effect({"cls": train["cls"]}, y, {"cls": test["cls"]}, yt)
