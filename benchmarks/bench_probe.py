"""Linear-probe grid vs a tuned scikit-learn LogisticRegression, on a simulated CUB shape.

    python benchmarks/bench_probe.py [--scale 1.0] [--device cpu] [--threads 0] [--seed 0]

At ``--scale 1``: 5,994 train / 5,794 test, d = 1,024, 200 classes (CUB-200-2011's shape),
Gaussian classes seen through a random linear mix. Both methods use the same 10 %
stratified validation split: our grid (:func:`train_probe`, one view, 8 lrs × the default weight
decays) vs ``LogisticRegression`` with ``C`` tuned over ``--cs`` values on that split.
Prints time and test top-1 of each, the speed ratio and the accuracy difference.
``--scale`` shrinks samples and dimension together (classes stay 200 down to 0.25).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_fgbmk.machine.probe import ProbeSettings, stratified_split, train_probe  # noqa: E402


def simulated(n_train: int, n_test: int, d: int, classes: int, seed: int = 0):
    """Gaussian classes seen through a random linear mix (features of an ill-conditioned encoder)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(classes, d)) * (1.6 / np.sqrt(d) ** 0.5)
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    ytr = rng.integers(0, classes, n_train)
    yte = rng.integers(0, classes, n_test)
    xtr = ((centers[ytr] + rng.normal(size=(len(ytr), d))) @ mix + 2).astype(np.float32)
    xte = ((centers[yte] + rng.normal(size=(len(yte), d))) @ mix + 2).astype(np.float32)
    return xtr, ytr, xte, yte


def problem(scale: float, seed: int = 0):
    """CUB-200-2011's shape at ``scale`` 1: 5,994 / 5,794 samples, d = 1,024, 200 classes."""
    classes = max(20, int(200 * min(1.0, scale * 4)))
    d = max(32, int(1024 * scale))
    return simulated(int(5994 / 200 * classes), int(5794 / 200 * classes), d, classes, seed)


def tuned_logreg(vtr, ytr, vte, yte, fit, val, cs: int = 7) -> tuple[float, str, float]:
    """LogisticRegression on standardised features, (view, C) chosen on ``val``.

    ``vtr`` / ``vte``: views (name → array or tensor). Returns test top-1, the view and C.
    """
    best = None
    for name in sorted(vtr):
        xtr = np.asarray(vtr[name])
        sc = StandardScaler().fit(xtr[fit])
        xf, xv = sc.transform(xtr[fit]), sc.transform(xtr[val])
        for c in np.logspace(-3, 1, cs):
            m = LogisticRegression(C=c, max_iter=300).fit(xf, ytr[fit])
            v = m.score(xv, ytr[val])
            if best is None or v > best[0]:
                best = (v, name, c, m, sc)
    _, name, c, m, sc = best
    return float(m.score(sc.transform(np.asarray(vte[name])), yte)), name, float(c)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--cs", type=int, default=7, help="C values for LogisticRegression")
    ap.add_argument("--epochs", type=int, default=ProbeSettings().epochs)
    ap.add_argument("--seed", type=int, default=0, help="seed of the simulated problem")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    xtr, ytr, xte, yte = problem(args.scale, args.seed)
    print(
        f"problem: {len(ytr)} train / {len(yte)} test, d={xtr.shape[1]}, "
        f"{int(ytr.max()) + 1} classes; device {args.device}, torch threads {torch.get_num_threads()}"
    )
    s = ProbeSettings(epochs=args.epochs)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    res = train_probe(
        {"cls": torch.from_numpy(xtr)}, ytr, {"cls": torch.from_numpy(xte)}, yte,
        settings=s, device=args.device,
    )  # fmt: skip
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    t_probe = time.perf_counter() - t0

    t0 = time.perf_counter()
    fit, val = stratified_split(ytr, s.val_fraction, s.seed)
    acc_lr, _, c_lr = tuned_logreg({"cls": xtr}, ytr, {"cls": xte}, yte, fit, val, args.cs)
    t_lr = time.perf_counter() - t0
    heads = len(res.val_scores)
    print(
        f"probe grid ({heads} heads): {t_probe:8.1f} s  top-1 {100 * res.top1:.2f}  "
        f"(chosen {res.head.view} lr={res.head.lr:.3g} wd={res.head.weight_decay:.3g})"
    )
    print(
        f"LogisticRegression ({args.cs} C): {t_lr:8.1f} s  top-1 {100 * acc_lr:.2f}  (C={c_lr:.3g})"
    )
    print(f"speed: LogisticRegression / probe = {t_lr / t_probe:.2f}x   (target > 1)")
    print(
        f"accuracy: probe - LogisticRegression = {100 * (res.top1 - acc_lr):+.2f} points (target >= -0.5)"
    )


if __name__ == "__main__":
    main()
