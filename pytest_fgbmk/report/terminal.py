"""The terminal summary: one row per measured case, grouped by dataset and task, and the
engine's throughput. Pure formatting over property dicts (see :mod:`report.junit`)."""

from __future__ import annotations

import itertools
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


#: The terminal summary's width: the table and its notes fit in this many columns.
WIDTH = 100
#: A gate note that marks a significant improvement (see the gate's passing message).
IMPROVED_NOTE = "consider updating the baseline"


@dataclass(frozen=True)
class SummaryRow:
    """One measured case as the summary shows it.

    ``baseline``, ``delta`` (points) and ``mdd`` (the smallest drop the case can detect,
    points; ``inf`` when no drop is detected with 90 % power) are the gate's, shown as given; empty when the
    case was not compared (no baseline yet, or updating). ``note``: the gate's note.
    """

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
    baseline: str = ""
    delta: str = ""
    mdd: str = ""
    note: str = ""
    case: str = ""
    missing: bool = False
    #: why the case could not be compared with its baseline (fingerprint or rule change)
    mismatch: str = ""
    rebaseline: bool = False
    #: the test's name, ``test_attribute[cub-wing_color-tf]`` (its baseline file's name)
    test: str = ""
    #: percent of answers the judge decided (``--fgbmk-judge``); None when no judge ran
    judged_rate: float | None = None
    #: percentage of answers that declined to answer
    refusal_rate: float = 0.0
    #: a robustness case's exact worst-case top-1 (%) beside PGD's value; None elsewhere
    exact: float | None = None

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
            refusal_rate=float(props.get("refusal_rate", "0")),
            errors=int(props.get("errors", "0")),
            outcome=outcome,
            baseline=_points(props.get("baseline", "")),
            delta=_points(props.get("delta", ""), sign=True),
            mdd=_points(props.get("mdd", "")),
            note=props.get("gate_note", ""),
            case=props.get("case", ""),
            missing=props.get("baseline_missing") == "true",
            mismatch=props.get("rebaseline") or props.get("fingerprint_differs", ""),
            rebaseline="rebaseline" in props,
            test=_test_name(props),
            judged_rate=float(props["judged_rate"]) if "judged_rate" in props else None,
            exact=float(props["exact_top1"]) if "exact_top1" in props else None,
        )

    @property
    def improved(self) -> bool:
        """A significant improvement (the gate suggests updating the baseline)."""
        return self.note.endswith(IMPROVED_NOTE)

    def sort_key(self) -> tuple:
        level = LEVEL_ORDER.get(self.facet, len(LEVEL_ORDER)) if self.task == GRANULARITY else 0
        return (
            self.dataset,
            TASK_ORDER.get(self.task, 9),
            level,
            self.facet,
            QTYPE_ORDER.get(self.qtype, 9),
        )


def _test_name(props: Mapping[str, str]) -> str:
    name = props.get("baseline_file", "").replace("\\", "/").rsplit("/", 1)[-1]
    return name.removesuffix(".json") or props.get("case", "")


def _points(text: str, *, sign: bool = False) -> str:
    """A property's number to one decimal (``+`` kept for a delta); other text as given."""
    try:
        x = float(text)
    except ValueError:
        return text
    if x != x or x in (float("inf"), float("-inf")):
        return text.lower()
    return f"{x:+.1f}" if sign else f"{x:.1f}"


#: Text columns clipped (with "…") when the table is wider than the summary, widest first
#: (the task column never: its eight names are what a reader scans for),
#: never below these widths.
_ELASTIC = {"facet": 8, "dataset": 8, "metric": 6}
#: Numeric columns at least as wide as their usual figures ("-41.7"), even when empty.
_MIN = {"Δ": 5, "mdd": 4}


#: When the table is still too wide (every optional column: unparsed, judged, refused,
#: errors, beside a 18-letter task name and 6-digit n): shorter headers for these columns
#: (their cells lose the "%" the header now carries) ...
_SHORT = {
    "baseline": "base",
    "unparsed": "unp%",
    "judged": "jdg%",
    "refused": "ref%",
    "errors": "err",
}
#: ... then the task's name clipped too (its first ten letters tell the eight apart), and
#: last the other names narrower.
_NARROW = {"facet": 5, "dataset": 5, "metric": 4}


def _shortened(column: tuple[str, bool, list[str]]) -> tuple[str, bool, list[str]]:
    header, right, cells = column
    if header not in _SHORT:
        return column
    return _SHORT[header], right, [c.removesuffix("%") for c in cells]


