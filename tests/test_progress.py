"""pytest_fgbmk.progress: whole lines in a plain log (every 10 %, every 10 s, a final line,
never a carriage return), redraws on a terminal; and the long steps that report through it."""

from __future__ import annotations

import io

import pytest

from pytest_fgbmk.progress import Progress, ProgressOutput, as_output


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _plain() -> tuple[ProgressOutput, list[str]]:
    lines: list[str] = []
    return ProgressOutput(lines.append), lines


def test_plain_log_gets_a_line_at_every_10_percent_and_a_final_line():
    out, lines = _plain()
    clock = FakeClock()
    with Progress(out, "features cub/train:", 200, "images", rate_unit="img", clock=clock) as p:
        for _ in range(200):
            clock.now += 0.01
            p.update(1)
    assert len(lines) == 10  # 10 %, 20 %, … 90 %, then the final line (100 %, done)
    for k, line in enumerate(lines[:9], start=1):
        assert line.startswith(f"features cub/train: {20 * k}/200 images ({10 * k}%), ")
        assert " img/s, " in line and "ETA" in line
    assert lines[-1].startswith("features cub/train: 200/200 images (100%), ")
    assert lines[-1].endswith("elapsed, done")
    assert not any("\r" in line or "\n" in line for line in lines)


def test_plain_log_gets_a_line_after_10_seconds_between_milestones():
    out, lines = _plain()
    clock = FakeClock()
    p = Progress(out, "fgbmk answering:", 1000, "questions", clock=clock)
    clock.now += 9.9
    p.update(1)
    assert lines == []  # under 10 % and under 10 s
    clock.now += 0.2
    p.update(1)
    assert len(lines) == 1
    assert lines[0].startswith("fgbmk answering: 2/1000 questions (0%), 0.2 questions/s, 0")
    assert "ETA 1:23:" in lines[0]  # 998 left at 0.198/s
    clock.now += 5
    p.update(1)
    assert len(lines) == 1  # 5 s since the last line
    clock.now += 5
    p.update(1)
    assert len(lines) == 2
    p.close()
    p.close()
    assert len(lines) == 3 and lines[-1].endswith("done")


def test_terminal_redraws_in_place_and_ends_with_a_whole_line():
    written: list[str] = []
    redrawn: list[str] = []
    out = ProgressOutput(written.append, redrawn.append)
    clock = FakeClock()
    with Progress(out, "probe fit:", 10, "batches", clock=clock) as p:
        for _ in range(10):
            clock.now += 0.5
            p.update()
    assert len(redrawn) == 11  # each update (0.5 s apart > the redraw interval) and the end
    assert redrawn[3].startswith("probe fit: 4/10 batches (40%), ")
    assert redrawn[-1].endswith("done")
    assert written == [""]  # only the newline that ends the redrawn line


def test_terminal_redraw_is_throttled():
    redrawn: list[str] = []
    clock = FakeClock()
    p = Progress(ProgressOutput(lambda s: None, redrawn.append), "x:", 1000, clock=clock)
    for _ in range(1000):
        clock.now += 0.001
        p.update()
    assert 4 <= len(redrawn) <= 6  # one per 0.2 s over one second


def test_silent_without_output_and_counts_anyway():
    p = Progress(None, "x:", 3)
    p.update(2)
    p.close()
    assert p.done == 2 and p.closed


def test_zero_total_and_negative_total():
    out, lines = _plain()
    with Progress(out, "nothing:", 0) as p:
        p.update(0)
    assert lines[-1].startswith("nothing: 0/0 items, ")
    with pytest.raises(ValueError, match=">= 0"):
        Progress(out, "x:", -1)


def test_stream_output_redraws_only_on_a_tty():
    buf = io.StringIO()
    out = ProgressOutput.stream(buf)
    assert out.rewrite is None
    with Progress(out, "render:", 4, "images") as p:
        p.update(4)
    assert "\r" not in buf.getvalue() and buf.getvalue().endswith("done\n")

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    out = ProgressOutput.stream(tty)
    assert out.rewrite is not None
    with Progress(out, "render:", 4, "images") as p:
        p.update(4)
    assert tty.getvalue().startswith("\rrender: 4/4 images (100%)")
    assert as_output(None) is None and as_output(out) is out
    assert as_output(io.StringIO()).rewrite is None


# -- the long steps report through it -------------------------------------------------------


