"""The probe's head choice on small training sets vs a tuned LogisticRegression.

    python benchmarks/bench_probe_small.py [--seeds 0,1,2] [--synth] [--threads 0]

Issue 15, point 2: on a small train split the 10 % validation split holds a few dozen images,
most heads of the grid tie on it, and a tie-break can pick a bad head. This runs a family of
small problems: simulated features (``bench_probe.py``'s :func:`simulated`: Gaussian classes
through a random linear mix, 1,000 test samples) for ``n`` train from 100 to 2,000 and 5 to
200 classes, each over ``--seeds``; with ``--synth``, also the bundled synthetic datasets'
features (``efficientnet-lite0``, every DINOv2 view, species and coarse level, as in
``bench_probe_synth.py``; the features are read from that benchmark's feature store).
For each: our :func:`train_probe` (default settings, the suites' validation fraction) vs
``LogisticRegression`` on standardised features with ``C`` (and the view) tuned on the same
stratified validation split (``bench_probe.py``'s :func:`tuned_logreg`). Prints, per problem,
both test top-1s and the difference; then the mean and the worst difference (target: mean
>= -0.5, worst >= -2 points) and the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_probe import simulated, tuned_logreg  # noqa: E402

from pytest_fgbmk.machine.probe import ProbeSettings, stratified_split, train_probe  # noqa: E402
from pytest_fgbmk.run.context import val_fraction  # noqa: E402

#: (train samples, dimension, classes) of the simulated family.
SHAPES = (
    (100, 128, 5),
    (100, 512, 10),
    (300, 512, 10),
    (300, 256, 50),
    (1000, 512, 10),
    (1000, 512, 100),
    (2000, 256, 20),
    (2000, 512, 200),
)
N_TEST = 1000

Problem = tuple[str, dict, np.ndarray, dict, np.ndarray, int, int]


def simulated_family(seeds: list[int]) -> Iterator[Problem]:
    """The simulated problems: (label, train views, train labels, test views, test labels,
    classes, seed)."""
    for n, d, c in SHAPES:
        for seed in seeds:
            xtr, ytr, xte, yte = simulated(n, N_TEST, d, c, seed)
            label = f"sim n={n} d={d} C={c} seed {seed}"
            yield label, {"cls": xtr}, ytr, {"cls": xte}, yte, c, seed


def synthetic_family(seeds: list[int], cache: Path | None) -> Iterator[Problem]:
    """The bundled synthetic datasets' features, species and coarse level, each seed."""
    import platformdirs

    from pytest_fgbmk.data.synth import SynthConfig, ensure_synthetic, load_synthetic
    from pytest_fgbmk.machine.feature_store import FeatureStore
    from pytest_fgbmk.machine.features import extract_features, labels_of
    from pytest_fgbmk.machine.probe import dinov2_views
    from pytest_fgbmk.models.registry import load_model
    from pytest_fgbmk.run.context import level_labels
    from pytest_fgbmk.tasks.feature_robustness import coarse_level

    cache = cache or Path(platformdirs.user_cache_dir("pytest-fgbmk")) / "bench-features"
    model = load_model("efficientnet-lite0")
    store = FeatureStore(cache)
    for ds in load_synthetic(ensure_synthetic(SynthConfig())):
        feats = {s: extract_features(model, ds, s, store) for s in ("train", "test")}
        vtr = {k: v.numpy() for k, v in dinov2_views(feats["train"]).items()}
        vte = {k: v.numpy() for k, v in dinov2_views(feats["test"]).items()}
        for level in (None, coarse_level(ds)):
            if level is None:
                ytr, yte, c = labels_of(ds, "train"), labels_of(ds, "test"), len(ds.categories)
            else:
                ytr, c = level_labels(ds, "train", level)
                yte, _ = level_labels(ds, "test", level)
            for seed in seeds:
                label = f"{ds.name}{f'-{level}' if level else ''} seed {seed}"
                yield label, vtr, ytr, vte, yte, c, seed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated problem / split seeds")
    ap.add_argument("--synth", action="store_true", help="add the synthetic datasets' features")
    ap.add_argument("--cache", type=Path, default=None, help="feature store of bench_probe_synth")
    ap.add_argument("--cs", type=int, default=7, help="C values for LogisticRegression")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    seeds = [int(s) for s in args.seeds.split(",")]
    load_before = os.getloadavg()
    problems: list[Iterator[Problem]] = [simulated_family(seeds)]
    if args.synth:
        problems.append(synthetic_family(seeds, args.cache))
    diffs: list[float] = []
    t_probe, t_lr = 0.0, 0.0
    print(f"{'problem':<34} {'n_val':>5} {'ours':>7} {'logreg':>7} {'diff':>7}  chosen head")
    for family in problems:
        for label, vtr, ytr, vte, yte, c, seed in family:
            settings = ProbeSettings(val_fraction=val_fraction(ytr), seed=seed)
            t0 = time.perf_counter()
            res = train_probe(
                {k: torch.from_numpy(np.asarray(v)) for k, v in vtr.items()}, ytr,
                {k: torch.from_numpy(np.asarray(v)) for k, v in vte.items()}, yte,
                n_classes=c, settings=settings,
            )  # fmt: skip
            t_probe += time.perf_counter() - t0
            fit, val = stratified_split(ytr, settings.val_fraction, settings.seed)
            t0 = time.perf_counter()
            acc_lr, _, c_lr = tuned_logreg(vtr, ytr, vte, yte, fit, val, args.cs)
            t_lr += time.perf_counter() - t0
            diff = 100 * (res.top1 - acc_lr)
            diffs.append(diff)
            h = res.head
            print(
                f"{label:<34} {len(val):5d} {100 * res.top1:7.2f} {100 * acc_lr:7.2f} "
                f"{diff:+7.2f}  {h.view} lr={h.lr:.3g} wd={h.weight_decay:.3g} (logreg C={c_lr:.3g})",
                flush=True,
            )
    print(
        f"ours - LogisticRegression over {len(diffs)} problems: mean {np.mean(diffs):+.2f}, "
        f"worst {min(diffs):+.2f} points (targets: mean >= -0.5, worst >= -2)"
    )
    print(f"time: probe {t_probe:.1f} s, LogisticRegression {t_lr:.1f} s")
    load_after = os.getloadavg()
    print(
        "load average before: "
        + " ".join(f"{x:.2f}" for x in load_before)
        + "; after: "
        + " ".join(f"{x:.2f}" for x in load_after)
    )


if __name__ == "__main__":
    main()