def _fit(
    columns: Sequence[tuple[str, bool, list[str]]], width: int, elastic: Mapping[str, int]
) -> tuple[dict[str, int], list[int], int]:
    """Column widths and gaps for at most ``width`` columns: two spaces between columns,
    one between neighbouring numbers (right-aligned); when too wide, one space everywhere,
    then the ``elastic`` text columns clipped, widest first, never below their minimum.
    Returns (widths, gaps, how many columns still over ``width``, 0 or less when it fits)."""
    widths = {h: max(len(h), _MIN.get(h, 0), *map(len, cells)) for h, _, cells in columns}
    gaps = [1 if a[1] and b[1] else 2 for a, b in itertools.pairwise(columns)]
    over = sum(widths.values()) + sum(gaps) - width
    if over > 0:
        over -= sum(gaps) - len(gaps)
        gaps = [1] * len(gaps)
    while over > 0:
        name = max(
            (h for h in elastic if h in widths and widths[h] > elastic[h]),
            key=widths.get,
            default=None,
        )
        if name is None:
            break
        widths[name] -= 1
        over -= 1
    return widths, gaps, over


def format_table(rows: Sequence[SummaryRow], width: int = WIDTH) -> list[str]:
    """The per-case table, at most ``width`` columns: dataset, task, facet, type, metric,
    value, baseline, Δ (points), ``mdd`` (when the gate stated one), n, unparsed, judged
    (with ``--fgbmk-judge``), refused and errors (when any), result. Rows grouped by dataset
    (a blank line between datasets)."""
    if not rows:
        return []
    ordered = sorted(rows, key=SummaryRow.sort_key)
    columns: list[tuple[str, bool, list[str]]] = [
        ("dataset", False, [r.dataset for r in ordered]),
        ("task", False, [r.task for r in ordered]),
        ("facet", False, [r.facet for r in ordered]),
        # the question type of a human-oriented case; a machine case's metric says it all
        ("type", False, [r.qtype if r.qtype in QTYPE_ORDER else "" for r in ordered]),
        ("metric", False, [r.metric for r in ordered]),
        ("value", True, [f"{r.value:.1f}" for r in ordered]),
        ("baseline", True, [r.baseline or "-" for r in ordered]),
        ("Δ", True, [r.delta or "-" for r in ordered]),
    ]
    if any(r.mdd for r in ordered):
        columns.append(("mdd", True, [r.mdd or "-" for r in ordered]))
    columns.append(("n", True, [str(r.n) for r in ordered]))
    if any(r.unparsed_rate for r in ordered):
        columns.append(("unparsed", True, [f"{r.unparsed_rate:.1f}%" for r in ordered]))
    if any(r.judged_rate is not None for r in ordered):
        cells = ["-" if r.judged_rate is None else f"{r.judged_rate:.1f}%" for r in ordered]
        columns.append(("judged", True, cells))
    if any(r.refusal_rate for r in ordered):
        columns.append(("refused", True, [f"{r.refusal_rate:.1f}%" for r in ordered]))
    if any(r.errors for r in ordered):
        columns.append(("errors", True, [str(r.errors) for r in ordered]))
    columns.append(("result", False, [r.outcome for r in ordered]))
    widths, gaps, over = _fit(columns, width, _ELASTIC)
    if over > 0:  # every optional column at once: short headers, then clip harder
        columns = [_shortened(c) for c in columns]
        for elastic in ({**_ELASTIC, "task": 10}, {**_NARROW, "task": 10}):
            widths, gaps, over = _fit(columns, width, elastic)
            if over <= 0:
                break

    def fmt(cells: Sequence[str]) -> str:
        out = ""
        for k, ((h, right, _), cell) in enumerate(zip(columns, cells, strict=True)):
            w = widths[h]
            cell = cell if len(cell) <= w else cell[: w - 1] + "…"
            out += (" " * gaps[k - 1] if k else "") + (cell.rjust(w) if right else cell.ljust(w))
        return out.rstrip()

    lines = [fmt([h for h, _, _ in columns]), fmt(["-" * widths[h] for h, _, _ in columns])]
    previous = None
    for i, r in enumerate(ordered):
        if previous is not None and r.dataset != previous:
            lines.append("")
        lines.append(fmt([cells[i] for _, _, cells in columns]))
        previous = r.dataset
    return lines


def format_improvements(rows: Sequence[SummaryRow], command: str = "") -> list[str]:
    """The cases that improved significantly: baseline → now, Δ and p (the gate's note),
    and the command that accepts their new values as baselines (``command``: the update
    command scoped to them)."""
    better = sorted((r for r in rows if r.improved), key=SummaryRow.sort_key)
    if not better:
        return []
    lines = [
        f"fgbmk: {len(better)} case(s) improved significantly; consider updating their baselines:"
    ]
    labels = [_clip(r.test, 56) for r in better]
    name = max(map(len, labels))
    for label, r in zip(labels, better, strict=True):
        what = r.note.removesuffix(IMPROVED_NOTE).rstrip(": ")
        lines.append(f"  {label.ljust(name)}  {r.baseline:>5} → {r.value:5.1f}  {what}")
    if command:
        lines += ["accept them, after review, with:", f"  {command}"]
    return lines


