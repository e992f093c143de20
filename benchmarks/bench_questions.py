"""Questions generated per second from metadata alone, against a plain reference loop.

Builds a synthetic dataset in memory (3 taxonomy levels, 4 attribute groups) whose test
split yields about 1,010,000 questions — the FG-BMK total — and times generating every
case with :func:`pytest_fgbmk.questions.cases.build_questions` on one core. The reference
is a naive loop doing the same count of questions: random.sample for distractors from the
whole level, str.format of a template, a BLAKE2b id, a tuple per question.

    python benchmarks/bench_questions.py [--target 1010000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from hashlib import blake2b
from pathlib import Path

from _loadavg import reported  # noqa: E402  (benchmarks/ is the script's folder)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_fgbmk.data.records import Annotation, AttributeGroup, Category, Dataset, Sample  # noqa: E402
from pytest_fgbmk.questions.cases import build_questions, cases_for  # noqa: E402
from pytest_fgbmk.questions.templates import ORIGINAL  # noqa: E402

GROUPS = {
    "wing color": ("black", "white", "brown", "grey", "red", "blue", "yellow", "olive"),
    "bill shape": ("hooked", "cone", "needle", "dagger", "spatulate"),
    "tail pattern": ("solid", "striped", "spotted", "multi colored"),
    "size": ("small", "medium", "large", "very large"),
}


def synthetic(n_test: int, n_species: int = 2000, per_genus: int = 8) -> Dataset:
    cats = tuple(
        Category(
            i,
            f"species {i}",
            (f"family {i // (per_genus * 10)}", f"genus {i // per_genus}", f"species {i}"),
        )
        for i in range(n_species)
    )
    groups = tuple(AttributeGroup(k, v) for k, v in GROUPS.items())
    rng = random.Random(0)
    samples = []
    for j in range(n_test):
        c = cats[j % n_species]
        ann = tuple(Annotation(g.name, rng.choice(g.values), rng.choice((3, 4))) for g in groups)
        samples.append(
            Sample(f"s{j}", f"images/{c.index}/{j}.jpg", c.index, c.name, "test", c.taxonomy, ann)
        )
    return Dataset("synth", Path("/synthetic"), "bird", ("family", "genus", "species"), cats, tuple(samples),
                   attribute_groups=groups)  # fmt: skip


def ours(ds: Dataset) -> int:
    return sum(len(build_questions(ds, c)) for c in cases_for(ds))


def reference(ds: Dataset, total: int) -> int:
    """A plain loop: per question, sample distractors from the whole level and format."""
    rng = random.Random(0)
    names = [sorted({c.taxonomy[i] for c in ds.categories}) for i in range(3)]
    test = ds.split("test")
    made = 0
    out = []
    while made < total:
        for s in test:
            for i in range(3):
                truth = s.taxonomy[i]
                opts = rng.sample(names[i], 3)
                while truth in opts:
                    opts = rng.sample(names[i], 3)
                opts.append(truth)
                rng.shuffle(opts)
                text = rng.choice(ORIGINAL.mc).format(
                    level="species",
                    levels="species",
                    noun="bird",
                    options=", ".join(f'"{o}"' for o in opts),
                )
                qid = blake2b(f"{s.path}\x1f{truth}\x1f{text}".encode(), digest_size=8).hexdigest()
                out.append((qid, s.path, text, truth, tuple(opts)))
                made += 1
                if made == total:
                    return made
    return made


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", type=int, default=1_010_000)
    args = ap.parse_args()
    probe = synthetic(1000)
    per_image = ours(probe) / 1000
    ds = synthetic(round(args.target / per_image))
    t0, c0 = time.perf_counter(), time.process_time()
    n = ours(ds)
    t_ours, c_ours = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    m = reference(ds, n)
    t_ref, c_ref = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"dataset: {len(ds.samples):,} test images, {len(ds.categories):,} species, {len(cases_for(ds))} cases"
    )
    print(
        f"ours:      {n:>10,} questions, {t_ours:6.2f} s wall, {c_ours:6.2f} s CPU = {n / c_ours:>9,.0f} per CPU-s"
    )
    print(
        f"reference: {m:>10,} questions, {t_ref:6.2f} s wall, {c_ref:6.2f} s CPU = {m / c_ref:>9,.0f} per CPU-s"
    )
    print(f"ratio ours/reference: {c_ours / c_ref:.2f}x CPU time ({t_ours / t_ref:.2f}x wall)")
    verdict = "met" if c_ours < 10 else "NOT met"
    print(f"target: 1,010,000 questions in < 10 s on one core: {verdict} ({c_ours:.1f} s CPU)")
    return 0


if __name__ == "__main__":
    with reported():
        status = main()
    raise SystemExit(status)
