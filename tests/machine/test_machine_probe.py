"""Linear-probe grid: against a tuned scikit-learn LogisticRegression, never chosen on test."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.preprocessing import StandardScaler

from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.machine.probe import (
    ProbeSettings,
    dinov2_views,
    preconditioner,
    stratified_split,
    train_probe,
)


def _problem(seed: int, classes=20, per=60, test_per=50, d=32, spread=0.45):
    """Gaussian classes seen through a random linear mix and offset (CUB-like, smaller)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(classes, d)) * spread
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    ytr, yte = np.repeat(np.arange(classes), per), np.repeat(np.arange(classes), test_per)
    xtr = (centers[ytr] + rng.normal(size=(len(ytr), d))) @ mix + 3.0
    xte = (centers[yte] + rng.normal(size=(len(yte), d))) @ mix + 3.0
    return xtr.astype(np.float32), ytr, xte.astype(np.float32), yte


def _tuned_logreg(xtr, ytr, xte, yte, seed=0):
    fit, val = stratified_split(ytr, 0.1, seed)
    sc = StandardScaler().fit(xtr[fit])
    best = None
    for c in np.logspace(-3, 1, 9):
        lr = LogisticRegression(C=c, max_iter=500).fit(sc.transform(xtr[fit]), ytr[fit])
        v = lr.score(sc.transform(xtr[val]), ytr[val])
        if best is None or v > best[0]:
            best = (v, lr)
    return best[1].score(sc.transform(xte), yte)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_probe_reaches_tuned_logistic_regression(seed):
    xtr, ytr, xte, yte = _problem(seed)
    res = train_probe({"cls": torch.tensor(xtr)}, ytr, {"cls": torch.tensor(xte)}, yte)
    ref = _tuned_logreg(xtr, ytr, xte, yte)
    assert 0.3 < ref < 0.95  # a problem where the head matters
    assert res.top1 >= ref - 0.005
    assert res.per_sample.dtype == bool and res.per_sample.mean() == res.top1
    assert len(res.val_scores) == 8 * 2  # 8 learning rates × 2 weight decays


@pytest.mark.parametrize(("n", "d"), [(60, 12), (12, 40)])  # covariance route, Gram route
def test_preconditioner_shrinks_the_spectrum_exactly(n, d):
    """``Pᵀ Σ P = diag(e (ē + λ̄) / (e + λ̄))`` on the fit span, against numpy's eigh."""
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * rng.uniform(0.1, 3, size=d)
    x = (x - x.mean(0)) / x.std(0)
    p = preconditioner(torch.tensor(x, dtype=torch.float64), 1.0)
    cov = x.T @ x / n
    e = np.linalg.eigvalsh(cov)
    kept = np.sort(e[e > e.max() * 1e-6])
    assert p.shape == (d, min(n, d) - (n <= d))  # centring removes one dimension when n <= d
    mean_e = e.clip(0).sum() / d
    want = kept * (2 * mean_e) / (kept + mean_e)
    got = np.linalg.eigvalsh(p.numpy().T @ cov @ p.numpy())
    np.testing.assert_allclose(np.sort(got), want, rtol=1e-9, atol=1e-12)
    assert preconditioner(torch.tensor(x), 0.0) is None
    assert preconditioner(torch.zeros(5, 3), 1.0) is None


def test_preconditioned_probe_is_one_linear_head_on_standardised_features():
    """Fewer samples than dimensions: trained in the span, folded back to a d-wide head."""
    rng = np.random.default_rng(5)
    means = rng.normal(size=(3, 100))
    y, yte = np.repeat(np.arange(3), 20), np.repeat(np.arange(3), 30)
    x = (rng.normal(size=(60, 100)) + means[y]).astype(np.float32)
    xte = (rng.normal(size=(90, 100)) + means[yte]).astype(np.float32)
    res = train_probe({"cls": torch.tensor(x)}, y, {"cls": torch.tensor(xte)}, yte)
    assert res.head.weight.shape == (100, 3)
    assert res.top1 == 1.0
    with torch.no_grad():
        manual = ((torch.tensor(xte) - res.head.mean) / res.head.std) @ res.head.weight
    np.testing.assert_array_equal(manual.add(res.head.bias).argmax(1).numpy(), res.predictions)


def test_epochs_grow_for_small_training_sets():
    s = ProbeSettings()
    assert s.epochs_for(5400) == 10  # 22 steps an epoch: 220 steps
    assert s.epochs_for(312) == 100  # 2 steps an epoch: 200 steps
    assert ProbeSettings(min_steps=0).epochs_for(10) == 10
    assert "shrink=1" in s.key() and "steps=200" in s.key()


def test_split_is_stratified_seeded_and_disjoint():
    y = np.repeat(np.arange(7), [10, 20, 30, 1, 2, 40, 11])
    fit, val = stratified_split(y, 0.1, 3)
    assert set(fit).isdisjoint(val) and len(fit) + len(val) == len(y)
    counts = np.bincount(y[val], minlength=7)
    np.testing.assert_array_equal(counts, [1, 2, 3, 0, 0, 4, 1])
    fit2, val2 = stratified_split(y, 0.1, 3)
    np.testing.assert_array_equal(val, val2)
    assert not np.array_equal(val, stratified_split(y, 0.1, 4)[1])
    with pytest.raises(ConfigError, match="too small"):
        stratified_split(np.arange(5), 0.1, 0)


