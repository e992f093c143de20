"""benchmarks/bench_full_scale.py at a tiny scale: replicas of the 12 datasets load through
our loaders with the sizes written, and both passes run the suites to the end (on two of
them, to stay quick: 12 CPU-s; a smaller scale leaves every case without power, which
fails the session by design) with every figure line printed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))
STAGES = ("data load", "questions", "image check", "engine", "scoring", "gate", "junit")
REPORT = ("report: samples.jsonl", "report: results.json", "report: report.html")


def test_replicas_of_the_12_datasets_load_with_their_sizes(tmp_path):
    from _fullscale_replicas import SIZES, sized, write_all

    from pytest_fgbmk.data.discovery import discover

    linked = write_all(tmp_path / "data", 0.002)
    found = discover(tmp_path / "data")
    assert sorted(found.found) == sorted(SIZES) and not found.layouts
    for name in SIZES:
        ds = found.load(name)
        splits, _classes = sized(name, 0.002)
        if "all" in splits:  # SkinCon and wine: hash-split, every row kept
            assert len(ds.samples) == splits["all"], name
        else:
            assert {s: len(ds.split(s)) for s in splits} == splits, name
            assert linked[name] == splits["test"], name  # the test images, and only them
        for s in ds.split("test"):
            assert ds.image_path(s).is_file(), (name, s.path)


def test_full_scale_bench_runs_at_a_tiny_scale(tmp_path):
    done = subprocess.run(
        [sys.executable, str(BENCH / "bench_full_scale.py"), "--scale", "0.01",
         "--work", str(tmp_path), "--no-browser", "--real-images", "3",
         "--datasets", "food101,wine"],
        capture_output=True, text=True, timeout=300, cwd=BENCH.parent,
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert out.startswith("load average before: ") and "load average after: " in out
    assert "replicas: 2 datasets at scale 0.01" in out
    cases, questions = re.search(r"^(\d+) cases, ([\d,]+) questions$", out, re.M).groups()
    assert int(cases) > 2 * 4 and int(questions.replace(",", "")) > 0
    cold, warm = out.split("== cold pass")[1].split("== warm pass")
    for section in (cold, warm):
        assert "pytest exit 0" in section.splitlines()[0]
        rows = {
            m.group(1).strip(): [float(x.replace(",", "")) for x in m.group(2).split()]
            for m in re.finditer(r"^([a-z:. ]+?)\s{2,}([\d.,]+(?:\s+[\d.,]+){4})$", section, re.M)
        }
        for stage in (*STAGES, *REPORT):
            wall, cpu, peak, after, calls = rows[stage]
            assert wall >= 0 and cpu >= 0 and peak > 0 and after > 0 and calls >= 1, stage
        assert re.search(r"^whole pass\s+[\d.]+\s+[\d.]+\s+[\d,]+$", section, re.M)
        assert re.search(r"the harness adds \d+ s = [\d.]+% of it", section)
        for name in ("junit.xml", "report/report.html", "report/results.json",
                     "report/samples.jsonl", ".fgbmk_cache/answers.sqlite3"):  # fmt: skip
            assert re.search(rf"^  (out-\w+/)?{re.escape(name)}: [\d.,]+ MB$", section, re.M), name
    # the cold pass wrote a baseline per measured case; the warm pass passed the gate on each
    written = int(re.search(r"^  baselines/: (\d+) files", cold, re.M).group(1))
    passed = [int(re.search(r"(\d+) passed", s.splitlines()[0]).group(1)) for s in (cold, warm)]
    assert passed == [written, written]
    assert re.search(r"^targets: cold pass \d+ s \(< 600 s\)", out, re.M)
    assert re.search(r"image check on real-size JPEGs \(500x375\): [\d.]+ ms CPU per image", out)


def test_question_breakdown_counts_each_kind_per_dataset(tmp_path, capsys):
    """The header's table: test images (a level's largest true/false n), questions by kind
    and per image, summed over datasets and set against the paper's 1.01M / 0.28M."""
    import json

    from bench_full_scale import breakdown, print_breakdown

    def c(dataset, task, facet, qtype, n):
        return {"dataset": dataset, "task": task, "facet": facet, "qtype": qtype, "n": n}

    cases = [
        *(
            c("birds", "granularity", lv, q, 10)
            for lv in ("genus", "species")
            for q in ["tf", "mc"]
        ),
        c("birds", "granularity", "species", "sa", 9),
        c("birds", "knowledge_bias", "species", "tf", 20),
        c("birds", "attribute", "wing color", "tf", 4),
        c("birds", "attribute", "wing color", "mc", 3),
        c("dogs", "granularity", "species", "tf", 5),
        c("dogs", "granularity", "species", "mc", 5),
        c("dogs", "granularity", "species", "sa", 5),
        c("dogs", "knowledge_bias", "species", "tf", 10),
        {"dataset": "dogs", "task": "retrieval", "facet": "map", "qtype": "", "n": 99},
    ]
    run = {"datasets": {"birds": {"levels": ["genus", "species"]}, "dogs": {"levels": ["species"]}}}
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"run": run, "cases": cases}))
    rows = breakdown(path)
    assert rows == [
        {"dataset": "birds", "images": 10, "gran": 40, "sa": 9, "kb": 20, "attr": 7,
         "levels": 2, "questions": 76},
        {"dataset": "dogs", "images": 5, "gran": 10, "sa": 5, "kb": 10, "attr": 0,
         "levels": 1, "questions": 25},
    ]  # fmt: skip
    print_breakdown(rows)
    out = capsys.readouterr().out
    assert re.search(r"^birds\s+2\s+10\s+40\s+9\s+20\s+7\s+76\s+7\.60$", out, re.M)
    assert re.search(r"^all\s+15\s+50\s+14\s+30\s+7\s+101\s+6\.73$", out, re.M)
    assert "101 questions = 0.00 × its 1,010,000; 15 test images" in out
    assert "6.73 questions per image against its 3.61" in out
