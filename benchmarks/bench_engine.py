"""Engine overhead, measured against plain references in the same run.

1. A zero-cost model (answers "yes" at once) over every human-oriented question of the
   bundled synthetic datasets: the engine's questions/s (image decode included) against
   the plain loop that opens each question's image and asks one question at a time.
   Target: the engine at least 5x the plain loop.
2. tiny-llava (a real transformers model, random weights): the share of the engine's wall
   time spent outside the model. Target: overhead under 5% of model time.
3. Collection: ``pytest --collect-only`` over 10,000 parametrized FG-BMK cases.
   Target: under 5 s.

    python benchmarks/bench_engine.py [--synth default|small] [--llava-questions 48]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _loadavg import reported  # noqa: E402  (benchmarks/ is the script's folder)

MAIN = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(MAIN))

from pytest_fgbmk.engine import Engine, jobs_for  # noqa: E402
from pytest_fgbmk.models.base import AnswerRequest, GenerationSettings, ModelAdapter  # noqa: E402
from pytest_fgbmk.run.options import SYNTH_SIZES  # noqa: E402


class ZeroCost(ModelAdapter):
    name = "zero-cost"
    can_answer = True

    @property
    def fingerprint(self) -> str:
        return "zero-cost"

    def answer(self, requests, settings):
        return ["yes"] * len(requests)


def all_jobs(synth: str, limit: int | None = None):
    from pytest_fgbmk.data.synth import SynthConfig, ensure_synthetic, load_synthetic
    from pytest_fgbmk.questions.cases import build_questions, cases_for

    jobs = []
    for ds in load_synthetic(ensure_synthetic(SynthConfig(**SYNTH_SIZES[synth]))):
        for case in cases_for(ds):
            jobs.extend(jobs_for(ds, build_questions(ds, case, limit=limit)))
    return jobs


def plain_loop(model: ModelAdapter, jobs) -> float:
    settings = GenerationSettings()
    t = time.perf_counter()
    for j in jobs:
        image = j.dataset.open_image(j.sample)
        model.answer([AnswerRequest(image, j.question.prompt, j.question)], settings)
    return time.perf_counter() - t


def engine_run(model: ModelAdapter, jobs, batch_size: int = 64):
    engine = Engine(model, batch_size=batch_size)
    t = time.perf_counter()
    engine.run(jobs)
    return time.perf_counter() - t, engine.stats


def bench_zero_cost(synth: str, repeats: int = 3) -> None:
    jobs = all_jobs(synth)
    images = len({(j.dataset.name, j.sample.path) for j in jobs})
    model = ZeroCost()
    t_engine = min(engine_run(model, jobs)[0] for _ in range(repeats))
    t_plain = min(plain_loop(model, jobs) for _ in range(repeats))
    n = len(jobs)
    print(
        f"[1] zero-cost model, {n} questions about {images} images ({synth} synthetic data), best of {repeats}"
    )
    print(
        f"    plain loop (decode + ask one at a time): {n / t_plain:10.0f} questions/s  ({t_plain:.2f} s)"
    )
    print(
        f"    engine (batched by image, threads):      {n / t_engine:10.0f} questions/s  ({t_engine:.2f} s)"
    )
    print(f"    ratio engine / plain: {t_plain / t_engine:.1f}x  (target >= 5x)")


def bench_llava(n_questions: int) -> None:
    from pytest_fgbmk.models.registry import load_model

    jobs = all_jobs("small", limit=None)
    # many questions per image, as in a real run: take whole images' worth of questions
    jobs.sort(key=lambda j: (j.dataset.name, j.sample.path))
    jobs = jobs[:n_questions]
    model = load_model("tiny-llava", batch_size=16)
    model.answer(
        [AnswerRequest(jobs[0].dataset.open_image(jobs[0].sample), "warm up")], GenerationSettings()
    )
    wall, stats = engine_run(model, jobs, batch_size=16)
    outside = max(0.0, wall - stats.model_s)
    print(f"[2] tiny-llava, {len(jobs)} questions, engine batch 16")
    print(
        f"    model time {stats.model_s:.2f} s, engine wall {wall:.2f} s, outside the model {outside:.3f} s"
    )
    print(f"    overhead: {100 * outside / stats.model_s:.2f}% of model time  (target < 5%)")


CONFTEST = """
from pytest_fgbmk.questions.cases import Case
from pytest_fgbmk.tasks.base import Param
from pytest_fgbmk.tasks.human import HumanTask

def _params(self, ctx):
    if self.name != "attribute":
        return [Param(f"no-{self.name}-case", None, "no case")]
    cases = (Case(f"ds{i // 500}", "attribute", f"group {i % 500 // 2}", ("tf", "mc")[i % 2]) for i in range(10_000))
    return [Param(c.id, c) for c in cases]

HumanTask.params = _params
"""


REFERENCE = """
import pytest

@pytest.mark.parametrize("x", [pytest.param(i, id=f"ds{i // 500}-group_{i % 500 // 2}-tf") for i in range(10_000)])
def test_plain(x):
    pass
"""


def _timed(cmd: list[str], cwd: str, env: dict) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (the child's user + system) and stdout of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out.stdout


def bench_collect() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "conftest.py").write_text(CONFTEST)
        ref_dir = Path(tmp, "ref")
        ref_dir.mkdir()
        Path(ref_dir, "test_plain.py").write_text(REFERENCE)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(MAIN), env_path()]))
        common = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q"]
        ours = [
            *common,
            "-p",
            "pytest_fgbmk.plugin",
            "--pyargs",
            "pytest_fgbmk.suites",
            "--fgbmk-synth=small",
        ]
        ref = _timed([*common, "test_plain.py"], str(ref_dir), env)
        empty = _timed(ours, tmp, env)
        full = _timed([*ours, "--fgbmk-model=oracle"], tmp, env)
    tail = [line for line in full[2].splitlines() if "collected" in line]
    print("[3] collection of 10,000 cases (pytest --collect-only, fresh process, imports included)")
    print(
        f"    reference: plain pytest, 10,000 parametrized ids: {ref[0]:.2f} s wall, {ref[1]:.2f} s CPU"
    )
    print(
        f"    FG-BMK suites, no model (3 placeholders):        {empty[0]:.2f} s wall, {empty[1]:.2f} s CPU"
    )
    print(
        f"    FG-BMK suites, --fgbmk-model=oracle:             {full[0]:.2f} s wall, {full[1]:.2f} s CPU  ({tail[-1] if tail else '?'})"
    )
    print(f"    ratio ours / reference (CPU): {full[1] / ref[1]:.2f}  (target: under 5 s)")


def env_path() -> str:
    return os.environ.get("PYTHONPATH", "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synth", default="default", choices=sorted(SYNTH_SIZES))
    parser.add_argument("--llava-questions", type=int, default=48)
    parser.add_argument("--skip-llava", action="store_true")
    args = parser.parse_args()
    bench_zero_cost(args.synth)
    if not args.skip_llava:
        bench_llava(args.llava_questions)
    bench_collect()


if __name__ == "__main__":
    with reported():
        main()
