"""GPU check of the ``hf:`` adapter on a LLaVA-1.5-shaped model (no pytest, no download).

    python benchmarks/gpu_check_lvlm.py            # on a CUDA machine, ~1-2 min on an H100
    python benchmarks/gpu_check_lvlm.py --smoke    # tiny dims on the CPU, seconds

Builds a randomly initialised LLaVA-1.5 at reduced depth: the CLIP ViT-L/14-336 vision
tower (1024 wide, 4 of 24 layers, 577 tokens) and a Llama-7B-width language model (4096
wide, 11008 MLP, 32 heads, 2 of 32 layers, 32064-token vocabulary), saves it with
``save_pretrained`` and loads it back through ``load_hf`` (the user's code path). Then:

1. throughput in bf16: questions/s answering 64 synthetic images at batch 1 and batch 16
   (the reference is batch 1, measured in the same run), and how many bf16 answers agree
   between the two batch sizes (bf16 rounding may flip a near-tied greedy choice);
2. exactness in fp32 (TF32 off): the batched answers must equal the one-at-a-time
   answers (left padding done right). A mismatch exits with status 1.

``--json PATH`` also writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from _loadavg import reported  # noqa: E402  (benchmarks/ is the script's folder)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# CLIP ViT-L/14-336 (LLaVA-1.5's tower) and Llama-2-7B widths, at reduced depth.
VISION_FULL = {
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_attention_heads": 16,
    "image_size": 336,
    "patch_size": 14,
    "projection_dim": 768,
    "hidden_act": "quick_gelu",
}
TEXT_FULL = {
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "max_position_embeddings": 4096,
    "rms_norm_eps": 1e-5,
}
VOCAB_FULL = 32064

PROMPTS = (
    "Is this a photo of a Laysan Albatross? Answer yes or no.",
    "What is the species of the bird in the image?",
    "Which genus does the bird belong to? A. Larus B. Sterna C. Anas D. Corvus. Answer with the letter.",
    "Does the bird have a red wing color?",
    "What is the make of the car?",
)


def synthetic_requests(n: int, seed: int):
    import numpy as np
    from PIL import Image

    from pytest_fgbmk.models.base import AnswerRequest

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        h, w = int(rng.integers(200, 500)), int(rng.integers(200, 500))
        pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        out.append(AnswerRequest(Image.fromarray(pixels), PROMPTS[i % len(PROMPTS)]))
    return out


def timed(model, reqs, settings, batch: int) -> tuple[list[str], float]:
    import torch

    model.batch_size = batch
    model.answer(reqs[:batch], settings)  # warm-up at this batch shape
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    answers = model.answer(reqs, settings)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return answers, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny dims on the CPU")
    parser.add_argument("--images", type=int, default=None, help="default 64 (smoke: 8)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--vision-layers", type=int, default=4)
    parser.add_argument("--text-layers", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--check-images", type=int, default=16, help="fp32 exactness set")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import torch
    import transformers

    from pytest_fgbmk.models.base import GenerationSettings
    from pytest_fgbmk.models.hf import load_hf
    from pytest_fgbmk.models.options import ModelOptions
    from pytest_fgbmk.models.tiny import TINY_LLAVA_VISION, build_llava

    if args.smoke:
        device, fast_dtype = "cpu", "fp32"
        vision = dict(TINY_LLAVA_VISION)
        text, vocab = {"num_hidden_layers": 2}, 1000
        n_images = args.images or 8
    else:
        if not torch.cuda.is_available():
            print("no CUDA device: run with --smoke for the CPU smoke mode", file=sys.stderr)
            return 2
        device, fast_dtype = "cuda", "bf16"
        vision = {**VISION_FULL, "num_hidden_layers": args.vision_layers}
        text = {**TEXT_FULL, "num_hidden_layers": args.text_layers}
        vocab = VOCAB_FULL
        n_images = args.images or 64
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    settings = GenerationSettings(max_new_tokens=args.max_new_tokens)
    reqs = synthetic_requests(n_images, seed=0)
    where = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    print(f"device: {where}; torch {torch.__version__}; transformers {transformers.__version__}")
    figures: dict[str, object] = {"device": where, "smoke": args.smoke, "images": n_images}

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        torch.manual_seed(0)
        save_dtype = torch.bfloat16 if fast_dtype == "bf16" else torch.float32
        path = build_llava(
            Path(tmp) / "llava-1.5-shaped",
            vision=vision,
            text=text,
            vocab_size=vocab,
            device=device,
            dtype=save_dtype,
        )
        figures["build_s"] = round(time.perf_counter() - start, 1)
        if device == "cuda":
            torch.cuda.empty_cache()

        start = time.perf_counter()
        model = load_hf(str(path), ModelOptions(device=device, dtype=fast_dtype))
        figures["load_s"] = round(time.perf_counter() - start, 1)
        params = sum(p.numel() for p in model.model.parameters())
        figures["params_M"] = round(params / 1e6, 1)
        print(
            f"model: {params / 1e6:.0f}M parameters, built in {figures['build_s']} s, "
            f"loaded through load_hf in {figures['load_s']} s"
        )
        try:
            one, t_one = timed(model, reqs, settings, 1)
            many, t_many = timed(model, reqs, settings, args.batch)
        finally:
            peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else 0.0
            model.close()
        agree = sum(a == b for a, b in zip(one, many, strict=True))
        rows = [(1, t_one), (args.batch, t_many)]
        print(
            f"\nthroughput ({fast_dtype}, {n_images} images, max_new_tokens="
            f"{args.max_new_tokens}, greedy)"
        )
        print(f"{'batch':>6} {'seconds':>9} {'questions/s':>12}")
        for batch, secs in rows:
            print(f"{batch:>6} {secs:>9.2f} {n_images / secs:>12.2f}")
        ratio = t_one / t_many
        print(f"ratio batch{args.batch}/batch1: {ratio:.2f}x; peak GPU memory {peak:.1f} GiB")
        print(f"{fast_dtype} answers equal across batch sizes: {agree}/{n_images}")
        figures.update(
            qps_batch1=round(n_images / t_one, 3),
            qps_batched=round(n_images / t_many, 3),
            batch=args.batch,
            ratio=round(ratio, 2),
            peak_gib=round(peak, 2),
            fast_dtype_agreement=f"{agree}/{n_images}",
        )

        # Exactness: fp32, TF32 off, batched must equal one at a time.
        check = reqs[: args.check_images]
        exact = load_hf(str(path), ModelOptions(device=device, dtype="fp32", batch_size=args.batch))
        try:
            batched = exact.answer(check, settings)
            exact.batch_size = 1
            single = exact.answer(check, settings)
        finally:
            exact.close()
    mismatches = [i for i, (a, b) in enumerate(zip(batched, single, strict=True)) if a != b]
    figures["fp32_mismatches"] = len(mismatches)
    figures["fp32_nonempty"] = sum(bool(a) for a in single)
    print(
        f"fp32 batched == one-at-a-time: {len(check) - len(mismatches)}/{len(check)} "
        f"({figures['fp32_nonempty']} non-empty answers)"
    )
    for i in mismatches[:3]:
        print(f"  mismatch #{i}: batched={batched[i]!r} single={single[i]!r}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    if mismatches or not figures["fp32_nonempty"]:
        print("FAIL", file=sys.stderr)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    with reported():
        status = main()
    raise SystemExit(status)
