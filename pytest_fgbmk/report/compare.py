"""Comparing models: a models × cases table, Friedman over datasets, Nemenyi post-hoc.

The statistics are scipy's and scikit-posthocs' (the paper's Figures 6–7 method, after
Demšar 2006): :func:`scipy.stats.friedmanchisquare` over datasets (blocks) × models
(groups), :func:`scikit_posthocs.posthoc_nemenyi_friedman` for the pairwise p-values, and
the critical distance ``CD = q_alpha · sqrt(k(k+1) / (6N))`` with ``q_alpha`` the
studentized-range quantile over ``sqrt(2)``. Ranks put the best model first (rank 1 =
highest score; ties share the average rank).

A *comparison* is one family of figures compared over datasets: the human-oriented task
means per dataset (e.g. ``granularity tf accuracy``: the mean over the dataset's levels)
and each machine-oriented metric (e.g. ``retrieval mAP``). Only datasets every model was
measured on enter a comparison; a comparison with fewer than 3 models or 2 datasets is
listed with the reason it was not tested.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.report.friedman import FriedmanResult
from pytest_fgbmk.report.results import CaseResult, RunResults, read_results, resolve_results

#: Significance level of the Nemenyi test and the critical distance (the paper's 0.05).
DEFAULT_ALPHA = 0.05
MIN_MODELS = 3
MIN_DATASETS = 2


@dataclass(frozen=True)
class ModelRun:
    """One model's figures: its label and case id → case result."""

    label: str
    source: str
    cases: Mapping[str, CaseResult]


@dataclass(frozen=True)
class Skipped:
    """A comparison that was not tested, and why."""

    name: str
    reason: str


@dataclass(frozen=True)
class Comparison:
    """Everything ``fgbmk compare`` writes: the table and the tests."""

    models: tuple[str, ...]
    case_ids: tuple[str, ...]
    table: dict[str, dict[str, float]]
    tests: tuple[FriedmanResult, ...]
    skipped: tuple[Skipped, ...] = field(default=())
    alpha: float = DEFAULT_ALPHA


# -- statistics --------------------------------------------------------------------------


def q_alpha(k: int, alpha: float = DEFAULT_ALPHA) -> float:
    """Demšar's ``q_alpha`` for k models: the studentized range quantile over sqrt(2)."""
    from scipy.stats import studentized_range

    return float(studentized_range.ppf(1.0 - alpha, k, np.inf) / math.sqrt(2.0))


def critical_distance(k: int, n: int, alpha: float = DEFAULT_ALPHA) -> float:
    """The Nemenyi critical distance ``q_alpha · sqrt(k(k+1) / (6N))`` in mean-rank units."""
    if k < 2 or n < 1:
        raise ValueError(
            f"critical distance needs k >= 2 models and N >= 1 datasets (k={k}, N={n})"
        )
    return q_alpha(k, alpha) * math.sqrt(k * (k + 1) / (6.0 * n))


def mean_ranks(scores: np.ndarray) -> np.ndarray:
    """Each column's average rank over rows; rank 1 is the highest score, ties averaged."""
    from scipy.stats import rankdata

    return rankdata(-np.asarray(scores, dtype=float), axis=1, method="average").mean(axis=0)


def cd_cliques(ranks: Sequence[float], cd: float) -> tuple[tuple[int, ...], ...]:
    """Maximal runs of models, in rank order, whose rank spread is below ``cd``.

    These are the groups the Nemenyi test does not tell apart (a pair differs exactly when
    its rank difference reaches ``cd``); a run contained in another is dropped.
    """
    order = sorted(range(len(ranks)), key=lambda j: (ranks[j], j))
    runs: list[tuple[int, ...]] = []
    for start in range(len(order)):
        end = start
        while end + 1 < len(order) and ranks[order[end + 1]] - ranks[order[start]] < cd:
            end += 1
        if end > start:
            run = tuple(order[start : end + 1])
            if not runs or not set(run) <= set(runs[-1]):
                runs.append(run)
    return tuple(runs)


