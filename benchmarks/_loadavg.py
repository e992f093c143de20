"""The load average printed before and after a benchmark (the machine may be shared).

Every script in ``benchmarks/`` wraps its run in :func:`reported`, so a figure taken on a
busy machine says so: ``os.getloadavg()`` (1, 5 and 15 minute averages of runnable
processes) is printed before the run and after it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


def _line(when: str) -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {when}: {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min; {os.cpu_count()} CPUs)"


@contextmanager
def reported() -> Iterator[None]:
    """Print the load average before the block and after it (also when it raises)."""
    print(_line("before"), flush=True)
    try:
        yield
    finally:
        print(_line("after"), flush=True)
