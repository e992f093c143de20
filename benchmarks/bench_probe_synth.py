"""Linear-probe grid vs a tuned LogisticRegression on the bundled synthetic datasets' features.

    python benchmarks/bench_probe_synth.py [--model efficientnet-lite0] [--synth default]
        [--cache DIR] [--seeds 0] [--threads 0]

The issue's second accuracy check: the same comparison as ``bench_probe.py``, on real
encoder features instead of a simulated problem. Extracts every encode view of the
synthetic birds and flowers (train and test) with the model, through the feature store
(``--cache``, default the user cache dir: a second run does not encode). For each dataset,
at its species level and at the coarse control level the robustness suite uses, both
methods see the DINOv2 views and the same stratified validation split (the suites' own
fraction): our :func:`train_probe` grid (every view × 8 lrs, default weight decay) vs
``LogisticRegression`` on standardised features, ``C`` tuned over 7 values on that split,
the view chosen on it too. Prints test top-1, time of each, and the differences.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import platformdirs
import torch
from _loadavg import reported  # noqa: E402  (benchmarks/ is the script's folder)
from sklearn.exceptions import ConvergenceWarning

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_probe import tuned_logreg  # noqa: E402

from pytest_fgbmk.data.synth import SynthConfig, ensure_synthetic, load_synthetic  # noqa: E402
from pytest_fgbmk.machine.feature_store import FeatureStore  # noqa: E402
from pytest_fgbmk.machine.features import extract_features, labels_of  # noqa: E402
from pytest_fgbmk.machine.probe import (  # noqa: E402
    ProbeSettings,
    dinov2_views,
    stratified_split,
    train_probe,
)
from pytest_fgbmk.models.registry import load_model  # noqa: E402
from pytest_fgbmk.run.context import level_labels, val_fraction  # noqa: E402
from pytest_fgbmk.run.options import SYNTH_SIZES  # noqa: E402
from pytest_fgbmk.tasks.feature_robustness import coarse_level  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="efficientnet-lite0")
    ap.add_argument("--synth", default="default", choices=sorted(SYNTH_SIZES))
    ap.add_argument("--cache", type=Path, default=None, help="feature store folder")
    ap.add_argument("--seeds", default="0", help="comma-separated split / probe seeds")
    ap.add_argument("--cs", type=int, default=7)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    cache = args.cache or Path(platformdirs.user_cache_dir("pytest-fgbmk")) / "bench-features"
    root = ensure_synthetic(SynthConfig(**SYNTH_SIZES[args.synth]))
    model = load_model(args.model)
    store = FeatureStore(cache)
    print(f"model {args.model}, synthetic data {args.synth}, features cached in {cache}")
    diffs, t_probe_all, t_lr_all = [], 0.0, 0.0
    by_problem: dict[str, list[float]] = {}
    for ds in load_synthetic(root):
        feats = {s: extract_features(model, ds, s, store) for s in ("train", "test")}
        vtr, vte = dinov2_views(feats["train"]), dinov2_views(feats["test"])
        for level in (None, coarse_level(ds)):
            if level is None:
                ytr, yte, c = labels_of(ds, "train"), labels_of(ds, "test"), len(ds.categories)
            else:
                ytr, c = level_labels(ds, "train", level)
                yte, _ = level_labels(ds, "test", level)
            for seed in (int(s) for s in args.seeds.split(",")):
                settings = ProbeSettings(val_fraction=val_fraction(ytr), seed=seed)
                fit, val = stratified_split(ytr, settings.val_fraction, seed)
                t0 = time.perf_counter()
                res = train_probe(vtr, ytr, vte, yte, n_classes=c, settings=settings)
                t_probe = time.perf_counter() - t0
                t0 = time.perf_counter()
                acc_lr, view_lr, c_lr = tuned_logreg(vtr, ytr, vte, yte, fit, val, args.cs)
                t_lr = time.perf_counter() - t0
                diff = 100 * (res.top1 - acc_lr)
                diffs.append(diff)
                t_probe_all += t_probe
                t_lr_all += t_lr
                label = ds.name + (f"-{level}" if level else "")
                by_problem.setdefault(label, []).append(diff)
                print(
                    f"{label:<22} seed {seed}: {c:3d} classes, {len(fit)} fit / {len(val)} val / "
                    f"{len(yte)} test | probe {100 * res.top1:6.2f} ({res.head.view}) "
                    f"{t_probe:5.1f} s | LogisticRegression {100 * acc_lr:6.2f} ({view_lr}, "
                    f"C={c_lr:.3g}) {t_lr:5.1f} s | {diff:+.2f} points",
                    flush=True,
                )
    for label, d in by_problem.items():
        print(f"{label:<22} mean over seeds: {np.mean(d):+.2f} points (target >= -0.5)")
    print(
        f"probe - LogisticRegression: min {min(diffs):+.2f}, mean {np.mean(diffs):+.2f} points "
        f"over all; time {t_probe_all:.1f} s vs {t_lr_all:.1f} s "
        f"(LogisticRegression / probe = {t_lr_all / t_probe_all:.1f}x)"
    )


if __name__ == "__main__":
    with reported():
        main()
