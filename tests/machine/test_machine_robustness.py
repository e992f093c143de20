"""PGD robustness: bounds respected and reached, eps = 0 is clean, monotone in eps."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.machine.probe import GridHead as LinearHead
from pytest_fgbmk.machine.robustness import _norm_of, feature_robustness, pgd


def _setup(seed=0, n=300, d=16, c=5):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(c, d, generator=g) * 0.8
    y = torch.arange(n) % c
    x = centers[y] + torch.randn(n, d, generator=g) + 1.0
    head = LinearHead(
        view="cls",
        lr=0.1,
        weight_decay=0.0,
        mean=torch.full((d,), 1.0),
        std=torch.ones(d),
        weight=centers.T.contiguous(),
        bias=-0.5 * (centers**2).sum(1),
    )
    return head, x, y.numpy()


def test_eps_zero_is_clean_exactly_and_monotone():
    head, x, y = _setup()
    res = feature_robustness(head, x, y, eps_rel=(0.0, 0.02, 0.05, 0.1, 0.2, 0.4))
    with torch.no_grad():
        clean = (head.logits(x).argmax(1).numpy() == y).mean()
    assert res.clean_top1 == clean
    assert res.top1(0.0) == clean and res.drop(0.0) == 0.0
    tops = [res.top1(e) for e in res.eps_rel]
    assert all(a >= b for a, b in zip(tops, tops[1:], strict=False))
    assert tops[-1] < clean - 0.2  # the attack really hurts at a large radius
    assert res.max_perturbation[0.0] == 0.0


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_every_perturbation_within_and_at_its_bound(norm):
    head, x, y = _setup(1)
    eps = 0.3
    delta = pgd(head.logits, x, torch.as_tensor(y), eps, norm=norm, steps=10)
    norms = _norm_of(delta, norm)
    assert (norms <= eps * (1 + 1e-6)).all()
    assert float(norms.min()) >= eps * 0.999  # the bound is reached for every sample


def test_relative_eps_scales_with_feature_norm():
    head, x, y = _setup(2)
    res = feature_robustness(head, x, y, eps_rel=(0.1,), norm="l2")
    assert res.eps_abs[0] == pytest.approx(0.1 * float(x.norm(dim=1).mean()), rel=1e-6)
    res = feature_robustness(head, x, y, eps_rel=(0.1,), norm="linf")
    expect = 0.1 * float(x.norm(dim=1).mean()) / math.sqrt(x.shape[1])
    assert res.eps_abs[0] == pytest.approx(expect, rel=1e-6)
    assert res.max_perturbation[0.1] == pytest.approx(expect, rel=1e-5)


def test_pgd_beats_random_noise_of_the_same_size():
    head, x, y = _setup(3)
    yt = torch.as_tensor(y)
    eps = 0.5
    delta = pgd(head.logits, x, yt, eps, norm="linf", steps=10)
    noise = (torch.randint(0, 2, x.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1) * eps
    with torch.no_grad():
        adv = (head.logits(x + delta).argmax(1) == yt).float().mean()
        rnd = (head.logits(x + noise).argmax(1) == yt).float().mean()
    assert adv < rnd - 0.1


def test_pixel_space_through_an_encoder_with_box():
    torch.manual_seed(0)
    enc = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 3),
    )
    images = torch.rand(6, 3, 8, 8)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    eps = 8 / 255
    delta = pgd(enc, images, y, eps, norm="linf", steps=5, clamp=(0.0, 1.0))
    assert (delta.abs() <= eps + 1e-7).all()
    adv = images + delta
    assert adv.min() >= 0.0 and adv.max() <= 1.0
    assert delta.abs().max() > 0.9 * eps


@settings(max_examples=20, deadline=None)
@given(st.floats(0.0, 2.0), st.sampled_from(["linf", "l2"]), st.integers(1, 6), st.integers(0, 99))
def test_property_projection_holds(eps, norm, steps, seed):
    head, x, y = _setup(seed, n=20, d=6, c=3)
    delta = pgd(head.logits, x, torch.as_tensor(y), eps, norm=norm, steps=steps, seed=seed)
    assert (_norm_of(delta, norm) <= eps * (1 + 1e-5) + 1e-7).all()


def test_bad_options_raise_config_error():
    head, x, y = _setup()
    with pytest.raises(ConfigError, match="norm"):
        pgd(head.logits, x, torch.as_tensor(y), 0.1, norm="l1")
    with pytest.raises(ConfigError, match="loss"):
        pgd(head.logits, x, torch.as_tensor(y), 0.1, loss="hinge")
    ce = pgd(head.logits, x, torch.as_tensor(y), 0.1, loss="ce", steps=3)
    assert (ce.abs() <= 0.1 + 1e-7).all()
    with pytest.raises(ConfigError, match="radius"):
        pgd(head.logits, x, torch.as_tensor(y), -1.0)
    with pytest.raises(ConfigError, match=">= 0"):
        feature_robustness(head, x, y, eps_rel=(-0.1,))
    with pytest.raises(ConfigError, match="match"):
        feature_robustness(head, x, y[:-1])
    mh = LinearHead("cls", 0.1, 0.0, head.mean, head.std, head.weight, head.bias, multilabel=True)
    with pytest.raises(ConfigError, match="multi-label"):
        feature_robustness(mh, x, y)
    assert np.isfinite(feature_robustness(head, x, y, eps_rel=(0.0,)).clean_top1)
