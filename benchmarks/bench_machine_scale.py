"""Issue 17, point 2: the machine-oriented path at scale on the CPU, and how each stage grows.

    python benchmarks/bench_machine_scale.py [--json PATH]   # 6,000 … 20,000 train images
    python benchmarks/bench_machine_scale.py --quick         # 200 … 800, a small probe grid

Writes 64×64 synthetic JPEGs (``--classes`` classes, each its own colour and stripe
direction under noise, so features separate them) into a temporary folder: the largest
train split and a test split a quarter of its size. A cheap encoder stands in for a real
one: a random CLIP-style vision transformer (``--width`` wide, 2 layers, 16 px patches, so
the image is 16 tokens), written with ``save_pretrained`` and loaded back through ``hf:``
(the user's path). For each ``n`` (train images; the test split is ``n / 4``), on a
dataset of the first images (its own cache entries), it times:

* ``extract``: :func:`extract_features` of train and test, cold (decode, preprocess on
  the prefetch threads, encode, write the cache); the reference is the encoder's bare
  forward on ready tensors (images/s, best of 3 passes over 512 images);
* ``write`` / ``read``: the feature cache alone, every chunk written with
  ``FeatureStore.save_chunk`` to a fresh folder, then the cached extraction (chunks read
  and checked against the images' signature, the model never loaded); the reference is
  ``numpy.save`` / ``numpy.load`` of the same arrays;
* ``retrieval``: :func:`retrieval_metrics`, test against train (the retrieval task's
  call); the reference is the cosine similarity product alone in the same chunks;
* ``probe``: :func:`train_probe` on the DINOv2 views with the run's settings; the
  reference is one scikit-learn ``LogisticRegression`` (lbfgs, C=1, 100 iterations) on
  the ``cls`` view.

Then each stage's growth: the exponent ``b`` of ``seconds ≈ a · n^b`` by least squares on
log-log (``scipy.stats.linregress``, with its standard error). The default sizes start at
6,000 (30 images a class), where the probe's validation split (10 % of each class, 3
images) reaches ``cv_below`` (500): below it the probe chooses its head by k-fold
cross-validation (several trainings, so much more time per image: at 5,000 it took 3.7x
the time of 7,000), so its exponent is fitted on the hold-out sizes only when there are
two or more (the table marks CV sizes). ``--quick`` (the test's run) uses a small probe grid (2 learning rates, 1 weight
decay, 2 epochs, no minimum step count, a hold-out split at every size): its figures show
that the code runs, not the probe's cost. ``--json``
writes every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _loadavg import reported  # noqa: E402  (benchmarks/ is the script's folder)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_fgbmk.data.records import Dataset, Sample, build_categories  # noqa: E402
from pytest_fgbmk.machine.feature_store import FeatureStore  # noqa: E402
from pytest_fgbmk.machine.features import (  # noqa: E402
    ExtractionStats,
    extract_features,
    labels_of,
)
from pytest_fgbmk.machine.probe import ProbeSettings, dinov2_views, train_probe  # noqa: E402
from pytest_fgbmk.machine.retrieval import default_block_elements, retrieval_metrics  # noqa: E402
from pytest_fgbmk.models.registry import load_model  # noqa: E402
from pytest_fgbmk.run.context import val_fraction  # noqa: E402

STAGES = ("extract", "write", "read", "retrieval", "probe")
SIDE = 64


def write_images(root: Path, n: int, classes: int, seed: int) -> list[tuple[str, int]]:
    """``n`` JPEGs under ``root/img`` (quality 90), class ``i % classes``: (path, class)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    colours = rng.integers(30, 226, size=(classes, 3))
    angles = rng.uniform(0, np.pi, size=classes)
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    (root / "img").mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        c = i % classes
        stripes = 40 * np.sin((xx * np.cos(angles[c]) + yy * np.sin(angles[c])) / 3.0)
        noise = rng.normal(0, 25, size=(SIDE, SIDE, 3))
        arr = np.clip(colours[c] + stripes[..., None] + noise, 0, 255).astype(np.uint8)
        path = f"img/{i:06d}.jpg"
        Image.fromarray(arr).save(root / path, quality=90)
        out.append((path, c))
    return out