def friedman_nemenyi(
    scores: np.ndarray,
    models: Sequence[str],
    datasets: Sequence[str],
    *,
    name: str = "",
    alpha: float = DEFAULT_ALPHA,
) -> FriedmanResult:
    """Friedman's test over ``scores`` (datasets × models) and the Nemenyi post-hoc.

    Higher scores are better. When every dataset ties all models the Friedman statistic
    is undefined; it is reported as 0 with p = 1.
    """
    import scikit_posthocs as sp
    from scipy.stats import friedmanchisquare

    x = np.asarray(scores, dtype=float)
    n, k = x.shape
    if k < MIN_MODELS:
        raise ConfigError(
            f"{name or 'comparison'}: Friedman's test needs at least 3 models, got {k}"
        )
    if n < MIN_DATASETS:
        raise ConfigError(
            f"{name or 'comparison'}: Friedman's test needs at least 2 datasets, got {n}"
        )
    if not np.isfinite(x).all():
        raise ConfigError(f"{name or 'comparison'}: a score is not a finite number")
    if (x == x[:, :1]).all():
        statistic, p_value = 0.0, 1.0
    else:
        res = friedmanchisquare(*(x[:, j] for j in range(k)))
        statistic, p_value = float(res.statistic), float(res.pvalue)
    nemenyi = sp.posthoc_nemenyi_friedman(x).to_numpy(dtype=float)
    ranks = mean_ranks(x)
    cd = critical_distance(k, n, alpha)
    return FriedmanResult(
        name=name,
        models=tuple(models),
        datasets=tuple(datasets),
        scores=x,
        mean_ranks=ranks,
        statistic=statistic,
        p_value=p_value,
        nemenyi=nemenyi,
        cd=cd,
        alpha=alpha,
        cliques=cd_cliques(list(ranks), cd),
    )


# -- from runs to comparisons -------------------------------------------------------------


def comparison_name(case: CaseResult) -> str:
    """The family a case belongs to: ``"granularity tf accuracy"``, ``"retrieval mAP"``."""
    parts = [case.task]
    if case.qtype:
        parts.append(case.qtype)
    parts.append(case.metric)
    return " ".join(p for p in parts if p)


def dataset_scores(run: ModelRun) -> dict[str, dict[str, float]]:
    """comparison → dataset → the mean of the run's cases of that family on that dataset."""
    sums: dict[str, dict[str, list[float]]] = {}
    for case in run.cases.values():
        if not math.isfinite(case.value):
            continue
        sums.setdefault(comparison_name(case), {}).setdefault(case.dataset, []).append(case.value)
    return {name: {ds: sum(v) / len(v) for ds, v in per.items()} for name, per in sums.items()}


def compare_runs(runs: Sequence[ModelRun], *, alpha: float = DEFAULT_ALPHA) -> Comparison:
    """The models × cases table and one Friedman/Nemenyi test per comparison."""
    if len(runs) < 2:
        raise ConfigError(f"compare needs at least 2 runs, got {len(runs)}")
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"--alpha={alpha}: give a level between 0 and 1, e.g. 0.05")
    models = tuple(r.label for r in runs)
    case_ids = sorted({cid for r in runs for cid in r.cases})
    table = {cid: {r.label: r.cases[cid].value for r in runs if cid in r.cases} for cid in case_ids}
    per_run = [dataset_scores(r) for r in runs]
    tests: list[FriedmanResult] = []
    skipped: list[Skipped] = []
    for name in sorted({n for s in per_run for n in s}):
        have = [j for j, s in enumerate(per_run) if name in s]
        if len(have) < MIN_MODELS:
            skipped.append(
                Skipped(name, f"measured for {len(have)} model(s); Friedman's test needs 3")
            )
            continue
        common = sorted(set.intersection(*(set(per_run[j][name]) for j in have)))
        if len(common) < MIN_DATASETS:
            skipped.append(
                Skipped(
                    name,
                    f"{len(common)} dataset(s) measured for every model; "
                    "Friedman's test needs at least 2",
                )
            )
            continue
        scores = np.array([[per_run[j][name][ds] for j in have] for ds in common])
        tests.append(
            friedman_nemenyi(scores, [models[j] for j in have], common, name=name, alpha=alpha)
        )
    return Comparison(models, tuple(case_ids), table, tuple(tests), tuple(skipped), alpha)


def load_runs(paths: Sequence[Path]) -> list[ModelRun]:
    """Read each results.json (or a folder holding one); labels are made unique."""
    loaded: list[tuple[RunResults, Path]] = []
    for p in paths:
        path = resolve_results(Path(p))
        loaded.append((read_results(path), path))
    labels = [r.run.label for r, _ in loaded]
    runs = []
    for i, (r, path) in enumerate(loaded):
        label = labels[i]
        if labels.count(label) > 1:
            label = f"{label} ({path.parent.name or path.name})"
            if [f"{lb} ({q.parent.name})" for lb, (_, q) in zip(labels, loaded, strict=True)].count(
                label
            ) > 1:
                label = f"{labels[i]} #{i + 1}"
        runs.append(ModelRun(label, str(path), {c.case_id: c for c in r.cases}))
    return runs


