"""What the report shows of a case, shared by the writer and the HTML page: where an
image's thumbnail lives in the report folder, which flipped questions are listed, and
(machine cases) which samples' values fell most against the baseline.

It sits below both :mod:`pytest_fgbmk.report.writer` and :mod:`pytest_fgbmk.report.html`
so that neither imports the other's module for these (the HTML page is built by the writer).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_fgbmk.report.results import CaseResult

THUMBS = "thumbs"
#: Flipped (right → wrong) questions the report shows per regressed case.
FLIPPED_SHOWN = 5


def thumbnail_name(dataset: str, image: str) -> str:
    """The thumbnail's path inside the report folder for a dataset's image."""
    digest = hashlib.sha1(f"{dataset}\0{image}".encode()).hexdigest()[:20]
    return f"{THUMBS}/{digest}.jpg"


#: A machine case's detail listing the samples whose value (a query's AP) fell the most.
VALUE_DROPS = "value_drops"


def value_drops(
    ids: Sequence[str],
    before: Sequence[float],
    now: Sequence[float],
    keep: int,
    about: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """Per-sample values that fell against a baseline (a retrieval query's AP), largest fall
    first (ties by id), the ``keep`` first listed as ``{id, before, now, drop, …about[id]}``;
    with the counts of values that fell and rose. ``before``/``now``: aligned with ``ids``."""
    rows = [(b - n, q, b, n) for q, b, n in zip(ids, before, now, strict=True) if n < b]
    rows.sort(key=lambda r: (-r[0], r[1]))
    extra = about or {}
    return {
        "fell": len(rows),
        "rose": sum(1 for b, n in zip(before, now, strict=True) if n > b),
        "shown": [
            {"id": q, "before": b, "now": n, "drop": d, **dict(extra.get(q, {}))}
            for d, q, b, n in rows[:keep]
        ],
    }


def value_drops_shown(case: CaseResult) -> list[Mapping[str, Any]]:
    """The listed entries of a case's :data:`VALUE_DROPS` detail (empty when none)."""
    drops = case.details.get(VALUE_DROPS)
    if not isinstance(drops, Mapping):
        return []
    return [d for d in drops.get("shown") or () if isinstance(d, Mapping)]


def flipped_ids(case: CaseResult) -> list[str]:
    """The question ids of a case that flipped right → wrong against its stored baseline."""
    flipped = case.details.get("flipped")
    if not isinstance(flipped, Mapping):
        return []
    return [str(i) for i in flipped.get("ids") or ()]