def test_train_probe_reports_epochs_in_whole_lines():
    import numpy as np
    import torch

    from pytest_fgbmk.machine.probe import ProbeSettings, train_probe

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    x = torch.tensor(rng.normal(size=(60, 5)) + y[:, None], dtype=torch.float32)
    out, lines = _plain()
    settings = ProbeSettings(epochs=10, min_steps=0)
    quiet = train_probe({"cls": x}, y, {"cls": x}, y, settings=settings)
    loud = train_probe({"cls": x}, y, {"cls": x}, y, settings=settings, progress=out)
    assert torch.equal(quiet.head.weight, loud.head.weight)  # reporting changes nothing
    # 60 validation images: 5-fold cross-validation on train and a refit, 10 epochs each
    assert lines[0].startswith("probe grid: 6/60 epochs (10%), ")
    assert lines[-1].startswith("probe grid: 60/60 epochs (100%), ") and lines[-1].endswith("done")
    assert len(lines) == 10 and not any("\r" in s for s in lines)


def test_meta_categories_report_each_probe_s_epochs_in_whole_lines():
    """The single-dataset probes, then the union probe: each its own line series ending in
    "done"; the numbers are those of a silent run."""
    import numpy as np
    import torch

    from pytest_fgbmk.machine.meta import ProbeTask, across_meta_categories
    from pytest_fgbmk.machine.probe import ProbeSettings

    rng = np.random.default_rng(0)

    def task(name: str, shift: float) -> ProbeTask:
        y = np.repeat(np.arange(3), 20)
        x = torch.tensor(rng.normal(size=(60, 5)) + y[:, None] + shift, dtype=torch.float32)
        return ProbeTask(name, {"cls": x}, y, {"cls": x[:30]}, y[:30], 3)

    tasks = [task("birds", 0.0), task("flowers", 5.0)]
    settings = ProbeSettings(epochs=10, min_steps=0)
    out, lines = _plain()
    quiet = across_meta_categories(tasks, settings=settings)
    loud = across_meta_categories(tasks, settings=settings, progress=out, label="fgbmk meta:")
    for name in ("birds", "flowers"):  # reporting changes nothing
        assert np.array_equal(quiet[name].multiple_correct, loud[name].multiple_correct)
        assert torch.equal(quiet[name].single.head.weight, loud[name].single.head.weight)
    # every probe's validation split (6 images alone, 12 for the union) is under cv_below:
    # 5 folds and a refit, 10 epochs each: 60 epochs
    labels = [
        "fgbmk meta: birds alone:",
        "fgbmk meta: flowers alone:",
        "fgbmk meta: union of 2 datasets:",
    ]
    series = [[s for s in lines if s.startswith(label + " ")] for label in labels]
    assert sum(map(len, series)) == len(lines) == 30  # every line belongs to one series
    for label, got in zip(labels, series, strict=True):
        assert got[0].startswith(f"{label} 6/60 epochs (10%), ")
        assert got[-1].startswith(f"{label} 60/60 epochs (100%), ") and got[-1].endswith("done")
    assert lines.index(series[2][0]) > lines.index(series[1][-1])  # the union comes last
    assert not any("\r" in s for s in lines)


def test_feature_extraction_reports_per_batch_without_carriage_returns(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "machine"))
    from test_machine_features import PixelEncoder, _dataset

    from pytest_fgbmk.machine.feature_store import FeatureStore
    from pytest_fgbmk.machine.features import extract_features

    ds = _dataset(tmp_path / "data")
    out, lines = _plain()
    extract_features(
        PixelEncoder(), ds, "train", FeatureStore(tmp_path / "c"), batch_size=1, progress=out
    )
    n = len(ds.split("train"))
    assert lines[-1].startswith(f"features toy/train: {n}/{n} images (100%), ")
    assert len(lines) >= min(n, 10) and not any("\r" in s for s in lines)
    lines.clear()  # everything cached now: no progress at all
    extract_features(PixelEncoder(), ds, "train", FeatureStore(tmp_path / "c"), progress=out)
    assert lines == []


def test_engine_reports_answering_in_whole_lines(tmp_path):
    from pytest_fgbmk.data.synth import SynthConfig, ensure_synthetic, load_synthetic
    from pytest_fgbmk.engine import Engine, jobs_for
    from pytest_fgbmk.models.references import OracleModel
    from pytest_fgbmk.questions.cases import build_questions, cases_for

    config = SynthConfig(species_per_meta=4, images_per_species=3, size=32)
    ds = load_synthetic(ensure_synthetic(config, tmp_path, progress=None))[0]
    qs = [q for c in cases_for(ds)[:3] for q in build_questions(ds, c)]
    out, lines = _plain()
    Engine(OracleModel(), batch_size=1, progress=out).run(jobs_for(ds, qs))
    n = len({q.id for q in qs})
    assert lines[0] == f"fgbmk: {n} questions to answer (0 more found in the cache)"
    assert lines[-1].startswith(f"fgbmk answering: {n}/{n} questions (100%), ")
    assert n >= 10 and sum("ETA" in s for s in lines) >= 9  # every 10 %
    assert not any("\r" in s for s in lines)
