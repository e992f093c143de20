"""Feature extraction throughput for efficientnet-lite0 on CPU (images/s), cold vs cached.

    python benchmarks/bench_features.py [--images 256] [--batch 32] [--threads 0]

Renders ``--images`` synthetic 224×224 images into a temporary dataset, extracts every
encode view through :func:`extract_features` (cold: the model encodes), then again with
everything cached (the model is not loaded). Prints images/s of both and their ratio, and
the model's encode alone on the same batches as the reference.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _loadavg import reported  # noqa: E402  (benchmarks/ is the script's folder)
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_fgbmk.data.records import Dataset, Sample, build_categories  # noqa: E402
from pytest_fgbmk.machine.feature_store import FeatureStore  # noqa: E402
from pytest_fgbmk.machine.features import (  # noqa: E402
    ExtractionStats,
    LazyModel,
    extract_features,
)
from pytest_fgbmk.models.registry import load_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        (root / "img").mkdir(parents=True)
        rng = np.random.default_rng(0)
        samples = []
        for i in range(args.images):
            arr = rng.integers(0, 255, size=(224, 224, 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / f"img/{i:05d}.jpg", quality=90)
            samples.append(Sample(f"s{i}", f"img/{i:05d}.jpg", i % 2, f"c{i % 2}", "train"))
        ds = Dataset("bench", root, "x", ("c",), build_categories(["c0", "c1"]), tuple(samples))
        model = load_model("efficientnet-lite0")
        print(
            f"efficientnet-lite0, {args.images} images, batch {args.batch}, "
            f"torch threads {torch.get_num_threads()}"
        )
        images = [ds.open_image(s) for s in samples[: args.batch]]
        model.encode(images)  # warm-up
        t0 = time.perf_counter()
        for s in range(0, args.images, args.batch):
            model.encode([ds.open_image(x) for x in samples[s : s + args.batch]])
        t_ref = time.perf_counter() - t0
        store = FeatureStore(Path(tmp) / "cache", chunk_rows=128)
        cold = ExtractionStats()
        t0 = time.perf_counter()
        extract_features(
            model, ds, "train", store, batch_size=args.batch, progress=io.StringIO(), stats=cold
        )
        t_cold = time.perf_counter() - t0
        warm = ExtractionStats()
        lazy = LazyModel(
            lambda: load_model("efficientnet-lite0"), model.fingerprint, model.preprocessing.key()
        )
        t0 = time.perf_counter()
        extract_features(lazy, ds, "train", store, progress=None, stats=warm)
        t_warm = time.perf_counter() - t0
        n = args.images
        print(f"encode alone (decode + encode): {n / t_ref:8.1f} images/s  [reference]")
        print(
            f"extract_features, cold:         {n / t_cold:8.1f} images/s  ({t_ref / t_cold:.2f}x of reference)"
        )
        print(
            f"extract_features, all cached:   {n / t_warm:8.1f} images/s  ({t_cold / t_warm:.0f}x faster than cold; model loaded: {warm.model_loaded})"
        )


if __name__ == "__main__":
    with reported():
        main()
