"""Questions per second for ``tiny-llava`` on CPU: batch 16 against batch 1, same run.

    python benchmarks/bench_models_answer.py [--questions 48] [--max-new-tokens 8]

The reference is the same model answering the same questions one at a time; the
figure is the ratio (how much left-padded batched generation buys). The tiny model is
built into a temporary folder and loaded through ``hf:`` (the real transformers path).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _loadavg import reported  # noqa: E402  (benchmarks/ is the script's folder)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image  # noqa: E402

from pytest_fgbmk.models.base import AnswerRequest, GenerationSettings  # noqa: E402
from pytest_fgbmk.models.hf import load_hf  # noqa: E402
from pytest_fgbmk.models.options import ModelOptions  # noqa: E402
from pytest_fgbmk.models.tiny import build_tiny  # noqa: E402

PROMPTS = (
    "Is this a photo of a Laysan Albatross? Answer yes or no.",
    "What is the species of the bird in the image?",
    "Which genus does the bird belong to? A. Larus B. Sterna C. Anas D. Corvus",
    "Does the bird have a red wing color?",
)


def requests(n: int) -> list[AnswerRequest]:
    out = []
    for i in range(n):
        img = Image.new("RGB", (96 + 7 * (i % 5), 80 + 5 * (i % 3)), (i * 13 % 256, 120, 60))
        out.append(AnswerRequest(img, PROMPTS[i % len(PROMPTS)]))
    return out


def rate(model, reqs: list[AnswerRequest], settings: GenerationSettings, batch: int) -> float:
    model.batch_size = batch
    model.answer(reqs[:batch], settings)  # warm-up at this shape
    start = time.perf_counter()
    model.answer(reqs, settings)
    return len(reqs) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=48)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    args = parser.parse_args()
    import torch

    settings = GenerationSettings(max_new_tokens=args.max_new_tokens)
    reqs = requests(args.questions)
    with tempfile.TemporaryDirectory() as tmp:
        path = build_tiny("llava", Path(tmp) / "tiny-llava")
        with load_hf(str(path), ModelOptions(device="cpu", dtype="fp32")) as model:
            single = rate(model, reqs, settings, 1)
            batched = rate(model, reqs, settings, 16)
    print(f"tiny-llava on CPU ({torch.get_num_threads()} threads), {len(reqs)} questions,")
    print(f"max_new_tokens={args.max_new_tokens}, greedy")
    print(f"{'batch':>6} {'questions/s':>12}")
    print(f"{1:>6} {single:>12.1f}")
    print(f"{16:>6} {batched:>12.1f}")
    print(f"ratio batch16/batch1: {batched / single:.2f}x")
    return 0


if __name__ == "__main__":
    with reported():
        status = main()
    raise SystemExit(status)
