"""How the processes of one shared run (pytest-xdist workers) pass measurements to each other.

Each worker measures its share of the cases (see :func:`pytest_fgbmk.run.plan.assign`)
and publishes the results as one file in the run's exchange folder, then waits until
every worker has published (a barrier) and reads them all, so that every worker holds
every measurement and takes the same whole-run decision. A run may exchange in several
stages, each its own barrier (``verify``: the image check's findings, before anything is
measured; ``results``: the measurements). While a worker is alive it
touches a heartbeat file every :data:`HEARTBEAT_S` seconds: a worker that published
nothing and whose heartbeat is older than :data:`STALE_S` (or never appeared within
:data:`STARTUP_S` of the wait) is named as dead, and the wait fails at once instead of
running into the timeout.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pytest_fgbmk.errors import FgbmkError

HEARTBEAT_S = 5.0
STALE_S = 30.0
STARTUP_S = 900.0
#: Seconds between two "waiting for …" lines.
WAIT_REPORT_S = 30.0
#: The stage of the measurements (the default; earlier stages name themselves).
RESULTS = "results"


def worker_name(index: int) -> str:
    """The worker's name as pytest-xdist prints it: ``gw0``, ``gw1`` …"""
    return f"gw{index}"


class Exchange:
    """The exchange folder of one run (``folder``), seen by ``count`` workers."""

    def __init__(self, folder: Path, index: int, count: int) -> None:
        self.folder = Path(folder)
        self.index = index
        self.count = count
        self.folder.mkdir(parents=True, exist_ok=True)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _part(self, index: int, stage: str = RESULTS) -> Path:
        prefix = "part" if stage == RESULTS else f"{stage}-part"
        return self.folder / f"{prefix}-{worker_name(index)}.pkl"

    def _alive(self, index: int) -> Path:
        return self.folder / f"alive-{worker_name(index)}"

    def start_heartbeat(self) -> None:
        """Touch this worker's heartbeat file now and every :data:`HEARTBEAT_S` seconds."""
        if self._thread is not None:
            return
        self._alive(self.index).touch()

        def beat() -> None:
            while not self._stop.wait(HEARTBEAT_S):
                try:
                    self._alive(self.index).touch()
                except OSError:
                    return

        self._thread = threading.Thread(target=beat, name="fgbmk-heartbeat", daemon=True)
        self._thread.start()

    def stop_heartbeat(self) -> None:
        self._stop.set()

    def publish(self, payload: Mapping[str, Any], *, stage: str = RESULTS) -> None:
        """Write this worker's part of ``stage`` (atomically: the others never read half a
        file)."""
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(dict(payload), f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, self._part(self.index, stage))

    def gather(
        self,
        timeout_s: float,
        *,
        stage: str = RESULTS,
        report: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> list[dict[str, Any]]:
        """Every worker's part of ``stage``, in worker order (waits for them; the barrier).

        Raises :class:`FgbmkError` naming the workers that are dead (stale heartbeat) or,
        after ``timeout_s`` seconds, those that never published.
        """
        start = clock()
        last_report = start
        while True:
            missing = [i for i in range(self.count) if not self._part(i, stage).exists()]
            if not missing:
                break
            now = clock()
            dead = [i for i in missing if self._dead(i, now - start)]
            if dead:
                names = ", ".join(worker_name(i) for i in dead)
                raise FgbmkError(
                    f"worker {names} stopped before publishing its measurements (no heartbeat "
                    f"in {self.folder} for {STALE_S:.0f} s): it crashed or was killed (see "
                    "pytest-xdist's 'node down' lines); rerun, or run without -n to see its error"
                )
            if now - start > timeout_s:
                names = ", ".join(worker_name(i) for i in missing)
                raise FgbmkError(
                    f"waited {timeout_s:.0f} s for the measurements of {names} in "
                    f"{self.folder}; it is still alive but did not finish"
                )
            if report is not None and now - last_report >= WAIT_REPORT_S:
                names = ", ".join(worker_name(i) for i in missing)
                report(f"fgbmk: waiting for {names} ({now - start:.0f} s)")
                last_report = now
            sleep(0.2)
        out = []
        for i in range(self.count):
            with self._part(i, stage).open("rb") as f:
                out.append(pickle.load(f))
        return out

    def _dead(self, index: int, waited: float) -> bool:
        try:
            age = time.time() - self._alive(index).stat().st_mtime
        except FileNotFoundError:
            return waited > STARTUP_S
        return age > STALE_S
