"""The run's verdicts as a Markdown table, for a CI job summary (GitHub Actions'
``$GITHUB_STEP_SUMMARY``): regressions first, then improvements, then the rest.

Built from each case's JUnit properties (:mod:`pytest_fgbmk.report.junit`), so it is the
same under ``-n N`` as in one process. No pytest here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

#: Shown per case: (header, property).
COLUMNS = (
    ("metric", "metric"),
    ("baseline", "baseline"),
    ("now", "value"),
    ("Δ pts", "delta"),
    ("p", "p"),
    ("threshold", "p_threshold"),
    ("mdd pts", "mdd"),
    ("n", "n"),
)
ICONS = {"failed": "❌ regressed", "improved": "⬆️ improved", "passed": "✅", "skipped": "⏭️"}


def _status(props: Mapping[str, str], outcome: str) -> str:
    if outcome == "passed" and "consider updating the baseline" in props.get("gate_note", ""):
        return "improved"
    return outcome


def markdown_verdicts(cases: Sequence[tuple[Mapping[str, str], str]], *, title: str) -> str:
    """A Markdown section: a counts line and one table row per case.

    ``cases``: (JUnit properties, pytest outcome) per measured case. A case that failed for
    want of a baseline, or with a baseline of another configuration, says so in place of
    the figures it could not compare.
    """
    rows = [(_status(p, o), p) for p, o in cases]
    order = {"failed": 0, "improved": 1, "passed": 2, "skipped": 3}
    rows.sort(key=lambda r: (order.get(r[0], 4), r[1].get("case", "")))
    counts: dict[str, int] = {}
    for status, _ in rows:
        counts[status] = counts.get(status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items(), key=lambda i: order[i[0]]))
    lines = [f"## {title}", "", summary or "no case measured", ""]
    if rows:
        lines.append("| case | verdict | " + " | ".join(h for h, _ in COLUMNS) + " |")
        lines.append("|---" * (len(COLUMNS) + 2) + "|")
        for status, p in rows:
            verdict = ICONS.get(status, status)
            if "baseline" not in p and "fingerprint_differs" in p:
                verdict += " (baseline of another configuration)"
            elif "baseline" not in p and status == "failed":
                verdict += " (no baseline)"
            cells = [p.get(key, "") for _, key in COLUMNS]
            if "exact_top1" in p:  # robustness: PGD's figure beside the exact worst case
                cells[COLUMNS.index(("now", "value"))] += f" (exact {float(p['exact_top1']):.4g})"
            lines.append(f"| `{p.get('case', '')}` | {verdict} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
