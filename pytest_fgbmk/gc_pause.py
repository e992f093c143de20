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
from collections.abc import Iterator
from contextlib import contextmanager

_depth = 0
_froze = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Automatic garbage collection off inside; on leaving the outermost pause the objects
    alive are frozen (see the module docstring) and the collector is enabled again if it
    was enabled on entering."""
    global _depth, _froze
    was_enabled = gc.isenabled()
    gc.disable()
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0:
            gc.freeze()
            _froze = True
            if was_enabled:
                gc.enable()


def thaw() -> None:
    """Give the objects frozen by :func:`collector_paused` back to the collector (none
    frozen: nothing happens). Objects frozen by someone else before are given back too:
    ``gc`` keeps one permanent generation per process."""
    global _froze
    if _froze and _depth == 0:
        gc.unfreeze()
        _froze = False
