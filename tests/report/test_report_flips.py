"""report.html's "against the baseline" during a pytest run: baselines written by a good
model, a rerun by a worse one (the flipping wrapper, answering markup when wrong), and each
case's right → wrong questions read from the stored baseline file the gate names."""

from __future__ import annotations

import json
import re
from html import escape

import numpy  # noqa: F401 - imported before pytester's inline runs, which cannot reload it

import pytest_fgbmk.data.synth  # noqa: F401 - keep loaded modules across inline runs
import pytest_fgbmk.plugin  # noqa: F401
import pytest_fgbmk.questions.cases  # noqa: F401
from pytest_fgbmk.report.results import read_results, read_samples
from tests.fake_models import EVIL, share

ARGS = (
    "-m",
    "fgbmk_human",
    "--fgbmk-datasets=synth_birds",
    "--fgbmk-limit=8",
    "--fgbmk-no-cache",
    "--fgbmk-model=tests.fake_models:EvilFlip",
)
BEFORE, AFTER = 0.1, 0.6


def test_regressed_cases_show_questions_flipped_against_the_stored_baseline(run, pytester):
    first = run(*ARGS, f"--fgbmk-model-arg=flip={BEFORE}", "--fgbmk-update-baselines")
    assert first.parseoutcomes().get("failed", 0) == 0
    second = run(*ARGS, f"--fgbmk-model-arg=flip={AFTER}", "--fgbmk-report=rep")
    assert second.parseoutcomes().get("failed", 0) > 0  # the worse model regressed
    folder = pytester.path / "rep"
    res = read_results(folder)
    samples = {}
    for r in read_samples(folder / "samples.jsonl"):
        samples.setdefault(r.case_id, []).append(r)
    page = (folder / "report.html").read_text()
    assert EVIL not in page and escape(EVIL) in page  # model output escaped
    baseline = re.search(r'<section id="baseline">(.*?)</section>', page, re.S).group(1)
    regressed = [c for c in res.cases if c.outcome == "failed" or (c.delta or 0) < 0]
    assert regressed
    checked = 0
    for c in res.cases:
        flips = c.details["flipped"]
        stored = pytester.path / c.gate["baseline_file"]
        assert flips["baseline_file"] == c.gate["baseline_file"] and stored.is_file()
        mine = samples[c.case_id]
        # right with flip=0.1, wrong with flip=0.6: the share of the id lies between
        expected = [r.id for r in mine if BEFORE <= share(r.id) < AFTER]
        assert flips["ids"] == expected and flips["right_to_wrong"] == len(expected)
        assert flips["wrong_to_right"] == 0
        assert all(not r.correct for r in mine if r.id in expected)
        if c not in regressed:
            continue
        head = re.search(rf'<h3 id="reg-{re.escape(c.case_id)}">.*?(?=<h3 |$)', baseline, re.S)
        block = head.group(0)
        assert (
            f"{len(expected)} question(s) flipped right → wrong, 0 wrong → right against "
            f"the stored baseline <code>{escape(c.gate['baseline_file'])}</code>"
        ) in block
        by_id = {r.id: r for r in mine}
        shown = re.findall(r'<div class="ex">(.*?)</div></div>', block, re.S)
        assert len(shown) == min(5, len(expected))
        for qid, ex in zip(expected, shown, strict=False):
            r = by_id[qid]
            assert escape(r.id) in ex and f"<pre>{escape(r.prompt)}</pre>" in ex
            assert f"answer: <pre>{escape(EVIL)}</pre>" in ex
            assert 'src="data:image/jpeg;base64,' in ex  # the thumbnail, inlined
        checked += 1
    assert checked == len(regressed)
    stored_any = json.loads((pytester.path / res.cases[0].gate["baseline_file"]).read_text())
    assert stored_any["outcomes"]["encoding"] == "bitset-base64"
