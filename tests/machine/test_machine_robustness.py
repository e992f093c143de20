"""PGD robustness: bounds respected and reached, eps = 0 is clean, monotone in eps."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.machine.probe import GridHead as LinearHead
from pytest_fgbmk.machine.robustness import _norm_of, _project, feature_robustness, pgd
from pytest_fgbmk.machine.worst_case import breaking_radius, exact_correct


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


# -- the exact worst case (machine/worst_case.py) and PGD against it --------------------------


def _tiny_head(seed: int, d: int, c: int, dtype=torch.float64) -> LinearHead:
    g = torch.Generator().manual_seed(seed)
    return LinearHead(
        view="cls",
        lr=0.1,
        weight_decay=0.0,
        mean=torch.randn(d, generator=g, dtype=dtype),
        std=torch.rand(d, generator=g, dtype=dtype) * 2 + 0.2,
        weight=torch.randn(d, c, generator=g, dtype=dtype),
        bias=torch.randn(c, generator=g, dtype=dtype),
    )


def _brute_linf(head: LinearHead, x: torch.Tensor, y: np.ndarray, eps: float) -> np.ndarray:
    """Correct under every vertex of the L∞ box: a linear margin's minimum over a box is at
    a vertex, so a sample survives the box exactly when it survives all 2^d vertices."""
    d = x.shape[1]
    vertices = torch.tensor(list(itertools.product((-eps, eps), repeat=d)), dtype=x.dtype)
    ok = np.ones(len(y), dtype=bool)
    for v in vertices:
        z = head.logits(x + v)
        true = z[torch.arange(len(y)), torch.as_tensor(y)]
        others = z.clone()
        others[torch.arange(len(y)), torch.as_tensor(y)] = -torch.inf
        ok &= (true > others.amax(1)).numpy()  # a tie goes to the attacker
    return ok


def _brute_l2_2d(head: LinearHead, x: torch.Tensor, y: np.ndarray, eps: float) -> np.ndarray:
    """Correct on 20,000 points of the circle of radius eps (2-D; the worst case of a linear
    margin over a disc is on its circle; the sampling misses it by < 2e-8 relative)."""
    theta = torch.linspace(0, 2 * math.pi, 20_001, dtype=x.dtype)[:-1]
    ring = eps * torch.stack([theta.cos(), theta.sin()], 1)
    z = head.logits(x[:, None, :] + ring[None])  # (N, K, C)
    yt = torch.as_tensor(y)
    true = z[torch.arange(len(y)), :, yt]  # (N, K)
    z[torch.arange(len(y)), :, yt] = -torch.inf
    return (true > z.amax(2)).all(1).numpy()


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([2, 3]), st.integers(2, 5), st.floats(0.05, 1.5))
def test_exact_worst_case_linf_equals_the_vertices_brute_force(seed, d, c, eps):
    head = _tiny_head(seed, d, c)
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(40, d, generator=g, dtype=torch.float64) * 2
    y = head.logits(x).argmax(1).numpy()  # all clean-correct: the ball decides
    y[::4] = (y[::4] + 1) % c  # and some wrong ones, which stay wrong
    clean = head.logits(x).argmax(1).numpy() == y
    r = breaking_radius(head.linear, x, y, "linf")
    near = np.isclose(r, eps, rtol=1e-9)  # a tie: float rounding decides, skip
    (exact,) = exact_correct(head.linear, x, y, [eps], "linf", clean)
    brute = _brute_linf(head, x, y, eps)
    assert (exact == brute)[~near].all()
    assert not exact[::4][clean[::4] == 0].any()


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 5), st.floats(0.05, 1.5))
def test_exact_worst_case_l2_equals_the_circle_brute_force(seed, c, eps):
    head = _tiny_head(seed, 2, c)
    x = torch.randn(30, 2, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    y = head.logits(x).argmax(1).numpy()
    clean = np.ones(len(y), dtype=bool)
    r = breaking_radius(head.linear, x, y, "l2")
    near = np.abs(r / eps - 1) < 1e-6  # the circle's sampling error is below 2e-8 relative
    (exact,) = exact_correct(head.linear, x, y, [eps], "l2", clean)
    assert (exact == _brute_l2_2d(head, x, y, eps))[~near].all()


def test_breaking_radius_by_hand():
    """d = 2, two classes, std 2: at x = (1, 0), x/std = (0.5, 0), z = (1, -1.5), margin 2.5;
    v = (w0 - w1)/std = (1, -0.5): ‖v‖₂ = √1.25, ‖v‖₁ = 1.5."""
    head = LinearHead(
        "cls", 0.1, 0.0, torch.zeros(2, dtype=torch.float64), torch.full((2,), 2.0, dtype=torch.float64),
        torch.tensor([[2.0, 0.0], [0.0, 1.0]], dtype=torch.float64), torch.tensor([0.0, -1.5], dtype=torch.float64),
    )  # fmt: skip
    x = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    assert breaking_radius(head.linear, x, np.array([0]), "l2")[0] == pytest.approx(
        2.5 / math.sqrt(1.25)
    )
    assert breaking_radius(head.linear, x, np.array([0]), "linf")[0] == pytest.approx(2.5 / 1.5)
    assert breaking_radius(head.linear, x, np.array([1]), "l2")[0] == 0.0  # already wrong
    same = LinearHead("cls", 0.1, 0.0, None, None, torch.ones(2, 2), torch.tensor([1.0, 0.0]))
    assert breaking_radius(same.linear, x.float(), np.array([0]), "l2")[0] == math.inf


def _many_classes(seed=0, n=400, d=64, c=20):
    """Classes whose nearest rival differs from the logit runner-up: the untargeted margin
    ascent follows the runner-up and understates the attack."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(d, c, generator=g) * torch.linspace(0.2, 3.0, c)  # unequal weight norms
    head = LinearHead("cls", 0.1, 0.0, torch.randn(d, generator=g), torch.rand(d, generator=g) + 0.5,
                      w, torch.randn(c, generator=g))  # fmt: skip
    x = torch.randn(n, d, generator=g) * 2
    y = head.logits(x).argmax(1).numpy()
    y[::10] = (y[::10] + 1) % c
    return head, x, y


