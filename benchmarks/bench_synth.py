"""Synthetic-data generation speed: rendered images/s on one core, against plain JPEG writing.

    python benchmarks/bench_synth.py [--species 24] [--images 30] [--size 128] [--repeat 2]

Renders the bundled birds + flowers (2 × species × images JPEGs with every index file) into
a temporary folder, pinned to one CPU core, and compares with the reference measured in the
same run: writing the same number of blank JPEGs of the same size (file creation + JPEG
encoding, the floor any generator pays). Also times reading both datasets back through
the CUB and iNat2021 loaders, and a cache hit of ``ensure_synthetic``. The target is at
least 200 images/s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from _loadavg import reported  # noqa: E402  (benchmarks/ is the script's folder)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image  # noqa: E402

from pytest_fgbmk.data.synth import (  # noqa: E402
    SynthConfig,
    ensure_synthetic,
    generate,
    load_synthetic,
)


def _blank_jpegs(dest: Path, n: int, size: int) -> float:
    dest.mkdir()
    start = time.perf_counter()
    for i in range(n):
        Image.new("RGB", (size, size), (128, 128, 128)).save(dest / f"{i:06d}.jpg", quality=90)
    return time.perf_counter() - start


def _render(dest: Path, config: SynthConfig) -> float:
    start = time.perf_counter()
    generate(config, dest)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--species", type=int, default=24)
    parser.add_argument("--images", type=int, default=30)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=2, help="best of N runs")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    config = SynthConfig(args.species, args.images, args.size)
    n = 2 * config.species_per_meta * config.images_per_species
    generate(SynthConfig(2, 2, args.size), Path(tempfile.mkdtemp()) / "warm")  # imports, caches

    synth_s, blank_s = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeat):
            blank_s.append(_blank_jpegs(Path(tmp) / f"blank{r}", n, args.size))
            synth_s.append(_render(Path(tmp) / f"synth{r}", config))
        root = Path(tmp) / "synth0"
        start = time.perf_counter()
        datasets = load_synthetic(root)
        load_s = time.perf_counter() - start
        ensure_synthetic(config, Path(tmp) / "cache")
        start = time.perf_counter()
        ensure_synthetic(config, Path(tmp) / "cache")
        hit_s = time.perf_counter() - start

    synth_rate, blank_rate = n / min(synth_s), n / min(blank_s)
    print(f"config: {config}  ({n} images, pinned to one core, best of {args.repeat})")
    print(f"synthetic render+write : {synth_rate:8.0f} images/s  ({min(synth_s):.2f} s)")
    print(f"blank JPEG write (ref) : {blank_rate:8.0f} images/s  ({min(blank_s):.2f} s)")
    print(
        f"ratio synthetic/ref    : {synth_rate / blank_rate:8.3f}  (cost x{blank_rate / synth_rate:.1f})"
    )
    print(f"target >= 200 images/s : {'met' if synth_rate >= 200 else 'NOT met'}")
    samples = sum(len(d.samples) for d in datasets)
    print(f"load_synthetic         : {load_s * 1000:8.1f} ms for {samples} samples (both loaders)")
    print(f"cache hit              : {hit_s * 1000:8.2f} ms")


if __name__ == "__main__":
    with reported():
        main()
