"""Python's cyclic garbage collector paused while a run builds its long-lived records.

A run holds millions of small objects for its whole length (at FG-BMK's full scale,
3.5M questions, their jobs, answers and outcomes), nearly none of them in reference cycles
that only the collector could free. CPython's collector still walks every tracked object
on each full (oldest-generation) collection, and the run's growth triggers one each time
the objects made since the last grew by a quarter: 18 full collections, 19 s of wall time,
in a warm ``benchmarks/bench_full_scale.py --scale 0.1`` pass of 88 s (load 6 on 2 cores;
measured through ``gc.callbacks``).

:func:`collector_paused` turns the automatic collector off while a run loads data or
executes, then moves every object alive at its end into the permanent generation
(``gc.freeze()``, Python ≥ 3.7) so that later collections, pytest's own at the end of the
session included, do not walk them again. Memory is freed by reference counting as before;
only garbage in reference cycles made during the pause waits until :func:`thaw` (the plugin
calls it when the session is cleaned up, so an in-process pytest run, e.g. pytester's,
leaves nothing frozen behind). Nested pauses are allowed; the outermost one restores the
collector's previous state. No figure or output depends on any of this.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
#: Pauses open now, in every thread (the collector's state is the process's, not a thread's).
_depth = 0
#: Whether the collector was enabled when the outermost pause began.
_enabled_before = False
#: Whether a pause that freezes ended inside the current outermost one.
_freeze_pending = False
_froze = False


@contextmanager
def collector_paused(freeze: bool = True) -> Iterator[None]:
    """Automatic garbage collection off inside; when the outermost pause ends (in any
    thread), the collector is enabled again if it was enabled when that pause began, and,
    if this or a nested pause asked to ``freeze``, the objects alive are frozen (see the
    module docstring).

    The state is kept per process, not per pause: two threads whose pauses overlap
    (thread A enters, B enters, A leaves, B leaves) leave the collector as it was before A
    entered. (Each pause remembering the state it saw left the collector off for good:
    B saw it disabled by A, and B's exit came last.)"""
    global _depth, _enabled_before, _freeze_pending, _froze
    with _lock:
        if _depth == 0:
            _enabled_before = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            _freeze_pending = _freeze_pending or freeze
            if _depth == 0:
                if _freeze_pending:
                    gc.freeze()
                    _froze = True
                    _freeze_pending = False
                if _enabled_before:
                    gc.enable()


def thaw() -> None:
    """Give the objects frozen by :func:`collector_paused` back to the collector (none
    frozen, or a pause still open: nothing happens). Objects frozen by someone else before
    are given back too: ``gc`` keeps one permanent generation per process."""
    global _froze
    with _lock:
        if _froze and _depth == 0:
            gc.unfreeze()
            _froze = False