def test_head_is_never_chosen_on_test():
    """View 'leak' is useless on train/val but perfect on test: the probe must not pick it."""
    xtr, ytr, xte, yte = _problem(1, classes=10, per=40, test_per=30, d=16, spread=1.0)
    rng = np.random.default_rng(9)
    leak_tr = rng.normal(size=(len(ytr), 10)).astype(np.float32)
    leak_te = np.eye(10, dtype=np.float32)[yte] * 10
    settings = ProbeSettings(epochs=20)
    res = train_probe(
        {"good": torch.tensor(xtr), "leak": torch.tensor(leak_tr)},
        ytr,
        {"good": torch.tensor(xte), "leak": torch.tensor(leak_te)},
        yte,
        settings=settings,
    )
    assert res.head.view == "good"
    assert res.top1 < 1.0
    best_val = max(res.val_scores.values())
    assert res.val_scores[f"good|lr={res.head.lr:.3g}|wd={res.head.weight_decay:.3g}"] == best_val


def test_deterministic_for_a_seed():
    xtr, ytr, xte, yte = _problem(2, classes=5, per=30, test_per=10, d=8)
    s = ProbeSettings(epochs=5)
    a = train_probe({"cls": torch.tensor(xtr)}, ytr, {"cls": torch.tensor(xte)}, yte, settings=s)
    b = train_probe({"cls": torch.tensor(xtr)}, ytr, {"cls": torch.tensor(xte)}, yte, settings=s)
    assert torch.equal(a.head.weight, b.head.weight)
    np.testing.assert_array_equal(a.predictions, b.predictions)


def test_mean_per_class_accuracy_is_exact():
    # separable one-hot features: every class perfectly predicted except one planted flip
    y = np.repeat(np.arange(4), 20)
    x = np.eye(4, dtype=np.float32)[y] * 5
    yte = np.array([0, 0, 1, 2, 3, 3, 3, 3])
    xte = np.eye(4, dtype=np.float32)[[0, 0, 1, 2, 3, 3, 3, 0]] * 5  # last looks like class 0
    res = train_probe(
        {"cls": torch.tensor(x)},
        y,
        {"cls": torch.tensor(xte)},
        yte,
        settings=ProbeSettings(epochs=10),
    )
    assert res.top1 == 7 / 8
    assert res.mean_per_class == pytest.approx((1 + 1 + 1 + 0.75) / 4)
    np.testing.assert_array_equal(res.per_sample, [1, 1, 1, 1, 1, 1, 1, 0])


def test_multilabel_gets_sigmoid_heads_and_label_map():
    rng = np.random.default_rng(4)
    n, d, c = 400, 12, 5
    proj = rng.normal(size=(d, c))
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = ((x @ proj + rng.normal(size=(n, c)) * 0.5) > 0.8).astype(np.int64)
    xte = rng.normal(size=(150, d)).astype(np.float32)
    yte = ((xte @ proj) > 0.8).astype(np.int64)
    res = train_probe(
        {"cls": torch.tensor(x)},
        y,
        {"cls": torch.tensor(xte)},
        yte,
        settings=ProbeSettings(epochs=15),
    )
    assert res.head.multilabel
    with torch.no_grad():
        scores = res.head.logits(torch.tensor(xte)).numpy()
    ref = np.mean([average_precision_score(yte[:, j], scores[:, j]) for j in range(c)])
    assert res.top1 == pytest.approx(ref, abs=1e-12)
    assert res.top1 > 0.8
    assert res.per_sample.shape == (150,)


def test_dinov2_views_from_encode_outputs():
    enc = {
        "cls": torch.ones(3, 4),
        "patch_mean": torch.zeros(3, 4),
        "blocks": torch.arange(3 * 5 * 4, dtype=torch.float32).view(3, 5, 4),
    }
    v = dinov2_views(enc)
    assert sorted(v) == ["cls", "cls+patch", "cls4", "cls4+patch"]
    assert v["cls4"].shape == (3, 16) and v["cls4+patch"].shape == (3, 20)
    assert torch.equal(v["cls4"][0], enc["blocks"][0, 1:].flatten())
    assert sorted(dinov2_views({"cls": torch.ones(2, 3)})) == ["cls"]
    with pytest.raises(ConfigError, match="cls"):
        dinov2_views({"aligned": torch.ones(2, 3)})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"test_views": {"other": torch.ones(4, 3)}}, "differ"),
        ({"train_views": {"cls": torch.full((40, 3), float("nan"))}}, "NaN"),
        ({"train_views": {"cls": torch.ones(39, 3)}}, r"\(40, dim\)"),
        ({"n_classes": 1}, "n_classes"),
    ],
)
def test_bad_input_raises_config_error(kwargs, match):
    args = {
        "train_views": {"cls": torch.ones(40, 3)},
        "train_labels": np.arange(40) % 2,
        "test_views": {"cls": torch.ones(4, 3)},
        "test_labels": np.arange(4) % 2,
        "settings": ProbeSettings(epochs=1),
    }
    args.update(kwargs)
    with pytest.raises(ConfigError, match=match):
        train_probe(**args)


def test_settings_validated():
    with pytest.raises(ConfigError):
        ProbeSettings(lrs=())
    with pytest.raises(ConfigError):
        ProbeSettings(val_fraction=1.5)
    with pytest.raises(ConfigError):
        ProbeSettings(weight_decays=(-1.0,))
    with pytest.raises(ConfigError, match="shrinkage"):
        ProbeSettings(shrinkage=-1.0)
    with pytest.raises(ConfigError, match="min_steps"):
        ProbeSettings(min_steps=-1)
