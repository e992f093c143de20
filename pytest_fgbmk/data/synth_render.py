"""Pillow + numpy renderers for the synthetic birds and flowers: every attribute is drawn.

A *look* is a mapping ``attribute group → value`` (the display values of
:mod:`pytest_fgbmk.data.synth_birds` / :mod:`pytest_fgbmk.data.synth_flowers`). Shapes are
built once per look as polygons in canonical coordinates, then each image applies its own
pose (flip, rotation, scale jitter, position) as an affine map and draws at twice the size
before a 2× reduction (anti-aliasing). Backgrounds are low-frequency gradients with
texture; lighting changes gain, tint and illumination slope, and adds sensor noise. The
nuisance factors are bounded so that every labelled attribute stays visible, including
size (the scale jitter never lets two size classes overlap).
"""

from __future__ import annotations

import colorsys
from collections.abc import Mapping
from functools import lru_cache

import numpy as np
from PIL import Image, ImageChops, ImageDraw

RGB = tuple[int, int, int]
Polygon = np.ndarray  # (n, 2) float array

#: Colour words → RGB, shared by both meta-categories (CUB's colour names where they exist).
COLORS: dict[str, RGB] = {
    "blue": (40, 85, 210),
    "brown": (115, 70, 35),
    "purple": (120, 45, 160),
    "rufous": (180, 80, 30),
    "grey": (135, 135, 135),
    "yellow": (245, 215, 35),
    "olive": (110, 120, 35),
    "green": (45, 160, 60),
    "pink": (245, 145, 190),
    "orange": (250, 140, 15),
    "black": (25, 25, 25),
    "white": (248, 248, 245),
    "red": (215, 25, 30),
    "buff": (225, 195, 140),
}

_BODY = (176, 166, 148)
_DARK = (45, 40, 35)
_PERCH = (95, 65, 40)
_STEM = (60, 125, 50)
_LEAF = (55, 140, 50)
_SS = 2  # supersampling factor


def color_distance(a: str, b: str) -> float:
    """Euclidean RGB distance between two named colours."""
    return float(np.linalg.norm(np.subtract(COLORS[a], COLORS[b])))


def _contrast(rgb: RGB) -> RGB:
    lum = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    return (30, 30, 30) if lum > 140 else (240, 240, 235)


def _shade(rgb: RGB, f: float) -> RGB:
    return tuple(int(max(0, min(255, c * f))) for c in rgb)  # type: ignore[return-value]


def _ellipse(cx: float, cy: float, a: float, b: float, n: int = 28) -> Polygon:
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    return np.stack([cx + a * np.cos(t), cy + b * np.sin(t)], axis=1)


def _profile(ts: list[float], ws: list[float], r0: float, r1: float, width: float) -> Polygon:
    """A symmetric outline along +x from r0 to r1 with half-widths ``ws`` at fractions ``ts``."""
    t = np.linspace(0.0, 1.0, 14)
    w = np.interp(t, ts, ws) * width
    x = r0 + t * (r1 - r0)
    left = np.stack([x, -w], axis=1)
    right = np.stack([x[::-1], w[::-1]], axis=1)
    return np.concatenate([left, right])


# --- backgrounds and photometry ------------------------------------------------------------


