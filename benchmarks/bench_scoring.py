"""Answers scored per second (strict mode), against the release's plain substring loop.

Scores 1,000,000 responses written the way models answer (short and long, yes/no,
letters, option texts, names, reasoning blocks) over true/false, multiple-choice and
short-answer questions. The reference is the release's ``answer_acc.py`` rule in a plain
loop over the same pairs. Target: at least 200,000 answers/s.

    python benchmarks/bench_scoring.py [--n 1000000]
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from pathlib import Path

from _loadavg import reported  # noqa: E402  (benchmarks/ is the script's folder)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_fgbmk.questions.records import Question  # noqa: E402
from pytest_fgbmk.scoring import score  # noqa: E402

SPECIES = [
    f"{a} {b} albatross"
    for a in ("black", "grey", "sooty", "laysan", "royal")
    for b in ("footed", "backed", "headed", "browed")
]
TF = ["Yes", "No", "Yes, it is.", "No.", "No, it is not.", "I do not know.", "Yes, the bird in the image is a {t}.",
      "<think>Looking at the bill.</think>Yes", "no", "It is not a {t}."]  # fmt: skip
MC = ["{t}", "The bird is a {t}.", "B", "**B**", "B) {t}", "The answer is (C).", "{o}", "{t} or {o}",
      "Answer: A", "I think it is a {o}, based on the wings."]  # fmt: skip
SA = ["{t}", "It is a {t}.", "{T}", "{o}", "The species is {t} (a seabird).", "albatross", "I'm not sure.",
      "<think>hmm</think>{t}"]  # fmt: skip


def workload(n: int) -> list[tuple[Question, str]]:
    rng = random.Random(0)
    out = []
    for i in range(n):
        kind = i % 3
        opts = tuple(rng.sample(SPECIES, 4))
        truth = opts[rng.randrange(4)]
        other = next(o for o in opts if o != truth)
        if kind == 0:
            q = Question(f"q{i}", "d", f"img{i}", "p", "tf", "granularity", "species", truth,
                         rng.choice(("yes", "no")), "t", asked=truth)  # fmt: skip
            r = rng.choice(TF)
        elif kind == 1:
            q = Question(f"q{i}", "d", f"img{i}", "p", "mc", "granularity", "species", truth, truth, "t",
                         opts, lettered=bool(i % 2))  # fmt: skip
            r = rng.choice(MC)
        else:
            q = Question(
                f"q{i}", "d", f"img{i}", "p", "sa", "granularity", "species", truth, truth, "t"
            )
            r = rng.choice(SA)
        out.append((q, r.format(t=truth, T=truth.title().replace(" ", "-"), o=other)))
    return out


def reference(pairs: list[tuple[Question, str]]) -> int:
    """The release's rule, as answer_acc.py writes it, in a plain loop."""
    right = 0
    for q, r in pairs:
        processed_class = re.sub(r"[_\-,]+", " ", q.truth).lower().strip()
        processed_text = re.sub(r"[_\-,]+", " ", r).lower().strip()
        right += processed_class in processed_text
    return right


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    args = ap.parse_args()
    pairs = workload(args.n)
    t0, c0 = time.perf_counter(), time.process_time()
    ours = [score(q, r) for q, r in pairs]
    t_ours, c_ours = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    ref_right = reference(pairs)
    t_ref, c_ref = time.perf_counter() - t0, time.process_time() - c0
    n = len(pairs)
    right = sum(s.correct for s in ours)
    unparsed = sum(s.how == "unparsed" for s in ours)
    print(
        f"{n:,} responses; strict right {right:,} (unparsed {unparsed:,}); release rule right {ref_right:,}"
    )
    print(
        f"ours (strict):     {t_ours:6.2f} s wall, {c_ours:6.2f} s CPU = {n / c_ours:>10,.0f} answers per CPU-s"
    )
    print(
        f"reference (substr): {t_ref:6.2f} s wall, {c_ref:6.2f} s CPU = {n / c_ref:>10,.0f} answers per CPU-s"
    )
    print(f"ratio ours/reference: {c_ours / c_ref:.2f}x CPU time ({t_ours / t_ref:.2f}x wall)")
    verdict = "met" if n / c_ours >= 200_000 else "NOT met"
    print(f"target: >= 200,000 answers/s: {verdict}")
    return 0


if __name__ == "__main__":
    with reported():
        status = main()
    raise SystemExit(status)
