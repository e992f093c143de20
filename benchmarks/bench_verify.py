"""The run's image check (data/verify.py) against a plain Pillow open + load of the same files.

Writes ``--images`` JPEGs of ``--size`` (default 500×375, CUB's and iNat2021's typical
shape; photo-like content so they compress as photos do) to a temporary folder, then
times, in this run and on these files:

* reference: ``Image.open(p).load()`` for each file on one thread (what a careful loop
  over the dataset costs);
* the check without draft decoding, one thread (what ``verify()`` + a full ``load()`` add);
* the check as the run does it (``verify_images``: draft decoding of JPEGs, ``--workers``
  threads), cold (nothing recorded);
* the same warm (every file in the record: a ``stat`` each, nothing decoded).

Each line gives images/s and the ratio to the reference (below 1: faster). The load
average before and after says how busy the machine was (other work skews the ratios).
At 280k images (iNat2021 + the other datasets) multiply the per-image costs.

    python benchmarks/bench_verify.py [--images 2000] [--size 500x375] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pytest_fgbmk.data import verify  # noqa: E402
from pytest_fgbmk.data.verify import (  # noqa: E402
    WORKERS,
    ImageRef,
    VerifiedRecord,
    verify_images,
)


def write_images(folder: Path, n: int, size: tuple[int, int]) -> list[Path]:
    """``n`` photo-like JPEGs (smooth gradients plus noise, quality 90)."""
    rng = np.random.default_rng(0)
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    paths = []
    for i in range(n):
        base = np.stack([(x * (i % 7 + 1) + y) % 256, (y * 2 + i) % 256, (x + y * 3) % 256], -1)
        arr = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        p = folder / f"{i:06d}.jpg"
        Image.fromarray(arr).save(p, quality=90)
        paths.append(p)
    return paths


def plain_load(paths: list[Path]) -> float:
    t = time.perf_counter()
    for p in paths:
        with Image.open(p) as img:
            img.load()
    return time.perf_counter() - t


def check_no_draft(paths: list[Path]) -> float:
    """verify() + a full load(), one thread (the check before draft decoding)."""
    t = time.perf_counter()
    for p in paths:
        with Image.open(p) as img:
            img.verify()
        with Image.open(p) as img:
            img.load()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--size", default="500x375")
    ap.add_argument("--workers", type=int, default=WORKERS)
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="fgbmk-bench-verify-") as tmp:
        root = Path(tmp) / "data"
        root.mkdir()
        paths = write_images(root, args.images, size)  # type: ignore[arg-type]
        refs = [ImageRef(p, root) for p in paths]
        plain_load(paths[: min(50, len(paths))])  # warm the page cache and Pillow's imports
        ref_s = plain_load(paths)
        rows = [("plain Image.open + load, 1 thread (reference)", ref_s)]
        rows.append(("verify() + full load(), 1 thread", check_no_draft(paths)))
        one = verify_images(refs, workers=1)
        rows.append(("verify_images (draft JPEG), 1 thread", one.seconds))
        record = VerifiedRecord(Path(tmp) / "cache")
        cold = verify_images(refs, record=record, workers=args.workers)
        assert cold.ok and cold.decoded == len(paths), cold
        rows.append(
            (f"verify_images, {args.workers} threads, cold (+ record writes)", cold.seconds)
        )
        warm = verify_images(refs, record=record, workers=args.workers)
        assert warm.ok and warm.decoded == 0 and warm.recorded == len(paths), warm
        rows.append((f"verify_images, {args.workers} threads, warm (record)", warm.seconds))
        record.close()
    load_after = os.getloadavg()
    n = args.images
    print(
        f"{n} JPEGs {args.size}, {os.cpu_count()} cores, Pillow {Image.__version__}, "
        f"{verify.VERIFY_VERSION}"
    )
    for name, s in rows:
        print(f"  {name:<58} {n / s:9.0f} img/s  ratio {s / ref_s:5.2f}")
    print(
        "  load average (1/5/15 min) before: "
        + " ".join(f"{v:.2f}" for v in load_before)
        + "  after: "
        + " ".join(f"{v:.2f}" for v in load_after)
    )


if __name__ == "__main__":
    main()
