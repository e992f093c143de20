"""The run's power in the terminal summary: cases too small to fail and the worst ``mdd``.

Built from each case's JUnit properties (``case``, ``n``, ``mdd``: see
:mod:`pytest_fgbmk.power` and :meth:`pytest_fgbmk.baselines.gate.BaselineGate.verdict`), so
it reads the same under ``-n N`` as in one process. No pytest here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

#: Cases named on the "too small to fail" line before the rest are counted.
SHOWN = 8
#: Lines are wrapped to this many columns.
WIDTH = 100


def _mdd(props: Mapping[str, str]) -> float | None:
    try:
        return float(props["mdd"])
    except (KeyError, ValueError):
        return None


def power_lines(cases: Iterable[Mapping[str, str]]) -> list[str]:
    """Two lines at most: the cases whose ``mdd`` is ``inf`` (no drop fails them with 90 %
    power at their n, even at the run-level threshold they would at least get if they
    dropped; see :func:`pytest_fgbmk.stats.thresholds_if_dropped`), and the run's largest
    finite ``mdd`` with its case and n.

    ``cases``: each gated case's JUnit properties; cases without an ``mdd`` are left out.
    Empty when no case has one.
    """
    rows = [(p.get("case", "?"), p.get("n", "?"), v) for p in cases if (v := _mdd(p)) is not None]
    if not rows:
        return []
    lines = []
    never = sorted(c for c, _, v in rows if math.isinf(v))
    finite = [r for r in rows if not math.isinf(r[2])]
    if never:
        lines.append(
            f"fgbmk power: {len(never)} of {len(rows)} cases cannot be relied on to detect any "
            "drop at their n (mdd inf):"
        )
        more = f" and {len(never) - SHOWN} more" if len(never) > SHOWN else ""
        lines += _wrap(", ".join(never[:SHOWN]) + more, indent="  ")
    if finite:
        case, n, worst = max(finite, key=lambda r: (r[2], r[0]))
        lines.append(f"fgbmk power: worst minimum detectable drop {worst:.1f} pts: {case} (n={n})")
    return lines


def _wrap(text: str, *, indent: str) -> list[str]:
    """``text`` broken after ``", "`` into indented lines of at most :data:`WIDTH` columns."""
    out, current = [], indent
    for part in text.split(", "):
        piece = part if current == indent else ", " + part
        if len(current) + len(piece) + 1 > WIDTH and current != indent:
            out.append(current + ",")
            current = indent + part
        else:
            current += piece
    out.append(current)
    return out


def is_blind(cases: Iterable[Mapping[str, str]]) -> bool:
    """True when the run has gated cases and none of them can be relied on to detect a
    drop (every ``mdd`` is ``inf``): a green verdict from such a run says nothing."""
    values = [v for p in cases if (v := _mdd(p)) is not None]
    return bool(values) and all(math.isinf(v) for v in values)


def blind_lines(plan_command: str) -> list[str]:
    """What the summary says when :func:`is_blind` (the run then fails)."""
    return [
        "fgbmk: FAILED: no case of this run can be relied on to detect a drop (every mdd is inf):",
        "  passing would say nothing about the checkpoint. Ask more questions per case (raise",
        "  --fgbmk-limit); the limit that detects a 5-point drop is printed by:",
        f"  {plan_command}",
    ]
