"""The report's figures, drawn with matplotlib's object API (no pyplot state, Agg only).

Each function returns a :class:`matplotlib.figure.Figure`; :func:`save` writes it as PNG and
SVG beside the HTML (for papers) and :func:`png_data_uri` inlines the PNG into the page.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg", force=False)

from matplotlib.figure import Figure  # noqa: E402

if TYPE_CHECKING:
    from pytest_fgbmk.report.friedman import FriedmanResult

#: Colours by question type and by run (colour-blind-safe Okabe–Ito).
QTYPE_COLOURS = {"tf": "#0072B2", "mc": "#D55E00", "sa": "#009E73"}
QTYPE_NAMES = {"tf": "true/false", "mc": "multiple-choice", "sa": "short answer"}
RUN_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")


def save(fig: Figure, stem: Path, dpi: int = 110) -> bytes:
    """Write ``stem.png`` and ``stem.svg``; returns the PNG's bytes (for inlining)."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    data = png_bytes(fig, dpi)
    stem.with_suffix(".png").write_bytes(data)
    fig.savefig(stem.with_suffix(".svg"))
    return data


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def png_data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


# -- critical-distance diagram ---------------------------------------------------------------


def cd_diagram(result: FriedmanResult) -> Figure:
    """Demšar's critical-distance diagram: the rank axis (best left), each model hanging
    from its mean rank, the CD bar, and thick bars joining models not told apart."""
    k = len(result.models)
    order = result.order
    ranks = result.mean_ranks
    half = (k + 1) // 2
    label_rows = max(half, k - half)
    top = 0.0
    clique_y0 = top - 0.16
    first_label_y = clique_y0 - 0.12 * len(result.cliques) - 0.2
    bottom = first_label_y - 0.35 * (label_rows - 1) - 0.25
    ceiling = 1.2
    lo, hi = 1.0, float(k)
    span = hi - lo if hi > lo else 1.0
    longest = max(len(f"{m} ({r:.2f})") for m, r in zip(result.models, ranks, strict=True))
    axis_in = 5.0
    per_in = span / axis_in  # rank units per inch
    label_in = 0.07 * longest + 0.45
    margin = label_in * per_in
    fig = Figure(figsize=(axis_in + 2 * label_in, 0.62 * (ceiling - bottom)))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()
    ax.set_xlim(lo - margin, hi + margin)
    ax.set_ylim(bottom, ceiling)
    # the axis with its ticks
    ax.plot([lo, hi], [top, top], color="black", lw=1.0)
    for r in range(1, k + 1):
        ax.plot([r, r], [top, top + 0.08], color="black", lw=1.0)
        ax.text(r, top + 0.12, str(r), ha="center", va="bottom", fontsize=9)
    for r in range(1, k):
        ax.plot([r + 0.5, r + 0.5], [top, top + 0.04], color="black", lw=0.7)
    # the critical distance
    cd_y = top + 0.55
    ax.plot([lo, lo + result.cd], [cd_y, cd_y], color="black", lw=1.6)
    for x in (lo, lo + result.cd):
        ax.plot([x, x], [cd_y - 0.05, cd_y + 0.05], color="black", lw=1.0)
    ax.text(
        lo + result.cd / 2,
        cd_y + 0.07,
        f"CD = {result.cd:.2f}",
        ha="center",
        va="bottom",
        fontsize=9,
    )
    # cliques
    for i, clique in enumerate(result.cliques):
        rs = [ranks[j] for j in clique]
        y = clique_y0 - 0.12 * i
        ax.plot(
            [min(rs) - 0.03, max(rs) + 0.03], [y, y], color="black", lw=3.0, solid_capstyle="butt"
        )
    # the models
    for place, j in enumerate(order):
        r = float(ranks[j])
        if place < half:
            y = first_label_y - 0.35 * place
            x_end, ha = lo - 0.25 * per_in, "right"
        else:
            y = first_label_y - 0.35 * (k - 1 - place)
            x_end, ha = hi + 0.25 * per_in, "left"
        ax.plot([r, r], [top, y], color="#333333", lw=0.9)
        ax.plot([r, x_end], [y, y], color="#333333", lw=0.9)
        ax.text(
            x_end + (-0.06 if ha == "right" else 0.06) * per_in,
            y,
            f"{result.models[j]} ({r:.2f})",
            ha=ha,
            va="center",
            fontsize=9,
        )
    title = result.name or "comparison"
    fig.text(
        0.01,
        0.99,
        f"{title}: Friedman p = {result.p_value:.3g}, N = {len(result.datasets)}",
        ha="left",
        va="top",
        fontsize=8,
        color="#555555",
    )
    return fig


