"""Retrieval mAP speed: the chunked count-based mAP vs scikit-learn and vs the bare product.

    python benchmarks/bench_retrieval.py [--scale 1.0] [--dim 768] [--classes 200]
        [--sklearn-queries 200] [--device cpu] [--threads 2] [--repeat 3]

At ``--scale 1`` the problem is 20,000 queries × 20,000 gallery items × 768 dims. Three
timings, all in this run: our :func:`retrieval_metrics`; the similarity product alone
(the same chunks of ``q @ g.T``, nothing else: the floor no exact method beats); and the
per-query scikit-learn loop (``average_precision_score`` on each row of scores), timed
on ``--sklearn-queries`` queries and scaled to all. Ours and the product alternate
``--repeat`` times and the fastest of each counts (a shared machine only ever adds time);
the load average is printed before and after. Prints the ratios and peak memory.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import average_precision_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_fgbmk.machine.retrieval import DEFAULT_BLOCK_ELEMENTS, retrieval_metrics  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--size", type=int, default=20_000, help="queries = gallery at scale 1")
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--classes", type=int, default=200)
    ap.add_argument("--sklearn-queries", type=int, default=200)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    ap.add_argument("--repeat", type=int, default=3, help="alternating timings, best counts")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    n = max(10, int(args.size * args.scale))
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(args.classes, args.dim)).astype(np.float32)
    ql = rng.integers(0, args.classes, n)
    gl = rng.integers(0, args.classes, n)
    q = torch.from_numpy(centers[ql] + 3.0 * rng.normal(size=(n, args.dim)).astype(np.float32))
    g = torch.from_numpy(centers[gl] + 3.0 * rng.normal(size=(n, args.dim)).astype(np.float32))
    q, g = q.to(device), g.to(device)
    print(f"problem: {n} queries × {n} gallery × {args.dim} dims, {args.classes} classes, {device}")
    print(f"torch threads: {torch.get_num_threads()}")

    # warm-up (allocator, kernels)
    retrieval_metrics(q[:64], ql[:64], g, gl, device=device)

    qn = q / q.norm(dim=1, keepdim=True)
    gn = g / g.norm(dim=1, keepdim=True)
    gt = gn.T.contiguous()
    rows = max(1, DEFAULT_BLOCK_ELEMENTS // n)

    def product_alone() -> float:
        _sync(device)
        t0 = time.perf_counter()
        acc = 0.0
        for s in range(0, n, rows):
            acc += float((qn[s : s + rows] @ gt)[:, 0].sum())
        _sync(device)
        return time.perf_counter() - t0

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    times_ours, times_floor = [], []
    for i in range(max(1, args.repeat)):
        if i == 0:
            tracemalloc.start()
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
        _sync(device)
        t0 = time.perf_counter()
        res = retrieval_metrics(q, ql, g, gl, device=device)
        _sync(device)
        times_ours.append(time.perf_counter() - t0)
        if i == 0:
            _, py_peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            gpu_peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else 0.0
        times_floor.append(product_alone())
    t_ours, t_floor = min(times_ours), min(times_floor)

    k = min(args.sklearn_queries, n)
    scores = (qn[:k] @ gt).cpu().numpy()
    glnp = np.asarray(gl)
    t0 = time.perf_counter()
    ref = np.array([average_precision_score(glnp == ql[i], scores[i]) for i in range(k)])
    t_sk = (time.perf_counter() - t0) * n / k
    err = float(np.nanmax(np.abs(ref - res.ap[:k])))

    ms = 1000.0 / n
    print(f"mAP {res.mean_ap:.4f}  R@1 {res.recall(1):.4f}  R@10 {res.recall(10):.4f}")
    print("ours, each run:    " + "  ".join(f"{t:.2f}" for t in times_ours) + " s")
    print("product, each run: " + "  ".join(f"{t:.2f}" for t in times_floor) + " s")
    print(f"ours:           {t_ours:8.2f} s  ({t_ours * ms:.3f} ms/query)")
    print(f"product alone:  {t_floor:8.2f} s  ({t_floor * ms:.3f} ms/query)  [floor]")
    print(f"scikit-learn:   {t_sk:8.2f} s  ({t_sk * ms:.3f} ms/query)  [{k} queries, scaled]")
    print(f"speed-up vs scikit-learn: {t_sk / t_ours:.1f}x   (target >= 10x)")
    print(f"ours / floor:             {t_ours / t_floor:.2f}x  (target <= 2x)")
    print(f"max |AP - sklearn AP| on {k} queries: {err:.2e}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"peak python-heap (tracemalloc) during ours: {py_peak / 2**20:.1f} MiB; ru_maxrss {rss:.0f} MiB"
    )
    if device.type == "cuda":
        print(f"peak GPU memory allocated: {gpu_peak:.0f} MiB")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