def _background(rng: np.random.Generator, size: int, ground: bool) -> Image.Image:
    """A muted two-colour gradient with low-frequency texture, drawn at ``size`` pixels."""
    if ground:
        hues = rng.uniform(0.08, 0.38, 2)
        sats = rng.uniform(0.15, 0.45, 2)
        vals = rng.uniform(0.30, 0.65, 2)
    else:
        hues = rng.uniform(0.0, 1.0, 2)
        sats = rng.uniform(0.05, 0.30, 2)
        vals = rng.uniform(0.55, 0.95, 2)
    top = np.array(colorsys.hsv_to_rgb(hues[0], sats[0], vals[0])) * 255.0
    bottom = np.array(colorsys.hsv_to_rgb(hues[1], sats[1], vals[1])) * 255.0
    g = 8
    ramp = np.linspace(0.0, 1.0, g)[:, None, None]
    grid = top * (1.0 - ramp) + bottom * ramp
    grain = rng.normal(0.0, 12.0, (g, g, 1)) + rng.normal(0.0, 5.0, (g, g, 3))
    grid = np.broadcast_to(grid, (g, g, 3)) + grain
    small = Image.fromarray(np.clip(grid, 0, 255).astype(np.uint8), "RGB")
    half = small.resize((size // 2, size // 2), Image.Resampling.BICUBIC)
    return half.resize((size, size), Image.Resampling.NEAREST)


_NOISE_PAD = 61
_NOISE_SIGMAS = (2.0, 3.5, 5.0, 6.5)


@lru_cache(maxsize=32)
def _noise_bank(h: int, w: int, sigma: float) -> Image.Image:
    """Gaussian noise around 128, a little larger than an image; each image crops a window."""
    rng = np.random.default_rng([7, h, w, int(sigma * 10)])
    noise = rng.standard_normal((h + _NOISE_PAD, w + _NOISE_PAD, 3), dtype=np.float32)
    return Image.fromarray(np.clip(128.0 + sigma * noise, 0, 255).astype(np.uint8), "RGB")


def _photometry(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Gain and colour tint, an illumination slope, and Gaussian sensor noise (all in C)."""
    w, h = img.size
    gain = rng.uniform(0.85, 1.12) * rng.uniform(0.95, 1.05, 3)
    ramp = np.arange(256, dtype=np.float64)
    lut = np.clip(ramp[None, :] * gain[:, None], 0, 255).astype(np.uint8).ravel().tolist()
    out = img.point(lut)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    amp = rng.uniform(0.0, 22.0)
    corners = np.array([[-0.5, -0.5], [0.5, -0.5], [-0.5, 0.5], [0.5, 0.5]])
    light = 128.0 + amp * (corners @ np.array([np.cos(angle), np.sin(angle)]))
    slope = Image.fromarray(light.reshape(2, 2).astype(np.uint8), "L").resize(
        (w, h), Image.Resampling.BILINEAR
    )
    out = ImageChops.add(out, Image.merge("RGB", (slope, slope, slope)), offset=-128)
    sigma = _NOISE_SIGMAS[int(rng.integers(len(_NOISE_SIGMAS)))]
    dx, dy = (int(v) for v in rng.integers(0, _NOISE_PAD + 1, 2))
    noise = _noise_bank(h, w, sigma).crop((dx, dy, dx + w, dy + h))
    return ImageChops.add(out, noise, offset=-128)


class _Pose:
    """Canonical → pixel map: optional flip, rotation, scale, then a translation."""

    def __init__(self, flip: bool, angle: float, scale: float) -> None:
        c, s = np.cos(angle), np.sin(angle)
        fx = -1.0 if flip else 1.0
        self.m = np.array([[c * fx, -s], [s * fx, c]]) * scale
        self.t = np.zeros(2)

    def place(self, points: Polygon, size: int, rng: np.random.Generator, margin: float) -> None:
        """Choose a translation that keeps ``points`` (the subject's extent) inside the frame."""
        p = points @ self.m.T
        lo, hi = p.min(axis=0), p.max(axis=0)
        t = np.empty(2)
        for k in range(2):
            a, b = margin - lo[k], size - margin - hi[k]
            t[k] = rng.uniform(a, b) if b > a else (a + b) / 2.0
        self.t = t

    def __call__(self, points: Polygon) -> list[float]:
        return (points @ self.m.T + self.t).ravel().tolist()

    def length(self, d: float) -> float:
        return float(np.hypot(*self.m[:, 0]) * d)


# --- birds ---------------------------------------------------------------------------------

#: Body half-length as a fraction of the image side, per size class (jitter ±6 % keeps gaps).
BIRD_SIZES = {
    "very small (3 - 5 in)": 0.095,
    "small (5 - 9 in)": 0.12,
    "medium (9 - 16 in)": 0.15,
    "large (16 - 32 in)": 0.185,
}
BIRD_BILL_LENGTHS = {
    "shorter than head": 0.38,
    "about the same as head": 0.85,
    "longer than head": 1.25,
}
_HEAD = (1.0, -0.55, 0.45)  # centre x, centre y, radius


def _bill(shape: str, length: float) -> Polygon:
    x0, y0 = _HEAD[0] + _HEAD[2] * 0.9, _HEAD[1] + 0.05
    L = length
    if shape == "cone":
        pts = [(0, -0.2), (L, 0.0), (0, 0.2)]
    elif shape == "dagger":
        pts = [(0, -0.11), (L, 0.0), (0, 0.11)]
    elif shape == "needle":
        pts = [(0, -0.07), (L, -0.01), (L, 0.01), (0, 0.07)]
    elif shape == "hooked":
        pts = [
            (0, -0.16),
            (0.75 * L, -0.12),
            (L, 0.02),
            (0.9 * L, 0.2),
            (0.78 * L, 0.04),
            (0, 0.14),
        ]
    elif shape == "all-purpose":
        pts = [(0, -0.15), (0.5 * L, -0.11), (L, 0.0), (0.5 * L, 0.08), (0, 0.14)]
    elif shape == "spatulate":
        pts = [(0, -0.1), (0.6 * L, -0.06), (0.8 * L, -0.17), (L, -0.12), (L, 0.12)]
        pts += [(0.8 * L, 0.17), (0.6 * L, 0.06), (0, 0.1)]
    elif shape == "curved (up or down)":
        t = np.linspace(0.0, 1.0, 8)
        cx, cy = t * L * 0.95, 0.45 * L * t**2
        half = 0.11 * (1.0 - t) + 0.015
        upper = np.stack([cx, cy - half], axis=1)
        lower = np.stack([cx[::-1], (cy + half)[::-1]], axis=1)
        return np.concatenate([upper, lower]) + (x0, y0)
    else:
        raise ValueError(f"unknown bill shape {shape!r}")
    return np.array(pts, dtype=float) + (x0, y0)


def _tail(shape: str) -> Polygon:
    bx, T = -0.88, 0.8
    tip = bx - T
    if shape == "forked tail":
        pts = [(bx, -0.17), (tip, -0.48), (bx - 0.45 * T, -0.12), (tip, 0.22), (bx, 0.12)]
    elif shape == "notched tail":
        pts = [(bx, -0.17), (tip, -0.3), (bx - 0.8 * T, -0.1), (tip, 0.1), (bx, 0.12)]
    elif shape == "squared tail":
        pts = [(bx, -0.17), (tip, -0.28), (tip, 0.1), (bx, 0.12)]
    elif shape == "pointed tail":
        pts = [(bx, -0.17), (tip - 0.2, -0.1), (bx, 0.12)]
    elif shape == "rounded tail":
        arc = _ellipse(tip + 0.12, -0.09, 0.2, 0.2, 20)
        arc = arc[arc[:, 0] <= tip + 0.12]
        arc = arc[np.argsort(np.arctan2(arc[:, 1] + 0.09, arc[:, 0] - tip - 0.12) % (2 * np.pi))]
        return np.concatenate([[(bx, -0.17)], arc, [(bx, 0.12)]])
    elif shape == "fan-shaped tail":
        a = np.linspace(np.pi - 0.75, np.pi + 0.75, 11)
        arc = np.stack([bx + 0.05 + T * np.cos(a), -0.03 + T * np.sin(a)], axis=1)
        return np.concatenate([[(bx, 0.1)], arc[::-1], [(bx, -0.15)]])
    else:
        raise ValueError(f"unknown tail shape {shape!r}")
    return np.array(pts, dtype=float)


_WING = (-0.25, -0.15, 0.75, 0.32)


def _wing_marks(pattern: str) -> list[tuple[str, Polygon]]:
    cx, cy, a, b = _WING
    if pattern == "solid":
        return []
    if pattern == "spotted":
        spots = [(-0.55, -0.12), (-0.25, -0.24), (-0.2, 0.02), (0.1, -0.14), (0.35, -0.04)]
        return [
            ("poly", _ellipse(cx + x * a / 0.8 + 0.1, cy + y, 0.085, 0.085, 10)) for x, y in spots
        ]
    if pattern == "striped":
        out = []
        for x in (-0.5, -0.2, 0.1, 0.4):
            half = b * np.sqrt(max(0.0, 1.0 - (x / a) ** 2)) * 0.92
            out.append(
                (
                    "poly",
                    np.array(
                        [
                            (cx + x - 0.05, cy - half),
                            (cx + x + 0.05, cy - half),
                            (cx + x + 0.05, cy + half),
                            (cx + x - 0.05, cy + half),
                        ]
                    ),
                )
            )
        return out
    if pattern == "multi-colored":
        wing = _ellipse(cx, cy, a, b, 28)
        rear = wing[wing[:, 0] <= cx]
        return [("poly", rear)]
    raise ValueError(f"unknown wing pattern {pattern!r}")


@lru_cache(maxsize=1024)
def _bird_parts(look_items: tuple[tuple[str, str], ...]) -> dict[str, object]:
    look = dict(look_items)
    bill = _bill(look["bill shape"], BIRD_BILL_LENGTHS[look["bill length"]])
    tail = _tail(look["tail shape"])
    body = _ellipse(0.0, 0.0, 1.0, 0.62)
    head = _ellipse(*_HEAD[:2], _HEAD[2], _HEAD[2])
    t = np.linspace(np.pi - 0.05, 2.0 * np.pi + 0.05, 14)
    crown = np.stack([_HEAD[0] + _HEAD[2] * np.cos(t), _HEAD[1] + _HEAD[2] * np.sin(t)], axis=1)
    legs = [np.array([(0.15, 0.5), (0.2, 1.0)]), np.array([(-0.15, 0.5), (-0.18, 1.0)])]
    extent = np.concatenate([bill, tail, body, head, [(0.0, 1.05)]])
    return {
        "bill": bill,
        "tail": tail,
        "body": body,
        "breast": _ellipse(0.38, 0.18, 0.6, 0.4),
        "wing": _ellipse(*_WING, 28),
        "marks": _wing_marks(look["wing pattern"]),
        "head": head,
        "crown": crown,
        "eye_ring": _ellipse(_HEAD[0] + 0.16, _HEAD[1] - 0.02, 0.13, 0.13, 12),
        "eye": _ellipse(_HEAD[0] + 0.17, _HEAD[1] - 0.02, 0.075, 0.075, 10),
        "legs": legs,
        "perch": np.array([(-12.0, 0.98), (12.0, 0.98), (12.0, 1.14), (-12.0, 1.14)]),
        "extent": extent,
    }


def render_bird(look: Mapping[str, str], rng: np.random.Generator, size: int) -> Image.Image:
    """Draw one bird of ``look`` (CUB attribute group → value) in a random pose and scene."""
    parts = _bird_parts(tuple(sorted(look.items())))
    S = size * _SS
    scale = BIRD_SIZES[look["size"]] * rng.uniform(0.94, 1.06) * S
    pose = _Pose(bool(rng.integers(2)), rng.uniform(-0.45, 0.45), scale)
    pose.place(parts["extent"], S, rng, margin=0.03 * S)
    img = _background(rng, S, ground=False)
    d = ImageDraw.Draw(img)
    wing_rgb = COLORS[look["wing color"]]
    d.polygon(pose(parts["perch"]), fill=_PERCH)
    d.polygon(pose(parts["tail"]), fill=wing_rgb, outline=_shade(wing_rgb, 0.6))
    leg_w = max(1, round(pose.length(0.06)))
    for leg in parts["legs"]:
        d.line(pose(leg), fill=_DARK, width=leg_w)
    d.polygon(pose(parts["body"]), fill=_BODY)
    breast_rgb = COLORS[look["breast color"]]
    d.polygon(pose(parts["breast"]), fill=breast_rgb, outline=_shade(breast_rgb, 0.55))
    d.polygon(pose(parts["wing"]), fill=wing_rgb, outline=_shade(wing_rgb, 0.6))
    mark_rgb = _contrast(wing_rgb)
    for _, poly in parts["marks"]:
        d.polygon(pose(poly), fill=mark_rgb)
    d.polygon(pose(parts["head"]), fill=_BODY)
    crown_rgb = COLORS[look["crown color"]]
    d.polygon(pose(parts["crown"]), fill=crown_rgb, outline=_shade(crown_rgb, 0.55))
    d.polygon(pose(parts["eye_ring"]), fill=(240, 240, 230))
    d.polygon(pose(parts["eye"]), fill=(10, 10, 10))
    d.polygon(pose(parts["bill"]), fill=_DARK)
    return _photometry(img.reduce(_SS), rng)


# --- flowers -------------------------------------------------------------------------------

#: Petal radius as a fraction of the image side, per size class (jitter ±7 % keeps gaps).
FLOWER_SIZES = {"small": 0.15, "medium": 0.2, "large": 0.26}

_PETAL_PROFILES: dict[str, tuple[list[float], list[float]]] = {
    "rounded": ([0, 0.1, 0.3, 0.5, 0.7, 0.85, 0.95, 1], [0.35, 0.7, 0.95, 1, 0.95, 0.8, 0.5, 0]),
    "pointed": ([0, 0.3, 0.5, 0.7, 1], [0.3, 0.85, 1, 0.7, 0]),
    "spatulate": ([0, 0.35, 0.55, 0.75, 0.9, 0.97, 1], [0.2, 0.28, 0.85, 1, 0.85, 0.5, 0]),
}
_LEAF_PROFILES: dict[str, tuple[list[float], list[float], float]] = {
    "ovate": ([0, 0.15, 0.4, 0.7, 0.9, 1], [0.1, 0.36, 0.42, 0.3, 0.14, 0], 1.5),
    "lanceolate": ([0, 0.2, 0.5, 0.8, 1], [0.04, 0.12, 0.15, 0.09, 0], 1.6),
    "linear": ([0, 0.9, 1], [0.05, 0.05, 0], 1.7),
    "orbicular": ([0, 0.1, 0.3, 0.5, 0.7, 0.9, 1], [0.08, 0.4, 0.56, 0.6, 0.56, 0.35, 0], 1.15),
}


def _petal(shape: str, width: float) -> Polygon:
    r0 = 0.12
    if shape in _PETAL_PROFILES:
        ts, ws = _PETAL_PROFILES[shape]
        return _profile(ts, ws, r0, 1.0, width)
    if shape == "notched":
        outline = _profile(
            [0, 0.1, 0.3, 0.5, 0.7, 0.85, 1], [0.35, 0.7, 0.95, 1, 0.95, 0.85, 0.6], r0, 1.0, width
        )
        half = len(outline) // 2
        return np.concatenate([outline[:half], [(0.8, 0.0)], outline[half:]])
    if shape == "fringed":
        outline = _profile(
            [0, 0.1, 0.3, 0.5, 0.7, 0.86], [0.35, 0.7, 0.95, 1, 0.95, 0.85], r0, 0.86, width
        )
        half = len(outline) // 2
        ys = np.linspace(-0.85 * width, 0.85 * width, 9)
        xs = np.where(np.arange(9) % 2 == 0, 0.88, 1.0)
        teeth = np.stack([xs, ys], axis=1)
        return np.concatenate([outline[:half], teeth, outline[half:]])
    raise ValueError(f"unknown petal shape {shape!r}")


def _leaf(shape: str) -> Polygon:
    if shape == "lobed":
        t = np.linspace(0.0, 1.0, 25)
        w = (0.26 + 0.16 * np.cos(5.0 * np.pi * t)) * np.sin(np.pi * np.clip(t, 0.02, 1.0)) + 0.03
        x = 0.35 + t * 1.45
        return np.concatenate([np.stack([x, -w], 1), np.stack([x[::-1], w[::-1]], 1)])
    ts, ws, length = _LEAF_PROFILES[shape]
    return _profile(ts, ws, 0.35, 0.35 + length, 1.0)


def _rotate(points: Polygon, angle: float) -> Polygon:
    c, s = np.cos(angle), np.sin(angle)
    return points @ np.array([[c, s], [-s, c]])


@lru_cache(maxsize=1024)
def _flower_parts(look_items: tuple[tuple[str, str], ...]) -> dict[str, object]:
    look = dict(look_items)
    n = int(look["petal count"])
    width = min(0.5, 0.66 * np.sin(np.pi / n))
    petal = _petal(look["petal shape"], width)
    petals = [_rotate(petal, 2.0 * np.pi * k / n) for k in range(n)]
    return {
        "petals": petals,
        "leaf": _leaf(look["leaf shape"]),
        "center": _ellipse(0.0, 0.0, 0.3, 0.3, 20),
        "extent": _ellipse(0.0, 0.0, 1.0, 1.0, 16),
    }


def render_flower(look: Mapping[str, str], rng: np.random.Generator, size: int) -> Image.Image:
    """Draw one flower of ``look`` (petals, centre, leaves) seen from above, in a random scene."""
    parts = _flower_parts(tuple(sorted(look.items())))
    S = size * _SS
    scale = FLOWER_SIZES[look["size"]] * rng.uniform(0.93, 1.07) * S
    spin = rng.uniform(0.0, 2.0 * np.pi)
    pose = _Pose(bool(rng.integers(2)), spin, scale)
    pose.place(parts["extent"], S, rng, margin=0.02 * S)
    img = _background(rng, S, ground=True)
    d = ImageDraw.Draw(img)
    blade_w = max(1, S // 128)
    for _ in range(int(rng.integers(4, 9))):
        x, y = rng.uniform(0, S, 2)
        a = rng.uniform(-0.5, 0.5) - np.pi / 2
        ln = rng.uniform(0.1, 0.25) * S
        d.line(
            [x, y, x + ln * np.cos(a), y + ln * np.sin(a)],
            fill=_shade(_STEM, rng.uniform(0.6, 1.0)),
            width=blade_w,
        )
    leaf_base = rng.uniform(0.0, 2.0 * np.pi)
    for k in range(3):
        a = leaf_base + 2.0 * np.pi * k / 3 + rng.uniform(-0.3, 0.3)
        leaf = _rotate(parts["leaf"], a)
        d.polygon(
            pose(leaf), fill=_shade(_LEAF, rng.uniform(0.85, 1.1)), outline=_shade(_LEAF, 0.6)
        )
    petal_rgb = COLORS[look["petal color"]]
    edge = _shade(petal_rgb, 0.7)
    for p in parts["petals"]:
        d.polygon(pose(p), fill=petal_rgb, outline=edge)
    center_rgb = COLORS[look["center color"]]
    d.polygon(pose(parts["center"]), fill=center_rgb, outline=_shade(center_rgb, 0.6))
    return _photometry(img.reduce(_SS), rng)