# -- the paper's views ------------------------------------------------------------------------


def level_accuracy(
    dataset: str, levels: Sequence[str], series: Mapping[str, Mapping[str, float]]
) -> Figure:
    """Accuracy vs taxonomy level, one line per question type (the paper's Figure 2).

    ``series`` maps a question type to level → accuracy (percent).
    """
    fig = Figure(figsize=(5.0, 3.2))
    ax = fig.add_subplot(1, 1, 1)
    x = list(range(len(levels)))
    for qtype, per_level in series.items():
        xs = [i for i, lv in enumerate(levels) if lv in per_level]
        ys = [per_level[levels[i]] for i in xs]
        ax.plot(
            xs,
            ys,
            marker="o",
            label=QTYPE_NAMES.get(qtype, qtype),
            color=QTYPE_COLOURS.get(qtype),
        )
    ax.set_xticks(x, list(levels), rotation=20 if len(levels) > 4 else 0)
    ax.set_ylim(0, 100)
    ax.set_ylabel("accuracy (%)")
    ax.set_xlabel("taxonomy level (coarse → fine)")
    ax.set_title(f"{dataset}: accuracy by level")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def ranked_categories(
    dataset: str,
    ranked: Sequence[tuple[str, float]],
    baseline: Sequence[tuple[str, float]] | None = None,
) -> Figure:
    """Per-category true/false accuracy sorted best to worst (the paper's Figure 3), with
    the baseline's ranking beside it when given."""
    panels = 2 if baseline else 1
    fig = Figure(figsize=(5.0 * panels, 3.2))
    for i, (title, data) in enumerate(
        [("this run", ranked), ("baseline", baseline or [])][:panels]
    ):
        ax = fig.add_subplot(1, panels, i + 1)
        values = sorted((float(v) for _, v in data), reverse=True)
        if values:
            # one filled outline of the ranked bars (width 1, no gaps), not a patch per
            # category: iNat2021's 10,000 species drew in minutes as bars
            edges = [k - 0.5 for k in range(len(values) + 1)]
            ax.stairs(values, edges, fill=True, color=RUN_COLOURS[i], baseline=0.0)
            mean = sum(values) / len(values)
            ax.axhline(mean, color="black", lw=0.8, ls="--", label=f"mean {mean:.1f}%")
            # the values fall left to right: the upper right corner is clear (no search)
            ax.legend(fontsize=8, loc="upper right")
        ax.set_ylim(0, 100)
        ax.set_xlabel("categories, ranked")
        ax.set_ylabel("true/false accuracy (%)")
        ax.set_title(f"{dataset}: {title}")
    fig.tight_layout()
    return fig


def grouped_bars(
    title: str,
    groups: Sequence[str],
    series: Mapping[str, Mapping[str, float]],
    ylabel: str,
    ylim: tuple[float, float] | None = (0, 100),
) -> Figure:
    """Bars per group (dataset), one bar per series: retrieval/probe per dataset
    (Figures 4–5), single vs multiple meta-category (Figure 8), clean vs perturbed."""
    fig = Figure(figsize=(max(4.5, 1.1 * len(groups) * max(1, len(series)) + 1.5), 3.2))
    ax = fig.add_subplot(1, 1, 1)
    n = max(1, len(series))
    width = 0.8 / n
    for i, (name, per_group) in enumerate(series.items()):
        xs = [g + (i - (n - 1) / 2) * width for g in range(len(groups))]
        ys = [per_group.get(gname, float("nan")) for gname in groups]
        bars = ax.bar(xs, ys, width=width, label=name, color=RUN_COLOURS[i % len(RUN_COLOURS)])
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
    ax.set_xticks(range(len(groups)), list(groups))
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if len(series) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
