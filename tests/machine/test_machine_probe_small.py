"""The probe's head choice on small training sets (issue 15, point 2): k-fold cross-validation
on train, ties toward the more regularised head, the chosen setting refitted on all of train."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegressionCV
from sklearn.preprocessing import StandardScaler

from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.machine.probe import ProbeSettings, stratified_folds, train_probe


def _simulated(n_train: int, n_test: int, d: int, classes: int, seed: int):
    """``benchmarks/bench_probe.py``'s simulated(): Gaussian classes through a random mix."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(classes, d)) * (1.6 / np.sqrt(d) ** 0.5)
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    ytr = rng.integers(0, classes, n_train)
    yte = rng.integers(0, classes, n_test)
    xtr = ((centers[ytr] + rng.normal(size=(len(ytr), d))) @ mix + 2).astype(np.float32)
    xte = ((centers[yte] + rng.normal(size=(len(yte), d))) @ mix + 2).astype(np.float32)
    return xtr, ytr, xte, yte


def test_issue_problem_is_chosen_within_half_a_point_of_tuned_logistic_regression():
    """The issue's problem: 300 train, d=512, 10 classes, a 29-image validation split.

    Version 1 (lowest validation loss among the 13 heads tied at 100 %) chose lr 3.16 and
    scored 96.6 on test; scikit-learn's LogisticRegressionCV, ``C`` tuned over the same folds,
    scores 99.6. The new choice must come within 0.5 point of it.
    """
    xtr, ytr, xte, yte = _simulated(300, 1000, 512, 10, 1)
    settings = ProbeSettings(seed=1)
    res = train_probe({"cls": torch.tensor(xtr)}, ytr, {"cls": torch.tensor(xte)}, yte,
                      settings=settings)  # fmt: skip
    assert (res.folds, res.n_fit, res.n_val) == (5, 300, 300)
    sc = StandardScaler().fit(xtr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = LogisticRegressionCV(
            Cs=np.logspace(-3, 1, 5), cv=stratified_folds(ytr, 5, 1), max_iter=500
        ).fit(sc.transform(xtr), ytr)
    ref_top1 = ref.score(sc.transform(xte), yte)
    assert ref_top1 > 0.98  # the problem the issue measured (LogisticRegression: 99.0 there)
    assert res.top1 >= ref_top1 - 0.005
    assert res.head.lr < 1  # not the largest steps version 1 chose


def test_ties_go_to_the_smallest_step_then_the_strongest_weight_decay():
    """Classes far apart: every head validates at 100 %; the most regularised one is chosen
    (version 1's lowest validation loss chose the largest step)."""
    rng = np.random.default_rng(0)
    centers = np.eye(4, 6) * 20
    ytr, yte = np.repeat(np.arange(4), 25), np.repeat(np.arange(4), 10)
    xtr = (centers[ytr] + rng.normal(size=(100, 6))).astype(np.float32)
    xte = (centers[yte] + rng.normal(size=(40, 6))).astype(np.float32)
    s = ProbeSettings()
    res = train_probe({"cls": torch.tensor(xtr)}, ytr, {"cls": torch.tensor(xte)}, yte)
    assert set(res.val_scores.values()) == {1.0}
    assert (res.head.lr, res.head.weight_decay) == (min(s.lrs), max(s.weight_decays))
    assert res.top1 == 1.0


def test_same_seed_same_head_and_folds_seeded():
    xtr, ytr, xte, yte = _simulated(120, 50, 16, 5, 4)
    tr, te = {"cls": torch.tensor(xtr)}, {"cls": torch.tensor(xte)}
    a = train_probe(tr, ytr, te, yte, settings=ProbeSettings(seed=7))
    b = train_probe(tr, ytr, te, yte, settings=ProbeSettings(seed=7))
    assert (a.head.view, a.head.lr, a.head.weight_decay) == (
        b.head.view,
        b.head.lr,
        b.head.weight_decay,
    )
    assert torch.equal(a.head.weight, b.head.weight) and torch.equal(a.head.bias, b.head.bias)
    assert a.val_scores == b.val_scores
    np.testing.assert_array_equal(a.predictions, b.predictions)
    f7, f8 = stratified_folds(ytr, 5, 7), stratified_folds(ytr, 5, 8)
    assert all(
        np.array_equal(x[1], y[1]) for x, y in zip(f7, stratified_folds(ytr, 5, 7), strict=True)
    )
    assert not all(np.array_equal(x[1], y[1]) for x, y in zip(f7, f8, strict=True))


def test_folds_partition_train_stratified():
    y = np.repeat(np.arange(6), [10, 20, 7, 1, 3, 12])
    folds = stratified_folds(y, 5, 0)
    vals = np.concatenate([v for _, v in folds])
    np.testing.assert_array_equal(np.sort(vals), np.arange(len(y)))  # a partition
    for fit, val in folds:
        assert set(fit).isdisjoint(val) and len(fit) + len(val) == len(y)
    sizes = [len(v) for _, v in folds]
    assert max(sizes) - min(sizes) <= 1  # 53 samples: 11, 11, 11, 10, 10
    per_class = np.array([np.bincount(y[v], minlength=6) for _, v in folds])
    np.testing.assert_array_equal(per_class[:, 0], [2] * 5)
    np.testing.assert_array_equal(per_class[:, 1], [4] * 5)
    assert per_class[:, 2].max() - per_class[:, 2].min() <= 1
    assert per_class[:, 3].sum() == 1 and per_class[:, 4].max() == 1
    assert len(stratified_folds(np.array([0, 1, 0]), 5, 0)) == 3  # no more folds than samples
    with pytest.raises(ConfigError, match="too small to cross-validate"):
        stratified_folds(np.array([0]), 5, 0)


def test_a_large_validation_split_is_still_chosen_on_directly():
    """cv_below=0: the held-out split chooses (the CUB-shaped path), nothing is refitted."""
    xtr, ytr, xte, yte = _simulated(200, 50, 8, 4, 2)
    res = train_probe({"cls": torch.tensor(xtr)}, ytr, {"cls": torch.tensor(xte)}, yte,
                      settings=ProbeSettings(cv_below=0))  # fmt: skip
    assert res.folds == 0 and res.n_fit + res.n_val == 200 and res.n_val == 20
    cv = train_probe({"cls": torch.tensor(xtr)}, ytr, {"cls": torch.tensor(xte)}, yte)
    assert (cv.folds, cv.n_fit, cv.n_val) == (5, 200, 200)


def test_cv_settings_are_validated_and_keyed():
    with pytest.raises(ConfigError, match="cv_folds"):
        ProbeSettings(cv_folds=1)
    assert "cv=5<500;refit" in ProbeSettings().key()
    assert ProbeSettings().key() != ProbeSettings(cv_below=100).key()
