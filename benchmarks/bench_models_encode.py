"""Images per second for ``efficientnet-lite0`` encode on the CPU, against the bare model.

    python benchmarks/bench_models_encode.py [--images 128] [--batch 32] [--repeats 3]

Reference (measured in the same run): the bare timm forward (``forward_features`` +
pooling) on pre-made tensors, so the ratio is our overhead — PIL preprocessing (in a
background thread), view extraction, the copies back to float32 CPU tensors.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _loadavg import reported  # noqa: E402  (benchmarks/ is the script's folder)
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_fgbmk.models.efficientnet import load_efficientnet_lite0  # noqa: E402
from pytest_fgbmk.models.options import ModelOptions  # noqa: E402


def _images(n: int) -> list[Image.Image]:
    rs = np.random.RandomState(0)
    return [
        Image.fromarray(rs.randint(0, 256, (300 + i % 7, 400 - i % 5, 3), dtype=np.uint8))
        for i in range(n)
    ]


def _best_interleaved(a, b, repeats: int) -> tuple[float, float]:
    """Best wall time of each, the two alternated so that machine load hits both alike."""
    best = [float("inf"), float("inf")]
    for _ in range(repeats):
        for i, fn in enumerate((a, b)):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best[0], best[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    enc = load_efficientnet_lite0(ModelOptions(device="cpu", batch_size=args.batch))
    images = _images(args.images)
    pixels = enc.transform.batch(images)  # pre-made tensors for the reference
    model = enc.module

    def bare() -> None:
        with torch.inference_mode():
            for i in range(0, len(pixels), args.batch):
                model.forward_head(model.forward_features(pixels[i : i + args.batch]), True)

    def ours() -> None:
        enc.encode(images)

    bare()  # warm-up
    t_ref, t_ours = _best_interleaved(bare, ours, args.repeats)
    n = len(images)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}")
    print(f"reference  bare forward on tensors : {n / t_ref:8.1f} img/s")
    print(f"ours       encode(PIL images)      : {n / t_ours:8.1f} img/s")
    print(f"ratio ours/reference time          : {t_ours / t_ref:8.2f}x")


if __name__ == "__main__":
    with reported():
        main()