def format_missing(rows: Sequence[SummaryRow], folder: str, command: str) -> list[str]:
    """The one instruction of a run whose cases have no baseline yet: how many, where, and
    the command that writes them (each case's failure says only that it has none)."""
    missing = sum(r.missing for r in rows)
    if not missing:
        return []
    of = "any case" if missing == len(rows) else f"{missing} of {len(rows)} cases"
    return [
        f"fgbmk: no baseline yet for {of} (in {folder}).",
        "If the figures above are what this checkpoint should keep, write them with:",
        f"  {command}",
    ]


def format_mismatched(rows: Sequence[SummaryRow], command: str) -> list[str]:
    """The one instruction of a run whose cases could not be compared with their baselines:
    the distinct reasons (with how many cases each), then what to do and the command."""
    off = [r for r in rows if r.mismatch]
    if not off:
        return []
    reasons: dict[str, int] = {}
    for r in off:
        reasons[r.mismatch] = reasons.get(r.mismatch, 0) + 1
    rebaseline = any(r.rebaseline for r in off)
    out = [f"fgbmk: {len(off)} case(s) cannot be compared with their baselines:"]
    for why, count in list(reasons.items())[:5]:
        out.append(_clip(f"  {count} × {why}", WIDTH))
    if len(reasons) > 5:
        out.append(f"  … and {len(reasons) - 5} other reason(s) (each case's failure says)")
    if rebaseline:
        out.append(
            "This version measures those cases differently: rewrite their baselines with the "
            "checkpoint they were measured on (see the README), by:"
        )
    else:
        out.append(
            "Rerun with the baselines' settings; or, if the change is intended, rewrite them "
            "after review with:"
        )
    out.append(f"  {command}")
    if any(why.startswith("limit:") or "; limit:" in why for why in reasons):
        out += [
            "  (that overwrites them; to keep them and also check at this --fgbmk-limit, add",
            "  --fgbmk-baseline-alias NAME to both commands)",
        ]
    return out


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_judged(rows: Sequence[SummaryRow]) -> list[str]:
    """One line on what ``--fgbmk-judge`` decided over the run's cases (none without it):
    answers it decided (unparsed ones, and short answers naming another name), those still
    unparsed, and how many answers in how many cases."""
    judged = [r for r in rows if r.judged_rate is not None]
    if not judged:
        return []
    decided = sum(round(r.judged_rate * r.n / 100) for r in judged if r.judged_rate)
    left = sum(round(r.unparsed_rate * r.n / 100) for r in judged)
    n = sum(r.n for r in judged)
    return [
        f"fgbmk judge: decided {decided} answers the rules could not "
        f"({left} stay unparsed; {n} answers in {len(judged)} cases)"
    ]


#: A case whose share of unparsed answers (percent) reaches this is named by
#: :func:`format_unreadable`: most of what the model said was not read as an answer.
UNREADABLE_RATE = 50.0


def format_unreadable(rows: Sequence[SummaryRow]) -> list[str]:
    """Cases where at least :data:`UNREADABLE_RATE` percent of the answers were unparsed:
    the model mostly did not answer in the form asked (a letter where options are names,
    prose without a yes or no), so strict scoring counts those answers wrong and the case's
    value says more about the answer format than about the images. A notice, not a
    verdict: the gate still decides each case on its paired outcomes. Empty when no case
    reaches the rate; at most two lines of 100 columns."""
    bad = sorted(
        (r for r in rows if r.n and r.unparsed_rate >= UNREADABLE_RATE), key=SummaryRow.sort_key
    )
    if not bad:
        return []
    worst = max(r.unparsed_rate for r in bad)
    names = ", ".join(r.case or r.test for r in bad)
    head = (
        f"fgbmk answers: {len(bad)} of {len(rows)} cases had >= {UNREADABLE_RATE:.0f}% of "
        f"answers unparsed (up to {worst:.0f}%): "
    )
    return [
        _clip(head + names, 100),
        "  answers not in the form asked: check the model's prompt format, --fgbmk-templates, "
        "--fgbmk-judge",
    ]


def format_exact(rows: Sequence[SummaryRow]) -> list[str]:
    """The robustness cases' PGD top-1 beside the exact worst case of the same ball (the
    certificate: no perturbation in the ball does worse), one line each; none without them."""
    cases = sorted((r for r in rows if r.exact is not None), key=SummaryRow.sort_key)
    if not cases:
        return []
    out = ["fgbmk robustness: perturbed top-1 by PGD vs the exact worst case of the ball:"]
    for r in cases:
        out.append(f"  {_clip(r.test or r.case, 60)}  PGD {r.value:.1f}  exact {r.exact:.1f}")
    return out


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
        f"({stats.questions_per_s:.1f} questions/s);"
    )
    lines.append(
        f"  {100 * stats.outside_share:.1f}% of the time outside the model; "
        f"errors {stats.errors}, empty answers {stats.empty}; "
        f"batch size {stats.batch_size}"
        + (f" (halved {stats.oom_halvings}x after out-of-memory)" if stats.oom_halvings else "")
    )
    if stats.splits:
        lines.append(
            f"  split {stats.splits} batch(es) after failed calls, down to "
            f"{stats.split_min_size} request(s) per call; first error: {stats.split_error}"
        )
    return lines