def subset(root: Path, files: list[tuple[str, int]], n_train: int, n_test: int, classes: int):
    """A dataset of the first ``n_train`` files as train and the next ``n_test`` as test."""
    samples = []
    for i, (path, c) in enumerate(files[: n_train + n_test]):
        split = "train" if i < n_train else "test"
        samples.append(Sample(f"s{i}", path, c, f"c{c}", split))
    cats = build_categories([f"c{c}" for c in range(classes)])
    return Dataset(f"scale{n_train}", root, "synthetic", ("class",), cats, tuple(samples))


def build_encoder(folder: Path, width: int) -> Path:
    """A random CLIP-style vision tower (2 layers, 16 px patches on 64 px images), saved."""
    import transformers

    torch.manual_seed(0)
    cfg = transformers.CLIPVisionConfig(
        hidden_size=width, intermediate_size=4 * width, num_hidden_layers=2,
        num_attention_heads=max(1, width // 64), image_size=SIDE, patch_size=16,
    )  # fmt: skip
    transformers.CLIPVisionModel(cfg).save_pretrained(folder)
    transformers.CLIPImageProcessor(
        size={"shortest_edge": SIDE}, crop_size={"height": SIDE, "width": SIDE}
    ).save_pretrained(folder)
    return folder


def bare_images_per_s(model: Any, ds: Dataset, batch: int, n: int = 512) -> float:
    """The encoder's forward alone on ready (preprocessed) tensors, images/s."""
    preprocess, encode_pixels = model.encode_stages()
    samples = ds.split("train")[:n]
    pixels = [
        torch.stack([preprocess(ds.open_image(s)) for s in samples[i : i + batch]])
        for i in range(0, len(samples), batch)
    ]
    best = float("inf")
    with torch.no_grad():
        encode_pixels(pixels[0])
        for _ in range(3):
            t0 = time.perf_counter()
            for p in pixels:
                encode_pixels(p)
            best = min(best, time.perf_counter() - t0)
    return len(samples) / best


def cache_write_read(
    feats: dict[str, dict[str, torch.Tensor]], store: FeatureStore, folder: Path
) -> tuple[float, float]:
    """Seconds to write every chunk with ``save_chunk`` and, as the reference, to
    ``numpy.save`` and ``numpy.load`` the same arrays whole."""
    from pytest_fgbmk.machine.feature_store import FeatureKey

    arrays = {f"{split}-{view}": t.numpy() for split, v in feats.items() for view, t in v.items()}
    t0 = time.perf_counter()
    for split, views in feats.items():
        key = FeatureKey("bench", "write", split, "x")
        rows = store.chunk_rows
        n = len(next(iter(views.values())))
        for index, start in enumerate(range(0, n, rows)):
            chunk = {k: v[start : start + rows].numpy() for k, v in views.items()}
            store.save_chunk(key, index, "sig", chunk)
    write = time.perf_counter() - t0
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for name, arr in arrays.items():
        np.save(folder / f"{name}.npy", arr)
    for name in arrays:
        np.load(folder / f"{name}.npy")
    return write, time.perf_counter() - t0


def similarity_floor(query: torch.Tensor, gallery: torch.Tensor) -> float:
    """Seconds of the cosine similarity product alone, in retrieval's default chunks."""
    t0 = time.perf_counter()
    q = torch.nn.functional.normalize(query.float(), dim=1)
    g = torch.nn.functional.normalize(gallery.float(), dim=1).T.contiguous()
    rows = max(1, default_block_elements(torch.device("cpu")) // len(gallery))
    acc = 0.0
    for s in range(0, len(q), rows):
        acc += float((q[s : s + rows] @ g)[:, 0].sum())
    return time.perf_counter() - t0


def logreg_seconds(xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray, yte: np.ndarray):
    """One scikit-learn logistic regression (lbfgs, C=1, 100 iterations): seconds, top-1."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    t0 = time.perf_counter()
    scaler = StandardScaler().fit(xtr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = LogisticRegression(C=1.0, max_iter=100).fit(scaler.transform(xtr), ytr)
    acc = float((clf.predict(scaler.transform(xte)) == yte).mean())
    return time.perf_counter() - t0, acc


def measure(model: Any, ds: Dataset, tmp: Path, batch: int, grid: dict[str, Any]) -> dict[str, Any]:
    """Every stage's seconds (and references) for one dataset size."""
    store = FeatureStore(tmp / f"cache-{ds.name}")
    out: dict[str, Any] = {"n_train": len(ds.split("train")), "n_test": len(ds.split("test"))}
    t0 = time.perf_counter()
    feats = {
        split: extract_features(model, ds, split, store, batch_size=batch, progress=None)
        for split in ("train", "test")
    }
    out["extract"] = time.perf_counter() - t0
    out["write"], out["write_read_numpy"] = cache_write_read(
        feats, FeatureStore(tmp / f"write-{ds.name}"), tmp / f"npy-{ds.name}"
    )
    stats = ExtractionStats()
    t0 = time.perf_counter()
    for split in ("train", "test"):
        extract_features(model, ds, split, store, batch_size=batch, progress=None, stats=stats)
    out["read"] = time.perf_counter() - t0
    if stats.computed_chunks:
        raise RuntimeError(f"the cached extraction computed {stats.computed_chunks} chunks")
    ytr, yte = labels_of(ds, "train"), labels_of(ds, "test")
    t0 = time.perf_counter()
    res = retrieval_metrics(feats["test"]["cls"], yte, feats["train"]["cls"], ytr, ks=(1, 5))
    out["retrieval"] = time.perf_counter() - t0
    out["retrieval_floor"] = similarity_floor(feats["test"]["cls"], feats["train"]["cls"])
    out["mAP"] = res.mean_ap
    settings = ProbeSettings(val_fraction=val_fraction(ytr), **grid)
    t0 = time.perf_counter()
    probe = train_probe(
        dinov2_views(feats["train"]), ytr, dinov2_views(feats["test"]), yte,
        n_classes=len(ds.categories), settings=settings,
    )  # fmt: skip
    out["probe"] = time.perf_counter() - t0
    out["probe_top1"] = probe.top1
    out["probe_cv"] = probe.folds > 0
    out["logreg"], out["logreg_top1"] = logreg_seconds(
        feats["train"]["cls"].numpy(), ytr, feats["test"]["cls"].numpy(), yte
    )
    return out


def growth(ns: list[int], seconds: list[float]) -> dict[str, float]:
    """``seconds ≈ a · n^b``: b and its standard error (least squares on log-log)."""
    from scipy.stats import linregress

    fit = linregress(np.log(ns), np.log(seconds))
    return {"exponent": float(fit.slope), "stderr": float(fit.stderr), "points": len(ns)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200, 400, 800 train images")
    ap.add_argument("--sizes", default=None, help="train sizes, default 6000,9000,13500,20000")
    ap.add_argument("--classes", type=int, default=None, help="default 200 (quick: 20)")
    ap.add_argument("--width", type=int, default=None, help="encoder width, default 192")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    default = "200,400,800" if args.quick else "6000,9000,13500,20000"
    try:
        ns = sorted({int(x) for x in (args.sizes or default).split(",")})
    except ValueError:
        ap.error(f"--sizes must be whole numbers separated by commas, got {args.sizes!r}")
    classes = args.classes or (20 if args.quick else 200)
    width = args.width or (64 if args.quick else 192)  # 192: ViT-Ti's width
    grid: dict[str, Any] = {}
    if args.quick:  # the code path, not the probe's cost: 2 heads, 2 epochs, hold-out
        grid = {"lrs": (0.1, 1.0), "weight_decays": (1e-3,), "epochs": 2, "min_steps": 0}
        grid["cv_below"] = 0
    if len(ns) < 2 or ns[0] < 2 * classes:
        ap.error(f"--sizes: give two sizes or more, each at least 2 × --classes ({2 * classes})")
    figures: dict[str, Any] = {
        "sizes": ns, "classes": classes, "width": width, "threads": torch.get_num_threads(),
        "probe_grid": "small (quick)" if grid else "default",
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        root = tmp / "data"
        t0 = time.perf_counter()
        files = write_images(root, ns[-1] + ns[-1] // 4, classes, seed=0)
        figures["write_images_s"] = time.perf_counter() - t0
        print(
            f"{len(files)} JPEGs of {SIDE}x{SIDE} written in {figures['write_images_s']:.1f} s; "
            f"{classes} classes; random CLIP-style encoder, width {width}, 2 layers, through "
            f"hf:, CPU, {torch.get_num_threads()} torch threads, batch {args.batch}"
        )
        ckpt = build_encoder(tmp / "encoder", width)
        model = load_model(f"hf:{ckpt}", device="cpu", dtype="fp32", batch_size=args.batch)
        figures["bare_images_per_s"] = bare_images_per_s(
            model, subset(root, files, ns[-1], ns[-1] // 4, classes), args.batch
        )
        print(f"bare forward on ready tensors: {figures['bare_images_per_s']:.0f} images/s")
        head = (
            f"{'n train':>8} {'n test':>6} {'extract s':>9} {'img/s':>6} {'of bare':>7} "
            f"{'write s':>7} {'read s':>6} {'npy s':>6} {'retr s':>7} {'floor s':>7} "
            f"{'mAP':>5} {'probe s':>7} {'top-1':>5} {'logreg s':>8} {'top-1':>5}"
        )
        print(head)
        rows = []
        for n in ns:
            ds = subset(root, files, n, n // 4, classes)
            r = measure(model, ds, tmp, args.batch, grid)
            r["images_per_s"] = (r["n_train"] + r["n_test"]) / r["extract"]
            rows.append(r)
            print(
                f"{r['n_train']:>8} {r['n_test']:>6} {r['extract']:>9.2f} "
                f"{r['images_per_s']:>6.0f} {r['images_per_s'] / figures['bare_images_per_s']:>7.2f} "
                f"{r['write']:>7.3f} {r['read']:>6.3f} {r['write_read_numpy']:>6.3f} "
                f"{r['retrieval']:>7.3f} {r['retrieval_floor']:>7.3f} {r['mAP']:>5.3f} "
                f"{r['probe']:>7.2f}{'*' if r['probe_cv'] else ' '}{100 * r['probe_top1']:>5.1f} "
                f"{r['logreg']:>8.2f} {100 * r['logreg_top1']:>5.1f}",
                flush=True,
            )  # fmt: skip
        model.close()
    if any(r["probe_cv"] for r in rows):
        print("  * the probe chose its head by k-fold cross-validation (small validation split)")
    figures["rows"] = rows
    figures["growth"] = {}
    print("growth, seconds ~ a * n^b (least squares on log-log):")
    for stage in STAGES:
        use = rows
        note = ""
        if stage == "probe":
            holdout = [r for r in rows if not r["probe_cv"]]
            if len(holdout) >= 2 and len(holdout) < len(rows):
                use, note = holdout, " (hold-out sizes only)"
        g = growth([r["n_train"] for r in use], [r[stage] for r in use])
        figures["growth"][stage] = g
        last = rows[-1]
        print(
            f"  {stage:<9} b = {g['exponent']:.2f} ± {g['stderr']:.2f} over {g['points']} sizes"
            f"{note}; {last[stage]:.2f} s at n = {last['n_train']}"
        )
    last = rows[-1]
    print(
        f"references at n = {last['n_train']}: extraction {last['images_per_s'] / figures['bare_images_per_s']:.2f} "
        f"of the bare forward; cache write {last['write'] / last['write_read_numpy']:.1f}x and "
        f"read {last['read'] / last['write_read_numpy']:.1f}x numpy save+load; retrieval "
        f"{last['retrieval'] / last['retrieval_floor']:.1f}x the product; probe grid "
        f"{last['probe'] / last['logreg']:.1f}x one logistic regression"
    )  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=float))
    return 0


if __name__ == "__main__":
    with reported():
        status = main()
    raise SystemExit(status)