# -- output ------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _p(p: float) -> str:
    return f"{p:.2e}" if p < 1e-3 else f"{p:.3f}"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def slug(name: str) -> str:
    """A file-name-safe form of a comparison name."""
    out = "".join(c if c.isalnum() else "_" for c in name.lower())
    return "_".join(p for p in out.split("_") if p) or "comparison"


def markdown(comp: Comparison, figures: Mapping[str, str] | None = None) -> str:
    """The comparison as markdown: the tests (ranks, CD, p-values), then the full table."""
    figures = figures or {}
    lines = ["# FG-BMK model comparison", ""]
    lines.append(f"Models: {', '.join(comp.models)}. Nemenyi alpha = {comp.alpha}.")
    lines.append("")
    for t in comp.tests:
        lines += [f"## {t.name}", ""]
        lines.append(
            f"Friedman chi² = {t.statistic:.3f}, p = {_p(t.p_value)} over N = "
            f"{len(t.datasets)} datasets × k = {len(t.models)} models; "
            f"critical distance CD = {t.cd:.3f} (alpha {t.alpha})."
        )
        if t.name in figures:
            lines += ["", f"![critical-distance diagram: {t.name}]({figures[t.name]})"]
        lines += ["", "| rank | model | mean rank | " + " | ".join(t.datasets) + " |"]
        lines.append("|" + "---|" * (3 + len(t.datasets)))
        for place, j in enumerate(t.order, start=1):
            cells = [str(place), _md_escape(t.models[j]), f"{t.mean_ranks[j]:.2f}"]
            cells += [f"{v:.1f}" for v in t.scores[:, j]]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", "Nemenyi p-values:", ""]
        order = t.order
        lines.append("| | " + " | ".join(_md_escape(t.models[j]) for j in order) + " |")
        lines.append("|" + "---|" * (1 + len(order)))
        for i in order:
            row = [_md_escape(t.models[i])]
            row += ["" if i == j else _p(t.nemenyi[i, j]) for j in order]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    for s in comp.skipped:
        lines += [f"## {s.name}", "", f"Not tested: {s.reason}.", ""]
    lines += ["## All cases", ""]
    lines.append("| case | " + " | ".join(_md_escape(m) for m in comp.models) + " |")
    lines.append("|" + "---|" * (1 + len(comp.models)))
    for cid in comp.case_ids:
        row = comp.table[cid]
        lines.append(
            "| " + " | ".join([_md_escape(cid)] + [_fmt(row.get(m)) for m in comp.models]) + " |"
        )
    return "\n".join(lines) + "\n"


def write_csv(comp: Comparison, path: Path) -> None:
    """The models × cases table (one row per case, blank where a model lacks it)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["case", *comp.models])
        for cid in comp.case_ids:
            row = comp.table[cid]
            w.writerow([cid] + [repr(row[m]) if m in row else "" for m in comp.models])


def write_ranks_csv(comp: Comparison, path: Path) -> None:
    """One row per (comparison, model): mean rank, Friedman statistic and p, CD."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            ["comparison", "model", "mean_rank", "datasets", "friedman_chi2", "friedman_p", "cd"]
        )
        for t in comp.tests:
            for j in t.order:
                w.writerow(
                    [
                        t.name,
                        t.models[j],
                        f"{t.mean_ranks[j]:.6g}",
                        len(t.datasets),
                        f"{t.statistic:.6g}",
                        f"{t.p_value:.6g}",
                        f"{t.cd:.6g}",
                    ]
                )


def write_comparison(comp: Comparison, out: Path) -> list[Path]:
    """Write comparison.md, scores.csv, ranks.csv and one cd_<name>.png per test."""
    from pytest_fgbmk.report.plots import cd_diagram

    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--out {out}: cannot create the folder ({e.strerror})") from None
    written: list[Path] = []
    figures: dict[str, str] = {}
    for t in comp.tests:
        png = out / f"cd_{slug(t.name)}.png"
        cd_diagram(t).savefig(png, dpi=150)
        figures[t.name] = png.name
        written.append(png)
    md = out / "comparison.md"
    md.write_text(markdown(comp, figures), encoding="utf-8")
    scores = out / "scores.csv"
    write_csv(comp, scores)
    ranks = out / "ranks.csv"
    write_ranks_csv(comp, ranks)
    return [md, scores, ranks, *written]
