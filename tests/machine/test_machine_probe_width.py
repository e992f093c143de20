"""The probe head's width comes from the train labels or the declared classes, never from test."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.machine.probe import ProbeSettings, train_probe


def _data():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 8)) * 2.0
    ytr = np.repeat(np.arange(3), 30)
    yte = np.array([0, 1, 2, 0, 1, 2])
    xtr = (centers[ytr] + rng.normal(size=(90, 8))).astype(np.float32)
    xte = (centers[yte] + rng.normal(size=(6, 8))).astype(np.float32)
    return {"cls": torch.from_numpy(xtr)}, ytr, {"cls": torch.from_numpy(xte)}, yte


def test_test_labels_do_not_set_the_head_width():
    """A test label beyond train's classes (here 7) used to widen the head to 8 classes, and
    training against the 5 empty ones changed every weight; now it is one wrong answer."""
    tr, ytr, te, yte = _data()
    s = ProbeSettings(epochs=2, min_steps=0)
    ref = train_probe(tr, ytr, te, yte, settings=s)
    unseen = yte.copy()
    unseen[0] = 7
    res = train_probe(tr, ytr, te, unseen, settings=s)
    assert res.head.weight.shape == ref.head.weight.shape == (8, 3)
    assert torch.equal(res.head.weight, ref.head.weight)
    assert torch.equal(res.head.bias, ref.head.bias)
    np.testing.assert_array_equal(res.predictions, ref.predictions)
    assert not res.per_sample[0]
    np.testing.assert_array_equal(res.per_sample[1:], ref.per_sample[1:])


def test_declared_classes_set_the_width_and_bound_test_labels():
    tr, ytr, te, yte = _data()
    s = ProbeSettings(epochs=2, min_steps=0)
    res = train_probe(tr, ytr, te, yte, n_classes=5, settings=s)
    assert res.head.weight.shape == (8, 5)
    unseen = yte.copy()
    unseen[2] = 5
    with pytest.raises(ConfigError, match="labels go up to 5 but n_classes is 5"):
        train_probe(tr, ytr, te, unseen, n_classes=5, settings=s)
