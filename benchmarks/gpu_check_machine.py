"""GPU check of the machine-oriented metrics (no pytest, no download).

    python benchmarks/gpu_check_machine.py [--json PATH]   # on a CUDA machine, ~2 min
    python benchmarks/gpu_check_machine.py --smoke         # tiny sizes on the CPU, seconds

Four parts, each with its reference measured in the same run:

1. retrieval: :func:`retrieval_metrics` at 100,000 queries × 100,000 gallery × 768 dims
   (100 images a class) on the GPU, with the default chunk and with a 1 GiB chunk; the
   similarity product alone in the same chunks (the floor); the per-query scikit-learn loop
   on a few queries, scaled (the reference), and the largest |AP − scikit-learn AP| on them;
   peak GPU memory (the N × N matrix would take 40 GB).
2. linear probe: the default grid (8 lrs) on the GPU at CUB-200's shape
   against a tuned ``LogisticRegression`` on the CPU (time and top-1), then at a larger
   shape (50,000 train, d = 2,048, 1,000 classes) alone.
3. robustness: feature-space L∞ PGD on the GPU against the CUB-shaped probe's head;
   beside the exact worst case of the head (PGD within 1 point of it);
   perturbed top-1 must not increase with eps.
4. features: a CLIP ViT-B/16-shaped encoder (random weights, ``save_pretrained`` then
   ``hf:PATH``) in bf16 through :func:`extract_features` at batch 64 on rendered JPEGs,
   images/s against the encoder's bare forward on the same batches; bf16 vs fp32 cosine.

Exits with status 1 when a correctness check fails (AP error above 1e-9, a non-monotone
robustness curve, PGD more than 1 point above the exact worst case).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _loadavg import reported  # noqa: E402  (benchmarks/ is the script's folder)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_probe import problem, simulated, tuned_logreg  # noqa: E402

from pytest_fgbmk.machine.probe import ProbeSettings, stratified_split, train_probe  # noqa: E402
from pytest_fgbmk.machine.retrieval import default_block_elements, retrieval_metrics  # noqa: E402
from pytest_fgbmk.machine.robustness import feature_robustness  # noqa: E402


def _timed(fn, device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return out, time.perf_counter() - t0


def retrieval_part(n: int, d: int, per_class: int, sk_queries: int, device: torch.device) -> dict:
    from sklearn.metrics import average_precision_score

    classes = max(2, n // per_class)
    gen = torch.Generator(device=device).manual_seed(0)
    centers = torch.randn(classes, d, generator=gen, device=device)
    ql = torch.randint(0, classes, (n,), generator=gen, device=device)
    gl = torch.randint(0, classes, (n,), generator=gen, device=device)
    q = centers[ql] + 3.0 * torch.randn(n, d, generator=gen, device=device)
    g = centers[gl] + 3.0 * torch.randn(n, d, generator=gen, device=device)
    qln, gln = ql.cpu().numpy(), gl.cpu().numpy()
    print(f"[retrieval] {n} queries × {n} gallery × {d} dims, {classes} classes, {device}")
    retrieval_metrics(q[:256], qln[:256], g, gln, device=device)  # warm-up
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    res, t_ours = _timed(lambda: retrieval_metrics(q, qln, g, gln, device=device), device)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else 0.0
    big_rows = max(1, 2**28 // n)
    res_big, t_big = _timed(
        lambda: retrieval_metrics(q, qln, g, gln, device=device, chunk_rows=big_rows), device
    )
    same = bool(np.array_equal(res.ap, res_big.ap, equal_nan=True))
    qn = q / q.norm(dim=1, keepdim=True)
    gt = (g / g.norm(dim=1, keepdim=True)).T.contiguous()

    def floor(rows: int) -> float:
        acc = torch.zeros((), device=device)
        for s in range(0, n, rows):
            acc += (qn[s : s + rows] @ gt)[:, 0].sum()
        return float(acc)

    rows = max(1, default_block_elements(device) // n)
    _, t_floor = _timed(lambda: floor(rows), device)
    _, t_floor_big = _timed(lambda: floor(big_rows), device)
    k = min(sk_queries, n)
    scores = (qn[:k] @ gt).cpu().numpy()
    t0 = time.perf_counter()
    ref = np.array([average_precision_score(gln == qln[i], scores[i]) for i in range(k)])
    t_sk = (time.perf_counter() - t0) * n / k
    err = float(np.nanmax(np.abs(ref - res.ap[:k])))
    ms = 1000.0 / n
    print(f"  mAP {res.mean_ap:.4f}  R@1 {res.recall(1):.4f}  R@10 {res.recall(10):.4f}")
    print(f"  ours, default chunk ({rows} rows): {t_ours:7.2f} s ({t_ours * ms:.4f} ms/query)")
    print(f"  ours, 1 GiB chunk ({big_rows} rows):  {t_big:7.2f} s ({t_big * ms:.4f} ms/query)")
    print(f"  product alone, default / 1 GiB chunk: {t_floor:.2f} s / {t_floor_big:.2f} s [floor]")
    print(f"  scikit-learn (CPU, {k} queries, scaled): {t_sk:.1f} s ({t_sk * ms:.3f} ms/query)")
    print(
        f"  speed-up vs scikit-learn {t_sk / t_ours:.0f}x (1 GiB chunk {t_sk / t_big:.0f}x); "
        f"ours / floor {t_ours / t_floor:.2f}x (1 GiB chunk {t_big / t_floor_big:.2f}x)"
    )
    print(
        f"  max |AP - sklearn| {err:.1e}; chunk sizes agree exactly: {same}; "
        f"peak GPU memory {peak:.2f} GiB"
    )
    return {
        "n": n,
        "dim": d,
        "classes": classes,
        "mAP": res.mean_ap,
        "ours_s": t_ours,
        "ours_big_chunk_s": t_big,
        "floor_s": t_floor,
        "floor_big_chunk_s": t_floor_big,
        "sklearn_scaled_s": t_sk,
        "max_ap_error": err,
        "chunks_agree": same,
        "peak_gpu_gib": peak,
        "ok": err <= 1e-9 and same,
    }


def probe_part(scale: float, big: tuple[int, int, int, int], device: torch.device) -> dict:
    xtr, ytr, xte, yte = problem(scale)
    s = ProbeSettings()
    print(f"[probe] CUB shape: {len(ytr)} train / {len(yte)} test, d={xtr.shape[1]}, {device}")
    train_probe(
        {"cls": torch.from_numpy(xtr[:512])}, ytr[:512] % 4, {"cls": torch.from_numpy(xte[:8])},
        yte[:8] % 4, settings=ProbeSettings(epochs=1, min_steps=0), device=device,
    )  # fmt: skip

    def probe(xa, ya, xb, yb):
        run = lambda: train_probe(  # noqa: E731
            {"cls": torch.from_numpy(xa)}, ya, {"cls": torch.from_numpy(xb)}, yb,
            settings=s, device=device,
        )  # fmt: skip
        return _timed(run, device)

    res, t_probe = probe(xtr, ytr, xte, yte)
    fit, val = stratified_split(ytr, s.val_fraction, s.seed)
    t0 = time.perf_counter()
    acc_lr, _, c_lr = tuned_logreg({"cls": xtr}, ytr, {"cls": xte}, yte, fit, val)
    t_lr = time.perf_counter() - t0
    print(f"  probe grid on {device}: {t_probe:.2f} s, top-1 {100 * res.top1:.2f}")
    print(
        f"  LogisticRegression (CPU, {torch.get_num_threads()} threads, 7 C): {t_lr:.1f} s, "
        f"top-1 {100 * acc_lr:.2f} (C={c_lr:.3g}); speed ratio {t_lr / t_probe:.1f}x, "
        f"accuracy {100 * (res.top1 - acc_lr):+.2f} points"
    )
    n_tr, n_te, d, c = big
    btr, bytr, bte, byte = simulated(n_tr, n_te, d, c, seed=1)
    big_res, t_big = probe(btr, bytr, bte, byte)
    print(
        f"  larger: {n_tr} train / {n_te} test, d={d}, {c} classes: {t_big:.2f} s, "
        f"top-1 {100 * big_res.top1:.2f}"
    )
    return {
        "probe_s": t_probe,
        "probe_top1": res.top1,
        "logreg_cpu_s": t_lr,
        "logreg_top1": acc_lr,
        "big_probe_s": t_big,
        "big_probe_top1": big_res.top1,
        "head": res.head,
        "test": (xte, yte),
    }


def robustness_part(head, xte: np.ndarray, yte: np.ndarray, device: torch.device) -> dict:
    x = torch.from_numpy(xte).to(device)
    eps = (0.0, 0.01, 0.02, 0.05, 0.1)
    res, t = _timed(lambda: feature_robustness(head, x, yte, eps_rel=eps), device)
    curve = [float(res.correct[e].mean()) for e in res.eps_rel]
    monotone = all(a >= b for a, b in zip(curve, curve[1:], strict=False))
    exact0 = bool(np.array_equal(res.correct[0.0], res.clean_correct))
    exact = [res.exact_top1(e) for e in res.eps_rel]
    gap = max(100 * (a - b) for a, b in zip(curve, exact, strict=True))
    print(f"[robustness] L∞ PGD on {device}, {len(yte)} samples, {len(eps)} radii: {t:.2f} s")
    print(
        "  top-1 by eps_rel (PGD / exact worst case): "
        + ", ".join(
            f"{e:g}: {100 * a:.1f}/{100 * b:.1f}"
            for e, a, b in zip(res.eps_rel, curve, exact, strict=True)
        )
        + f"; monotone {monotone}; eps 0 = clean exactly {exact0}; PGD above exact by at most "
        f"{gap:.2f} pts (must be <= 1)"
    )
    ok = (
        monotone
        and exact0
        and gap <= 1.0
        and min(a - b for a, b in zip(curve, exact, strict=True)) >= 0
    )
    return {"seconds": t, "curve": curve, "exact_curve": exact, "ok": ok}


def encoder_part(n_images: int, batch: int, layers: int, device: torch.device) -> dict:
    import transformers
    from PIL import Image

    from pytest_fgbmk.data.records import Dataset, Sample, build_categories
    from pytest_fgbmk.machine.feature_store import FeatureStore
    from pytest_fgbmk.machine.features import ExtractionStats, extract_features
    from pytest_fgbmk.models.registry import load_model

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "clip-vit-b16-random"
        torch.manual_seed(0)
        cfg = transformers.CLIPVisionConfig(
            hidden_size=768, intermediate_size=3072, num_hidden_layers=layers,
            num_attention_heads=12, image_size=224, patch_size=16,
        )  # fmt: skip
        transformers.CLIPVisionModel(cfg).save_pretrained(ckpt)
        transformers.CLIPImageProcessor(
            size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}
        ).save_pretrained(ckpt)
        root = Path(tmp) / "data"
        (root / "img").mkdir(parents=True)
        rng = np.random.default_rng(0)
        samples = []
        for i in range(n_images):
            arr = rng.integers(0, 255, size=(256, 320, 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / f"img/{i:05d}.jpg", quality=90)
            samples.append(Sample(f"s{i}", f"img/{i:05d}.jpg", i % 2, f"c{i % 2}", "train"))
        ds = Dataset("bench", root, "x", ("c",), build_categories(["c0", "c1"]), tuple(samples))
        dev = str(device)
        dtype = "bf16" if device.type == "cuda" else "fp32"
        model = load_model(f"hf:{ckpt}", device=dev, dtype=dtype, batch_size=batch)
        print(
            f"[features] CLIP ViT-B/16 shape ({layers} layers), {n_images} images, {dtype}, {dev}"
        )
        model.encode([ds.open_image(s) for s in samples[:batch]])  # warm-up
        stats = ExtractionStats()
        feats, t_cold = _timed(
            lambda: extract_features(
                model,
                ds,
                "train",
                FeatureStore(Path(tmp) / "cache"),
                batch_size=batch,
                progress=io.StringIO(),
                stats=stats,
            ),  # fmt: skip
            device,
        )
        pixels = [
            torch.stack([model.transform(ds.open_image(s)) for s in samples[i : i + batch]])
            for i in range(0, n_images, batch)
        ]
        module = model.module

        def bare() -> None:
            with torch.no_grad():
                for p in pixels:
                    module(pixel_values=p.to(device, module.dtype))

        _, t_bare = _timed(bare, device)
        exact = load_model(f"hf:{ckpt}", device=dev, dtype="fp32", batch_size=batch)
        ref = exact.encode([ds.open_image(s) for s in samples[:batch]])["cls"].float().cpu()
        cos = torch.nn.functional.cosine_similarity(feats["cls"][:batch].float(), ref, dim=1)
        print(
            f"  extract_features: {n_images / t_cold:.0f} images/s (decode, transform, encode, "
            f"store); bare forward on ready tensors: {n_images / t_bare:.0f} images/s "
            f"({t_bare / t_cold:.2f} of the time is the model)"
        )
        print(
            f"  bf16 vs fp32 cls cosine: min {float(cos.min()):.4f}, mean {float(cos.mean()):.4f}"
        )
        return {
            "images_per_s": n_images / t_cold,
            "bare_images_per_s": n_images / t_bare,
            "cos_min": float(cos.min()),
        }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--parts", default="retrieval,probe,robustness,features")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    if args.smoke:
        device = torch.device("cpu")
        sizes = {"n": 2000, "d": 64, "scale": 0.1, "big": (2000, 400, 64, 40), "images": 16}
        layers, batch = 1, 8
    else:
        if not torch.cuda.is_available():
            print("no CUDA device: run with --smoke for the CPU check")
            return 2
        device = torch.device("cuda")
        torch.backends.cuda.matmul.allow_tf32 = False  # exact fp32 products
        sizes = {"n": 100_000, "d": 768, "scale": 1.0, "big": (50_000, 10_000, 2048, 1000)}
        sizes["images"] = 1024
        layers, batch = 12, 64
        print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    figures: dict[str, object] = {"device": str(device), "smoke": args.smoke}
    ok = True
    if "retrieval" in parts:
        r = retrieval_part(sizes["n"], sizes["d"], 100, 50, device)
        figures["retrieval"] = r
        ok &= bool(r["ok"])
    if parts & {"probe", "robustness"}:
        p = probe_part(sizes["scale"], sizes["big"], device)
        head, (xte, yte) = p.pop("head"), p.pop("test")
        figures["probe"] = p
        if "robustness" in parts:
            rb = robustness_part(head, xte, yte, device)
            figures["robustness"] = rb
            ok &= bool(rb["ok"])
    if "features" in parts:
        figures["features"] = encoder_part(sizes["images"], batch, layers, device)
    figures["ok"] = ok
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=float))
    print("all checks passed" if ok else "A CHECK FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    with reported():
        status = main()
    raise SystemExit(status)
