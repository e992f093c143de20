"""JUnit properties of a case: the measurement (and the gate's verdict) as name/value pairs.

pytest's ``record_property`` fixture warns under the default ``junit_family=xunit2``; the
plugin instead appends these pairs to the test item's ``user_properties``, which pytest's
JUnit writer emits as ``<properties>`` inside the ``<testcase>`` for every family, and
which travel with the test report from xdist workers to the controller.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from pytest_fgbmk.measurement import Measurement

if TYPE_CHECKING:
    from pytest_fgbmk.engine import EngineStats

#: Every property this plugin writes starts with this prefix except the plain metric ones.
PREFIX = "fgbmk_"
DISTRIBUTION_KEYS = (
    "mean_category_accuracy",
    "worst_decile_accuracy",
    "spread",
    "per_image_accuracy",
)


def measurement_properties(m: Measurement) -> list[tuple[str, str]]:
    """The properties of one measured case, metric first. With ``--fgbmk-judge``:
    ``judged`` (answers the judge decided) and ``judged_rate`` (percent of ``n``)."""
    props = [
        ("metric", m.metric),
        ("value", f"{m.value:.2f}"),
        ("n", str(m.n)),
        ("interval_low", f"{m.low:.2f}"),
        ("interval_high", f"{m.high:.2f}"),
        ("unparsed_rate", f"{m.unparsed_rate:.2f}"),
        ("refusal_rate", f"{m.refusal_rate:.2f}"),
        ("errors", str(m.errors)),
        ("case", m.case_id),
        ("dataset", m.dataset),
        ("task", m.task),
        ("facet", m.facet),
        ("qtype", m.qtype),
    ]
    if ";judge=" in m.asked.scoring:  # --fgbmk-judge on: how many answers it decided
        props.append(("judged", str(m.judged)))
        props.append(("judged_rate", f"{100.0 * m.judged / m.n if m.n else 0.0:.2f}"))
    for key in DISTRIBUTION_KEYS:
        if key in m.details:
            props.append((key, f"{float(m.details[key]):.2f}"))
    if "ranked" in m.details:
        props.append(("ranked_categories", json.dumps(m.details["ranked"], ensure_ascii=False)))
    return props


def properties_dict(pairs: Iterable[tuple[str, object]]) -> dict[str, str]:
    """User properties (as a report carries them) → a dict of this plugin's keys."""
    return {str(k): str(v) for k, v in pairs}


def is_measured(props: dict[str, str]) -> bool:
    """True when the properties hold a measurement written by this plugin."""
    return {"metric", "value", "n", "case"} <= props.keys()


def verdict_properties(pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The gate's extra properties (baseline, delta, p …), kept as given."""
    return [(str(k), str(v)) for k, v in pairs]


def machine_properties(m: Measurement) -> list[tuple[str, str]]:
    """A machine-oriented case's extra properties (``details["properties"]``), in order."""
    out = []
    for key, value in (m.details or {}).get("properties", {}).items():
        text = f"{value:.2f}" if isinstance(value, float) else str(value)
        out.append((key, text))
    return out


def engine_properties(stats: EngineStats) -> list[tuple[str, str]]:
    """A run's engine figures as ``<testsuite>`` properties: ``fgbmk_engine_splits``
    (batches split in halves after a failed call), ``fgbmk_engine_split_min_size`` (the
    smallest part a split reached; 0 without splits), ``fgbmk_engine_split_error`` (the
    first error that caused a split, only when there was one), ``fgbmk_engine_oom_halvings``,
    ``fgbmk_engine_errors`` and ``fgbmk_engine_batch_size``."""
    props = [
        (f"{PREFIX}engine_splits", str(stats.splits)),
        (f"{PREFIX}engine_split_min_size", str(stats.split_min_size)),
    ]
    if stats.split_error:
        props.append((f"{PREFIX}engine_split_error", stats.split_error))
    props += [
        (f"{PREFIX}engine_oom_halvings", str(stats.oom_halvings)),
        (f"{PREFIX}engine_errors", str(stats.errors)),
        (f"{PREFIX}engine_batch_size", str(stats.batch_size)),
    ]
    return props
