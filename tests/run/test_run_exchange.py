"""The exchange between the workers of one run: publish, barrier, a dead worker is named."""

from __future__ import annotations

import os
import threading
import time

import pytest

import pytest_fgbmk.run.exchange as exchange_mod
from pytest_fgbmk.errors import FgbmkError
from pytest_fgbmk.run import Run, RunOptions
from pytest_fgbmk.run.exchange import Exchange


def test_every_worker_reads_every_part_in_worker_order(tmp_path):
    one, two = Exchange(tmp_path, 0, 2), Exchange(tmp_path, 1, 2)
    two.publish({"results": {"b": 2}})
    late = threading.Timer(0.3, lambda: one.publish({"results": {"a": 1}}))
    late.start()
    parts = two.gather(timeout_s=30)
    assert [p["results"] for p in parts] == [{"a": 1}, {"b": 2}]
    assert one.gather(timeout_s=1) == parts


def test_a_worker_whose_heartbeat_stopped_is_named(tmp_path, monkeypatch):
    me, dead = Exchange(tmp_path, 0, 3), Exchange(tmp_path, 2, 3)
    me.publish({"results": {}})
    Exchange(tmp_path, 1, 3).publish({"results": {}})
    dead.start_heartbeat()
    dead.stop_heartbeat()
    old = time.time() - exchange_mod.STALE_S - 5
    os.utime(tmp_path / "alive-gw2", (old, old))
    with pytest.raises(FgbmkError, match=r"worker gw2 stopped before publishing"):
        me.gather(timeout_s=60)


def test_a_live_worker_that_never_finishes_runs_into_the_timeout(tmp_path):
    me, slow = Exchange(tmp_path, 0, 2), Exchange(tmp_path, 1, 2)
    me.publish({"results": {}})
    slow.start_heartbeat()
    lines = []
    clock = iter(range(0, 10_000, 20))
    try:
        with pytest.raises(FgbmkError, match=r"waited 100 s for the measurements of gw1"):
            me.gather(
                timeout_s=100,
                report=lines.append,
                clock=lambda: float(next(clock)),
                sleep=lambda s: None,
            )
    finally:
        slow.stop_heartbeat()
    assert lines and lines[0].startswith("fgbmk: waiting for gw1")


def test_a_worker_that_never_started_is_named_after_the_startup_grace(tmp_path):
    me = Exchange(tmp_path, 0, 2)
    me.publish({"results": {}})
    clock = iter([0.0, exchange_mod.STARTUP_S + 1])
    with pytest.raises(FgbmkError, match=r"worker gw1 stopped"):
        me.gather(timeout_s=1e9, clock=lambda: next(clock), sleep=lambda s: None)


def _shared(tmp_path, index: int, model: str) -> Run:
    return Run(
        RunOptions(
            model=model,
            synth="small",
            cache=None,
            worker_index=index,
            worker_count=2,
            run_id="t",
            exchange=tmp_path / "x",
        )
    )


def test_a_worker_that_fails_tells_the_others_at_once(tmp_path, synth_dir, monkeypatch):
    monkeypatch.setenv("FGBMK_SYNTH_DIR", str(synth_dir))
    broken = _shared(tmp_path, 1, "no-such-model")
    with pytest.raises(FgbmkError):
        broken.execute(broken.all_selected())
    broken.close()
    ok = _shared(tmp_path, 0, "oracle")
    with pytest.raises(FgbmkError, match=r"worker gw1 stopped the run: .*no-such-model"):
        ok.execute(ok.all_selected())
    # every test of the run then fails with that message, not with a missing case
    with pytest.raises(FgbmkError, match=r"worker gw1 stopped the run"):
        ok.result(ok.selected[0].id)
    ok.close()
