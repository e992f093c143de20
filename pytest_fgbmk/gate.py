"""The gate: one small interface that decides whether a case's measurement passes.

``check(case_id, measurement) -> Verdict``. The baselines module provides the real
regression gate; :class:`SanityGate` is the default until a baseline gate is plugged in:
it fails only a case that produced no scored answer, or whose every answer errored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from pytest_fgbmk.measurement import Measurement


@dataclass(frozen=True)
class Verdict:
    """The gate's decision and the message a user reads when it fails.

    ``properties`` are extra JUnit properties (baseline, delta, p) the gate adds.
    """

    ok: bool
    message: str = ""
    properties: tuple[tuple[str, str], ...] = field(default=())


class Gate(Protocol):
    """What the pytest layer asserts through."""

    def check(self, case_id: str, measurement: Measurement) -> Verdict: ...


class SanityGate:
    """Passes every case that produced answers; reports unparsed and error counts."""

    def check(self, case_id: str, measurement: Measurement) -> Verdict:
        m = measurement
        counts = (
            f"{m.metric} {m.value:.1f}% [{m.low:.1f}, {m.high:.1f}] on n={m.n}; "
            f"unparsed {m.unparsed_rate:.1f}%, errors {m.errors}"
        )
        if m.n == 0:
            return Verdict(False, f"{case_id}: no question was scored ({counts})")
        if m.errors == m.n:
            first = next((o.error for o in m.outcomes if o.error), "")
            return Verdict(
                False, f"{case_id}: the model failed on every question ({counts}); first: {first}"
            )
        return Verdict(True, f"{case_id}: {counts}")


def as_gate(obj: Any) -> Gate:
    """Check that ``obj`` has a ``check(case_id, measurement)`` method and return it."""
    if not callable(getattr(obj, "check", None)):
        raise TypeError(f"{obj!r} is not a gate: it needs check(case_id, measurement) -> Verdict")
    return obj
