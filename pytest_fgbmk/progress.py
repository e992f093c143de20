"""One progress display for every long step (answering, feature extraction, probe fitting,
the ``probe:`` model's encoding, rendering the synthetic data).

Two pieces:

* :class:`ProgressOutput` — *where* lines go: ``write(line)`` prints a whole line;
  ``rewrite(line)`` redraws the current line in place, and is None when the output is not a
  terminal. The pytest layer builds one from its terminal writer; scripts get
  :meth:`ProgressOutput.stderr` (redraws only when stderr is a tty).
* :class:`Progress` — *what* and *when*: ``Progress(output, label, total, unit)`` with
  :meth:`~Progress.update` and :meth:`~Progress.close` (also a context manager). A None
  output makes it silent, so every long step takes ``progress: ProgressOutput | None``.

Cadence. On a terminal the line is redrawn at most every :data:`REDRAW_S` seconds and at
the end. In a plain log (``pytest ... > run.log 2>&1``) only whole lines are written, never
a carriage return: one at the first update past every 10 % of the total and one at the
first update after :data:`EVERY_S` seconds without a line, each with done/total, the rate
and the ETA, and a final line from :meth:`~Progress.close`. Lines are written from the
caller's updates (no timer thread: the pytest terminal writer is not thread-safe), so a
step updates at least once per batch.

Why tqdm formats but does not draw: tqdm's own loop is built for a stream it owns — its
throttle (``mininterval``/``miniters``) knows nothing of "every 10 %", and on a file that is
not a terminal it still writes ``\\r``-separated updates, which is what a CI log must not
get. Under pytest the terminal belongs to pytest's terminal writer (output capture is
suspended around each write), so the drawing goes through ``write``/``rewrite``, and tqdm
contributes its time formatting (``tqdm.format_interval``), the part that fits.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from tqdm import tqdm

#: Plain logs: a whole line at least this often (seconds) while updates arrive.
EVERY_S = 10.0
#: Plain logs: a whole line at every this fraction of the total.
EVERY_FRACTION = 0.1
#: Terminals: the line is redrawn at most this often (seconds).
REDRAW_S = 0.2


@dataclass(frozen=True)
class ProgressOutput:
    """Where progress lines go.

    ``write(line)``: print ``line`` (no trailing newline in it) as a whole line.
    ``rewrite(line)``: redraw the current line in place; None when the output is not a
    terminal (then only whole lines are written).
    """

    write: Callable[[str], None]
    rewrite: Callable[[str], None] | None = None

    @classmethod
    def stream(cls, stream: TextIO) -> ProgressOutput:
        """Lines to a text stream; redrawn with ``\\r`` only when the stream is a tty."""

        def write(line: str) -> None:
            stream.write(line + "\n")
            stream.flush()

        def rewrite(line: str) -> None:
            stream.write("\r" + line + "\x1b[K")
            stream.flush()

        isatty = getattr(stream, "isatty", None)
        return cls(write, rewrite if isatty is not None and isatty() else None)

    @classmethod
    def stderr(cls) -> ProgressOutput:
        """The default for scripts: ``sys.stderr`` (redrawn only when it is a tty)."""
        return cls.stream(sys.stderr)


def as_output(progress: ProgressOutput | TextIO | None) -> ProgressOutput | None:
    """``progress`` as a :class:`ProgressOutput`: None stays None (silent); a text stream
    (``progress=sys.stderr`` from a script) is wrapped with :meth:`ProgressOutput.stream`."""
    if progress is None or isinstance(progress, ProgressOutput):
        return progress
    return ProgressOutput.stream(progress)


def clock_text(seconds: float) -> str:
    """``m:ss`` or ``h:mm:ss`` (tqdm's interval format); ``?`` when unknown."""
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return "?"
    return tqdm.format_interval(max(0.0, seconds))


class Progress:
    """Progress of one long step: ``total`` items of ``unit``, reported to ``output``.

    ``label`` starts every line (``"features cub/train:"``); ``rate_unit`` names the unit
    in the rate (``img`` for ``img/s``; default ``unit``). ``clock`` returns seconds (a
    fake clock in tests). ``total`` 0 is allowed (the final line says 0/0). A None
    ``output`` makes every method a no-op apart from counting.

    Lines look like ``features cub/train: 512/5994 images (9%), 41.3 img/s, 0:12 elapsed,
    ETA 2:13`` and, from :meth:`close`, ``... 5994/5994 images (100%), 40.8 img/s, 2:27
    elapsed, done``.
    """

    def __init__(
        self,
        output: ProgressOutput | None,
        label: str,
        total: int,
        unit: str = "items",
        *,
        rate_unit: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        every_s: float = EVERY_S,
        every_fraction: float = EVERY_FRACTION,
    ) -> None:
        if total < 0:
            raise ValueError(f"progress total must be >= 0, got {total}")
        self.output = output
        self.label = label
        self.total = total
        self.unit = unit
        self.rate_unit = rate_unit or unit
        self.done = 0
        self.closed = False
        self._clock = clock
        self._every_s = every_s
        self._every_fraction = every_fraction
        self._start = clock()
        self._last_line = self._start
        self._last_draw = float("-inf")
        self._step = self._milestone(0)

    # -- public ------------------------------------------------------------------------

    def update(self, n: int = 1) -> None:
        """Count ``n`` more items done; write or redraw a line when it is due."""
        self.done += n
        out = self.output
        if out is None or self.closed:
            return
        now = self._clock()
        if out.rewrite is not None:
            if now - self._last_draw >= REDRAW_S:
                out.rewrite(self.line(now))
                self._last_draw = now
            return
        if self.total and self.done >= self.total:
            return  # the final line comes from close()
        step = self._milestone(self.done)
        if step > self._step or now - self._last_line >= self._every_s:
            self._step = max(step, self._step)
            out.write(self.line(now))
            self._last_line = now

    def close(self) -> None:
        """Write the final line (once); on a terminal it replaces the redrawn line."""
        if self.closed:
            return
        self.closed = True
        out = self.output
        if out is None:
            return
        line = self.line(self._clock(), final=True)
        if out.rewrite is not None:
            out.rewrite(line)
            out.write("")  # ends the redrawn line; the final text stays
        else:
            out.write(line)

    @property
    def elapsed(self) -> float:
        """Seconds since the step started."""
        return max(self._clock() - self._start, 0.0)

    @property
    def rate(self) -> float:
        """Items per second so far (0 before any time has passed)."""
        elapsed = self.elapsed
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self, now: float | None = None, *, final: bool = False) -> str:
        """The progress line at time ``now`` (default: the clock's now)."""
        now = self._clock() if now is None else now
        elapsed = max(now - self._start, 0.0)
        rate = self.done / elapsed if elapsed > 0 else 0.0
        pct = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        if final:
            tail = "done"
        else:
            left = max(self.total - self.done, 0)
            tail = f"ETA {clock_text(left / rate) if rate > 0 else '?'}"
        return (
            f"{self.label} {self.done}/{self.total} {self.unit}{pct}, "
            f"{rate:.1f} {self.rate_unit}/s, {clock_text(elapsed)} elapsed, {tail}"
        )

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------

    def _milestone(self, done: int) -> int:
        if self.total <= 0 or self._every_fraction <= 0:
            return 0
        return int(done / self.total / self._every_fraction + 1e-9)