@pytest.mark.parametrize(
    ("norm", "radii"),
    [("l2", (0.0, 0.01, 0.02, 0.05, 0.1)), ("linf", (0.0, 0.005, 0.01, 0.02, 0.05))],
)
def test_pgd_comes_within_a_point_of_the_exact_worst_case(norm, radii):
    head, x, y = _many_classes()
    res = feature_robustness(head, x, y, eps_rel=radii, norm=norm)
    gaps = [100 * (res.top1(e) - res.exact_top1(e)) for e in radii]
    assert res.exact_top1(0.0) == res.clean_top1
    assert all(-1e-9 <= g <= 1.0 for g in gaps), gaps  # never below the certificate
    exact = [res.exact_top1(e) for e in radii]
    assert exact == sorted(exact, reverse=True) and exact[-1] < res.clean_top1 - 0.3
    # the untargeted run alone (version 1 of the attack) falls short by more than a point
    alone = feature_robustness(head, x, y, eps_rel=radii, norm=norm, targets=0)
    assert max(100 * (alone.top1(e) - alone.exact_top1(e)) for e in radii) > 1.0


@settings(max_examples=40, deadline=None)
@given(
    st.floats(1e-6, 50.0),
    st.sampled_from(["linf", "l2"]),
    st.integers(1, 512),
    st.integers(0, 10_000),
    st.booleans(),
)
def test_property_every_returned_perturbation_is_inside_its_ball_exactly(
    eps, norm, d, seed, targeted
):
    """No tolerance: the float64 norm of the float32 values returned is <= eps."""
    g = torch.Generator().manual_seed(seed)
    c = 4
    head = LinearHead("cls", 0.1, 0.0, None, None, torch.randn(d, c, generator=g), torch.zeros(c))
    x = torch.randn(8, d, generator=g) * 10
    y = torch.arange(8) % c
    target = (y + 1) % c if targeted else None
    delta = pgd(
        head.logits,
        x,
        y,
        eps,
        norm=norm,
        steps=3,
        seed=seed,
        target=target,
        random_start=not targeted,
    )
    assert delta.dtype == torch.float32
    assert (_norm_of(delta, norm) <= eps).all()
    assert float(_norm_of(delta, norm).max()) >= eps * (1 - 1e-5)  # and the bound is reached


def test_float32_rescaling_that_overshoots_is_shrunk_into_the_ball():
    """Rows whose rescaled float32 values overshoot eps (found by search under the old
    projection: up to 4 ulps) end inside."""
    g = torch.Generator().manual_seed(0)
    delta = torch.randn(2000, 1280, generator=g) * 3
    eps = 0.1234567
    old = delta * (eps / delta.norm(dim=1).clamp_min(1e-12)).clamp(max=1.0)[:, None]
    assert (_norm_of(old, "l2") > eps).any()  # the float32 projection overshoots
    assert (_norm_of(_project(delta, eps, "l2"), "l2") <= eps).all()
    e32 = torch.tensor(0.1, dtype=torch.float32)
    assert float(e32) > 0.1  # 0.1 rounds up in float32: clamping at it would overshoot
    assert (_project(torch.full((1, 3), 5.0), 0.1, "linf").double() <= 0.1).all()
