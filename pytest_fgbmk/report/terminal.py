"""The terminal summary: one row per measured case, grouped by dataset and task, and the
engine's throughput. Pure formatting over property dicts (see :mod:`report.junit`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pytest_fgbmk.engine import EngineStats
from pytest_fgbmk.task_names import (
    ALIGNMENT_EFFECT,
    ATTRIBUTE,
    FEATURE_ROBUSTNESS,
    GRANULARITY,
    KNOWLEDGE_BIAS,
    LINEAR_PROBE,
    META_CATEGORIES,
    RETRIEVAL,
)

#: Human-oriented tasks first, then the machine-oriented ones (as the suites list them).
TASK_ORDER = {
    name: i
    for i, name in enumerate(
        (
            ATTRIBUTE,
            GRANULARITY,
            KNOWLEDGE_BIAS,
            RETRIEVAL,
            LINEAR_PROBE,
            ALIGNMENT_EFFECT,
            META_CATEGORIES,
            FEATURE_ROBUSTNESS,
        )
    )
}
QTYPE_ORDER = {"tf": 0, "mc": 1, "sa": 2}
#: Taxonomy levels of the supported datasets, coarse → fine (granularity rows follow it).
LEVEL_ORDER = {
    name: i
    for i, name in enumerate(
        (
            "superclass",
            "type",
            "kingdom",
            "phylum",
            "class",
            "order",
            "family",
            "genus",
            "manufacturer",
            "make",
            "group",
            "sup",
            "category",
            "model",
            "dish",
            "year",
            "variant",
            "product",
            "sub",
            "species",
        )
    )
}


@dataclass(frozen=True)
class SummaryRow:
    """One measured case as the summary shows it."""

    dataset: str
    task: str
    facet: str
    qtype: str
    metric: str
    value: float
    low: float
    high: float
    n: int
    unparsed_rate: float
    errors: int
    outcome: str

    @classmethod
    def from_properties(cls, props: Mapping[str, str], outcome: str) -> SummaryRow:
        return cls(
            dataset=props.get("dataset", ""),
            task=props.get("task", ""),
            facet=props.get("facet", ""),
            qtype=props.get("qtype", ""),
            metric=props["metric"],
            value=float(props["value"]),
            low=float(props.get("interval_low", "nan")),
            high=float(props.get("interval_high", "nan")),
            n=int(props["n"]),
            unparsed_rate=float(props.get("unparsed_rate", "0")),
            errors=int(props.get("errors", "0")),
            outcome=outcome,
        )

    def sort_key(self) -> tuple:
        level = LEVEL_ORDER.get(self.facet, len(LEVEL_ORDER)) if self.task == GRANULARITY else 0
        return (
            self.dataset,
            TASK_ORDER.get(self.task, 9),
            level,
            self.facet,
            QTYPE_ORDER.get(self.qtype, 9),
        )


def format_table(rows: Sequence[SummaryRow]) -> list[str]:
    """The per-case table: dataset, task, facet, type, metric, value, interval, n …"""
    if not rows:
        return []
    header = (
        "dataset",
        "task",
        "facet",
        "type",
        "metric",
        "value",
        "95% interval",
        "n",
        "unparsed",
        "errors",
        "result",
    )
    body = [
        (
            r.dataset,
            r.task,
            r.facet,
            r.qtype,
            r.metric,
            f"{r.value:.1f}",
            f"[{r.low:.1f}, {r.high:.1f}]",
            str(r.n),
            f"{r.unparsed_rate:.1f}%",
            str(r.errors),
            r.outcome,
        )
        for r in sorted(rows, key=SummaryRow.sort_key)
    ]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
    numeric = {5, 7, 8, 9}

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    lines = [fmt(header), fmt(["-" * w for w in widths])]
    previous = None
    for row in body:
        if previous is not None and row[0] != previous:
            lines.append("")
        lines.append(fmt(row))
        previous = row[0]
    return lines


def format_throughput(stats: EngineStats, fingerprints: Sequence[str] = ()) -> list[str]:
    """How many questions the model answered, how fast, and the share of time outside it."""
    lines = []
    if fingerprints:
        lines.append(f"model fingerprint: {', '.join(sorted(set(fingerprints)))}")
    if stats.questions == 0:
        lines.append("engine: no question needed answering")
        return lines
    if stats.computed == 0:
        lines.append(
            f"engine: {stats.questions} questions, {stats.cached} from the cache, none asked"
        )
        return lines
    lines.append(
        f"engine: {stats.questions} questions, {stats.cached} from the cache, "
        f"{stats.computed} answered by the model in {stats.wall_s:.1f} s "
        f"({stats.questions_per_s:.1f} questions/s); "
        f"{100 * stats.outside_share:.1f}% of the time outside the model; "
        f"errors {stats.errors}, empty answers {stats.empty}; "
        f"batch size {stats.batch_size}"
        + (f" (halved {stats.oom_halvings}x after out-of-memory)" if stats.oom_halvings else "")
    )
    return lines
