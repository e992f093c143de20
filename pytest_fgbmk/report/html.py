"""report.html: one self-contained page (figures and thumbnails inlined, no script, no
network) built from results.json and samples.jsonl, so ``fgbmk report`` can rebuild it.

Sections appear when the run has their cases: against the baseline (regressed cases first,
each with its flipped examples), the paper's views — accuracy by taxonomy level (Figure 2),
ranked per-category accuracy (Figure 3), the attribute table grouped colour / pattern /
shape / length / size (Table 2), retrieval and probe per dataset (Figures 4–5), single vs
multiple meta-category (Figure 8), clean vs perturbed (Table 5), origin vs aligned
(Table 4) — then every case, and the run's reproducibility record.

Every string that comes from a model, a dataset or a file is escaped; the page also
carries a Content-Security-Policy that forbids scripts and any network load.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pytest_fgbmk.machine.release_protocol import RELEASE_LABEL
from pytest_fgbmk.report import plots
from pytest_fgbmk.report.flips import flipped
from pytest_fgbmk.report.results import (
    CaseResult,
    RunResults,
    SampleRecord,
    read_results,
    read_samples,
    resolve_results,
    samples_path,
)
from pytest_fgbmk.report.shown import (
    FLIPPED_SHOWN,
    VALUE_DROPS,
    flipped_ids,
    thumbnail_name,
    value_drops_shown,
)
from pytest_fgbmk.task_names import (
    ALIGNMENT_EFFECT,
    ATTRIBUTE,
    FEATURE_ROBUSTNESS,
    GRANULARITY,
    HUMAN_TASKS,
    KNOWLEDGE_BIAS,
    LINEAR_PROBE,
    META_CATEGORIES,
    RETRIEVAL,
)

REPORT_NAME = "report.html"
FIGURES = "figures"
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
#: Attribute groups of the paper's Table 2, matched by a word in the attribute's name.
ATTRIBUTE_GROUPS = (
    ("colour", ("color", "colour")),
    ("pattern", ("pattern",)),
    ("shape", ("shape",)),
    ("length", ("length",)),
    ("size", ("size",)),
)

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px;background:#fff}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr.mean td{font-weight:600;background:#f2f2f2}
.failed{color:#b00020;font-weight:600}.passed{color:#1b7f3b}.skipped{color:#777}
.down{color:#b00020}.up{color:#1b7f3b}
figure{display:inline-block;margin:6px 12px 12px 0;vertical-align:top;background:#fff;border:1px solid #e5e5e5;padding:6px}
figure img{max-width:100%;height:auto;display:block}figcaption{font-size:12px;color:#555}
.ex{display:flex;gap:10px;border:1px solid #eee;background:#fff;padding:6px;margin:4px 0}
.ex img{width:96px;height:96px;object-fit:cover;flex:none}.ex .noimg{width:96px;height:96px;background:#eee;flex:none}
pre{white-space:pre-wrap;word-break:break-word;margin:2px 0;font-size:12.5px}
.kv td:first-child{color:#555;white-space:nowrap}.muted{color:#777}
"""


def esc(value: Any) -> str:
    """HTML-escape any value (quotes included): model output never becomes markup."""
    return html.escape("" if value is None else str(value), quote=True)


def _num(v: float | None, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{v:.{digits}f}"


@dataclass(frozen=True)
class Figure:
    """A figure of the page: its id, caption and PNG bytes."""

    fid: str
    caption: str
    png: bytes


@dataclass
class Page:
    """The report being assembled: HTML chunks and the figures they reference."""

    out: Path
    chunks: list[str]
    figures: list[Figure]

    def add(self, text: str) -> None:
        self.chunks.append(text)

    def figure(self, fid: str, caption: str, fig: Any) -> None:
        """Save the figure as PNG and SVG under ``figures/`` and inline the PNG."""
        png = plots.save(fig, self.out / FIGURES / fid)
        self.figures.append(Figure(fid, caption, png))
        self.add(
            f'<figure id="fig-{esc(fid)}" class="fgbmk-figure"><img alt="{esc(caption)}" '
            f'src="{plots.png_data_uri(png)}"><figcaption>{esc(caption)}</figcaption></figure>'
        )


# -- reading ---------------------------------------------------------------------------------


def load_samples(
    results_path: Path, results: RunResults, cases: Collection[str] | None = None
) -> dict[str, list[SampleRecord]]:
    """case id → its sample records (empty when the run wrote none).

    ``cases``: only these cases' records (the page shows samples of regressed cases only);
    a later line that does not name one of them is skipped before it is parsed, so a run
    of a million questions with nothing regressed parses one line. The first line is always
    parsed, so a file that is not a samples.jsonl is named at once. None: every case.
    """
    path = samples_path(results_path, results)
    out: dict[str, list[SampleRecord]] = {}
    if path is None or not path.is_file():
        return out
    if cases is None:
        for r in read_samples(path):
            out.setdefault(r.case_id, []).append(r)
        return out
    wanted = set(cases)
    if not wanted:
        next(read_samples(path), None)  # the first line only: is it a samples.jsonl?
        return out
    # a case id as its JSON string, in either form a writer may use
    tokens = {json.dumps(c) for c in wanted} | {json.dumps(c, ensure_ascii=False) for c in wanted}
    first = [True]

    def keep(line: str) -> bool:
        if first[0]:
            first[0] = False
            return True
        return any(t in line for t in tokens)

    for r in read_samples(path, keep=keep):
        if r.case_id in wanted:
            out.setdefault(r.case_id, []).append(r)
    return out


def with_baseline(current: RunResults, baseline: RunResults) -> RunResults:
    """Fill each case's baseline and delta from an earlier run where the gate left none."""
    cases = []
    for c in current.cases:
        b = baseline.case(c.case_id)
        if b is not None and c.baseline is None:
            c = replace(c, baseline=b.value, delta=c.value - b.value)
        cases.append(c)
    return replace(current, cases=tuple(cases))


# -- sections --------------------------------------------------------------------------------


def _thumb(folder: Path, r: SampleRecord) -> str:
    path = folder / thumbnail_name(r.dataset, r.image)
    if path.is_file():
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f'<img alt="{esc(r.image)}" src="data:image/jpeg;base64,{data}">'
    return '<div class="noimg" title="image not stored"></div>'


def _image_thumb(folder: Path, dataset: str, image: str) -> str:
    path = folder / thumbnail_name(dataset, image)
    if image and path.is_file():
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f'<img alt="{esc(image)}" src="data:image/jpeg;base64,{data}">'
    return '<div class="noimg" title="image not stored"></div>'


def fallen_values(folder: Path, c: CaseResult) -> str:
    """A machine case's samples whose value (a retrieval query's AP) fell most against the
    stored baseline: thumbnail, id, category, value before → now; '' when none stored."""
    drops = c.details.get(VALUE_DROPS)
    if not isinstance(drops, Mapping):
        return ""
    shown = value_drops_shown(c)[:FLIPPED_SHOWN]
    out = [
        f'<p class="flips">{esc(drops.get("fell", len(shown)))} quer(ies) fell, '
        f"{esc(drops.get('rose', 0))} rose against the stored baseline "
        f"<code>{esc(drops.get('baseline_file', ''))}</code>"
        + (f"; the {len(shown)} that fell most:" if shown else ".")
        + "</p>"
    ]
    for d in shown:
        out.append(
            f'<div class="ex">{_image_thumb(folder, str(d.get("dataset", c.dataset)), str(d.get("image", "")))}'
            f'<div><span class="muted">{esc(d.get("id"))} · {esc(d.get("image", ""))}</span>'
            f"<br>category {esc(d.get('category', ''))}: its {esc(c.metric)} "
            f"<b>{_num(100 * float(d['before']))} → {_num(100 * float(d['now']))}</b> "
            f"(−{_num(100 * float(d['drop']))} points)</div></div>"
        )
    return "".join(out)


def example(folder: Path, r: SampleRecord) -> str:
    """One question as the page shows it: thumbnail, prompt, options, answer, truth."""
    opts = ""
    if r.options:
        opts = "<br>options: " + ", ".join(esc(o) for o in r.options)
    verdict = "right" if r.correct else "wrong"
    parsed = "nothing" if r.parsed is None else esc(r.parsed)
    return (
        f'<div class="ex">{_thumb(folder, r)}<div><span class="muted">{esc(r.id)} · '
        f"{esc(r.image)}</span><pre>{esc(r.prompt)}</pre>{opts}"
        f"<br>answer: <pre>{esc(r.response)}</pre>read as {parsed} ({esc(r.how)}), "
        f"truth {esc(r.truth)}: <b>{verdict}</b>"
        + (f"<br>error: {esc(r.error)}" if r.error else "")
        + "</div></div>"
    )


def regressed_cases(results: RunResults) -> list[CaseResult]:
    """Cases with a baseline that failed or fell below it, failed first, then by Δ (the
    cases whose samples the page shows)."""
    with_base = [c for c in results.cases if c.baseline is not None]
    return sorted(
        [c for c in with_base if c.outcome == "failed" or (c.delta is not None and c.delta < 0)],
        key=lambda c: (c.outcome != "failed", c.delta if c.delta is not None else 0.0),
    )


def section_regressions(
    page: Page,
    results: RunResults,
    samples: Mapping[str, list[SampleRecord]],
    base_samples: Mapping[str, list[SampleRecord]] | None,
    folder: Path,
) -> None:
    with_base = [c for c in results.cases if c.baseline is not None]
    failed = [c for c in results.cases if c.outcome == "failed"]
    if not with_base and not failed:
        return
    regressed = regressed_cases(results)
    unpaired = [c for c in failed if c.baseline is None]
    page.add('<section id="baseline"><h2>Against the baseline</h2>')
    improved = sum(1 for c in with_base if c.delta is not None and c.delta > 0)
    below = sum(1 for c in with_base if c.delta is not None and c.delta < 0)
    page.add(
        f"<p>{len(failed)} case(s) failed the gate. Of {len(with_base)} case(s) with a "
        f"baseline, {below} are below it and {improved} above.</p>"
    )
    if unpaired:
        page.add(
            f"<details><summary>{len(unpaired)} case(s) failed with no baseline to compare "
            "with (none stored, or stored for another configuration)</summary>"
            "<table><tr><th>case</th><th>value</th><th>what the gate said</th></tr>"
        )
        for c in unpaired:
            note = "; ".join(f"{k}: {v}" for k, v in c.gate.items()) or "no gate property"
            page.add(
                f'<tr><td>{esc(c.case_id)}</td><td class="num">{_num(c.value)}</td>'
                f"<td>{esc(note)}</td></tr>"
            )
        page.add("</table></details>")
    for c in regressed:
        status = f'<span class="{esc(c.outcome)}">{esc(c.outcome or "measured")}</span>'
        page.add(
            f'<h3 id="reg-{esc(c.case_id)}">{esc(c.case_id)} {status}: now {_num(c.value)}'
            + (f", baseline {_num(c.baseline)}" if c.baseline is not None else "")
            + (f', <span class="down">Δ {_num(c.delta)}</span>' if c.delta is not None else "")
            + (f", p = {c.p_value:.3g}" if c.p_value is not None else "")
            + f" (n = {c.n})</h3>"
        )
        now = samples.get(c.case_id, [])
        stored = c.details.get("flipped")
        fallen = fallen_values(folder, c)
        if fallen:
            page.add(fallen)
            continue
        if base_samples is not None and c.case_id in base_samples:
            worse, better = flipped(now, base_samples[c.case_id])
            page.add(
                f"<p>{len(worse)} question(s) flipped right → wrong, {better} wrong → right.</p>"
            )
            shown = worse[:FLIPPED_SHOWN]
        elif isinstance(stored, Mapping):
            by_id = {r.id: r for r in now}
            shown = [by_id[q] for q in flipped_ids(c) if q in by_id][:FLIPPED_SHOWN]
            page.add(
                f'<p class="flips">{esc(stored.get("right_to_wrong", len(shown)))} '
                f"question(s) flipped right → wrong, {esc(stored.get('wrong_to_right', 0))} "
                f"wrong → right against the stored baseline "
                f"<code>{esc(stored.get('baseline_file', ''))}</code>"
                + (f"; the first {len(shown)}:" if shown else ".")
                + "</p>"
            )
        else:
            shown = [r for r in now if not r.correct][:FLIPPED_SHOWN]
            if shown:
                page.add(
                    "<p>Wrong answers of this run (the baseline's per-question outcomes "
                    "were not given; pass <code>--baseline BASE.json</code> to see the flips):</p>"
                )
        for r in shown:
            page.add(example(folder, r))
    page.add("</section>")


def _levels(results: RunResults, dataset: str, cases: Sequence[CaseResult]) -> list[str]:
    recorded = list((results.run.datasets.get(dataset) or {}).get("levels") or [])
    seen = list(dict.fromkeys(c.facet for c in cases))
    return [lv for lv in recorded if lv in seen] + [lv for lv in seen if lv not in recorded]


def section_granularity(page: Page, results: RunResults) -> None:
    cases = [c for c in results.cases if c.task == GRANULARITY]
    if not cases:
        return
    page.add('<section id="granularity"><h2>Accuracy by taxonomy level (Figure 2)</h2>')
    for ds in sorted({c.dataset for c in cases}):
        mine = [c for c in cases if c.dataset == ds]
        levels = _levels(results, ds, mine)
        series: dict[str, dict[str, float]] = {}
        for c in mine:
            series.setdefault(c.qtype, {})[c.facet] = c.value
        series = {q: series[q] for q in ("tf", "mc", "sa") if q in series}
        page.figure(
            f"levels_{_slug(ds)}",
            f"{ds}: accuracy by level",
            plots.level_accuracy(ds, levels, series),
        )
        rows = "".join(
            f"<tr><td>{esc(lv)}</td>"
            + "".join(f'<td class="num">{_num(series[q].get(lv))}</td>' for q in series)
            + "</tr>"
            for lv in levels
        )
        head = "".join(f'<th class="num">{esc(plots.QTYPE_NAMES.get(q, q))}</th>' for q in series)
        page.add(f"<table><tr><th>{esc(ds)} level</th>{head}</tr>{rows}</table>")
    page.add("</section>")


def section_knowledge_bias(page: Page, results: RunResults, baseline: RunResults | None) -> None:
    cases = [c for c in results.cases if c.task == KNOWLEDGE_BIAS and c.details.get("ranked")]
    if not cases:
        return
    page.add('<section id="knowledge-bias"><h2>Per-category accuracy, ranked (Figure 3)</h2>')
    for c in cases:
        ranked = [(str(n), float(v)) for n, v in c.details["ranked"]]
        base = baseline.case(c.case_id) if baseline is not None else None
        base_ranked = (
            [(str(n), float(v)) for n, v in base.details.get("ranked", [])] if base else None
        )
        page.figure(
            f"categories_{_slug(c.dataset)}",
            f"{c.dataset}: true/false accuracy per category, ranked"
            + (" (baseline beside)" if base_ranked else ""),
            plots.ranked_categories(c.dataset, ranked, base_ranked or None),
        )
        worst = ranked[:5]
        per_image = c.details.get("per_image_accuracy")
        if isinstance(per_image, int | float):
            images = c.details.get("images")
            of = f" of {int(images)} images" if isinstance(images, int | float) else ""
            page.add(
                f"<p>Per question {_num(c.value)}%; per image (the release's figure: both of "
                f"an image's questions right) {_num(float(per_image))}%{of}.</p>"
            )
        page.add(
            "<p>Worst categories: "
            + ", ".join(f"{esc(n)} ({v:.1f}%)" for n, v in worst)
            + f". Mean {_num(c.details.get('mean_category_accuracy'))}%, worst decile "
            f"{_num(c.details.get('worst_decile_accuracy'))}%, spread "
            f"{_num(c.details.get('spread'))}.</p>"
        )
    page.add("</section>")


def attribute_group(name: str) -> str:
    """The Table 2 group of an attribute (``wing_color`` → colour), else ``other``."""
    low = name.lower()
    for group, words in ATTRIBUTE_GROUPS:
        if any(w in low for w in words):
            return group
    return "other"


def section_attributes(page: Page, results: RunResults) -> None:
    cases = [c for c in results.cases if c.task == ATTRIBUTE]
    if not cases:
        return
    page.add('<section id="attributes"><h2>Attribute recognition by group (Table 2)</h2>')
    for ds in sorted({c.dataset for c in cases}):
        table: dict[str, dict[str, float]] = {}
        for c in cases:
            if c.dataset == ds:
                table.setdefault(c.facet, {})[c.qtype] = c.value
        qtypes = [q for q in ("tf", "mc") if any(q in v for v in table.values())]
        head = "".join(f'<th class="num">{esc(plots.QTYPE_NAMES[q])}</th>' for q in qtypes)
        page.add(f"<h3>{esc(ds)}</h3><table><tr><th>group</th><th>attribute</th>{head}</tr>")
        order = [g for g, _ in ATTRIBUTE_GROUPS] + ["other"]
        for group in order:
            facets = sorted(f for f in table if attribute_group(f) == group)
            if not facets:
                continue
            for f in facets:
                cells = "".join(f'<td class="num">{_num(table[f].get(q))}</td>' for q in qtypes)
                page.add(f"<tr><td>{esc(group)}</td><td>{esc(f)}</td>{cells}</tr>")
            means = []
            for q in qtypes:
                vals = [table[f][q] for f in facets if q in table[f]]
                means.append(_num(sum(vals) / len(vals)) if vals else "")
            cells = "".join(f'<td class="num">{m}</td>' for m in means)
            page.add(f'<tr class="mean"><td>{esc(group)}</td><td>group mean</td>{cells}</tr>')
        page.add("</table>")
    page.add("</section>")


#: Machine-oriented sections: (anchor, title, predicate on the task name).
MACHINE_SECTIONS: tuple[tuple[str, str, Callable[[str], bool]], ...] = (
    (
        "retrieval-probe",
        "Retrieval mAP and linear-probe top-1 per dataset (Figures 4–5)",
        lambda t: RETRIEVAL in t or "probe" in t or "classif" in t,
    ),
    ("meta", "Single vs multiple meta-category (Figure 8)", lambda t: "meta" in t),
    ("robustness", "Clean vs perturbed (Table 5)", lambda t: "robust" in t),
    ("alignment", "Origin vs aligned features (Table 4)", lambda t: "align" in t),
)
HUMAN = HUMAN_TASKS


@dataclass(frozen=True)
class Column:
    """A column of a machine section's table: its heading, its value of a case, and whether
    the section's figure draws it as a bar series."""

    name: str
    value: Callable[[CaseResult], float | None]
    bar: bool = True


def _detail(*keys: str, fallback_value: bool = False) -> Callable[[CaseResult], float | None]:
    """A case's numeric detail (a machine property; the first of ``keys`` it has: a
    multi-label case names its figures ``…_sample_mAP`` where others say ``…_top1``), or its
    value when none is there and ``fallback_value`` (a results.json written before details
    were kept)."""

    def get(c: CaseResult) -> float | None:
        for key in keys:
            v = c.details.get(key)
            if isinstance(v, int | float) and not isinstance(v, bool):
                return float(v)
        return c.value if fallback_value else None

    return get


def _value(c: CaseResult) -> float | None:
    return c.value


def _task(*names: str) -> Callable[[CaseResult], bool]:
    return lambda c: c.task in names


#: The columns of each machine section (by anchor); cases of other tasks fall back to
#: their value per task.
MACHINE_COLUMNS: Mapping[str, tuple[tuple[Callable[[CaseResult], bool], Column], ...]] = {
    "retrieval-probe": (
        (_task(RETRIEVAL), Column("retrieval mAP", _value)),
        (_task(RETRIEVAL), Column("recall@1", _detail("recall@1"), bar=False)),
        (_task(RETRIEVAL), Column("recall@10", _detail("recall@10"), bar=False)),
        (_task(LINEAR_PROBE), Column("probe top-1 (multi-label: sample mAP)", _value)),
        (_task(LINEAR_PROBE), Column("label mAP", _detail("label_mAP"), bar=False)),
        (_task(LINEAR_PROBE), Column("mean per-class", _detail("mean_per_class"), bar=False)),
        # --fgbmk-protocol release: the release's own figures beside ours, never gated
        (_task(RETRIEVAL), Column(f"mAP, {RELEASE_LABEL}", _detail("release_mAP"), bar=False)),
        (
            _task(RETRIEVAL),
            Column(f"recall@1, {RELEASE_LABEL}", _detail("release_recall@1"), bar=False),
        ),
        (
            _task(RETRIEVAL),
            Column(f"recall@10, {RELEASE_LABEL}", _detail("release_recall@10"), bar=False),
        ),
        (
            _task(LINEAR_PROBE),
            Column(f"probe top-1, {RELEASE_LABEL}", _detail("release_top1"), bar=False),
        ),
    ),
    "meta": (
        (_task(META_CATEGORIES), Column("single", _detail("single_top1"))),
        (
            _task(META_CATEGORIES),
            Column("multiple", _detail("multiple_top1", fallback_value=True)),
        ),
        (_task(META_CATEGORIES), Column("drop", _detail("drop"), bar=False)),
    ),
    "robustness": (
        (_task(FEATURE_ROBUSTNESS), Column("clean", _detail("clean_top1"))),
        (
            _task(FEATURE_ROBUSTNESS),
            Column("perturbed (PGD)", _detail("perturbed_top1", fallback_value=True)),
        ),
        (_task(FEATURE_ROBUSTNESS), Column("exact worst case", _detail("exact_top1"))),
        (_task(FEATURE_ROBUSTNESS), Column("drop", _detail("drop"), bar=False)),
    ),
    "alignment": (
        (_task(ALIGNMENT_EFFECT), Column("origin", _detail("origin_top1", "origin_sample_mAP"))),
        (
            _task(ALIGNMENT_EFFECT),
            Column("aligned", _detail("aligned_top1", "aligned_sample_mAP", fallback_value=True)),
        ),
        (_task(ALIGNMENT_EFFECT), Column("Δ aligned − origin", _detail("delta"), bar=False)),
    ),
}


def _row_label(c: CaseResult) -> str:
    """A machine case's row: its dataset, with the level of a robustness control case."""
    stem = f"{c.task}-{c.dataset}"
    extra = c.case_id[len(stem) + 1 :] if c.case_id.startswith(stem + "-") else ""
    return f"{c.dataset} ({extra})" if extra else c.dataset


def section_machine(page: Page, results: RunResults) -> None:
    machine = [c for c in results.cases if c.task not in HUMAN]
    used: set[str] = set()
    for anchor, title, wanted in MACHINE_SECTIONS:
        cases = [c for c in machine if wanted(c.task.lower()) and c.case_id not in used]
        if not cases:
            continue
        used.update(c.case_id for c in cases)
        _machine_block(page, anchor, title, cases)
    rest = [c for c in machine if c.case_id not in used]
    if rest:
        _machine_block(page, "machine-other", "Other machine-oriented cases", rest)


def _machine_block(page: Page, anchor: str, title: str, cases: Sequence[CaseResult]) -> None:
    """One machine section: a bar figure per row (dataset) and the table of its figures."""
    known = MACHINE_COLUMNS.get(anchor, ())
    table: dict[str, dict[str, float]] = {}
    columns: list[Column] = []
    for c in cases:
        row = table.setdefault(_row_label(c), {})
        mine = [col for applies, col in known if applies(c)]
        if not mine:  # a task this section has no columns for: its value, named by task
            mine = [Column(f"{c.task} {c.metric}", _value)]
        for col in mine:
            if col.name not in {k.name for k in columns}:
                columns.append(col)
            v = col.value(c)
            if v is not None:
                row[col.name] = v
    columns = [col for col in columns if any(col.name in r for r in table.values())]
    rows = sorted(table)
    series = {
        col.name: {r: table[r][col.name] for r in rows if col.name in table[r]}
        for col in columns
        if col.bar
    }
    page.add(f'<section id="{anchor}"><h2>{esc(title)}</h2>')
    top = max((v for s in series.values() for v in s.values()), default=100.0)
    ylim = (0.0, 100.0) if top <= 100.0 else None
    page.figure(anchor, title, plots.grouped_bars(title, rows, series, "percent", ylim=ylim))
    head = "".join(f'<th class="num">{esc(col.name)}</th>' for col in columns)
    page.add(f'<table class="machine"><tr><th>dataset</th>{head}</tr>')
    for r in rows:
        cells = "".join(f'<td class="num">{_num(table[r].get(col.name))}</td>' for col in columns)
        page.add(f"<tr><td>{esc(r)}</td>{cells}</tr>")
    page.add("</table>")
    if any(RELEASE_LABEL in col.name for col in columns):
        page.add(
            f'<p class="muted">Columns marked “{esc(RELEASE_LABEL)}”: the FG-BMK release\'s '
            "own figures (<code>--fgbmk-protocol release</code>), for setting a model beside "
            "the paper's Figures 4–5; reported only, never gated. Its retrieval “mAP” is the "
            "reciprocal rank of the query's class among the classes of its 10 nearest gallery "
            "images, its recall is averaged per class, and its probe head is chosen on the "
            "test split. The README lists every difference.</p>"
        )
    page.add("</section>")


def section_cases(page: Page, results: RunResults) -> None:
    page.add(
        '<section id="cases"><h2>Every case</h2><table><tr><th>case</th><th>task</th>'
        '<th>facet</th><th>type</th><th>metric</th><th class="num">value</th>'
        '<th class="num">95% interval</th><th class="num">n</th>'
        '<th class="num">unparsed %</th><th class="num">refused %</th>'
        '<th class="num">baseline</th><th class="num">Δ</th><th>result</th></tr>'
    )
    for c in results.cases:
        delta = ""
        if c.delta is not None:
            cls = "down" if c.delta < 0 else "up"
            delta = f'<span class="{cls}">{c.delta:+.1f}</span>'
        page.add(
            f"<tr><td>{esc(c.case_id)}</td><td>{esc(c.task)}</td><td>{esc(c.facet)}</td>"
            f"<td>{esc(c.qtype)}</td><td>{esc(c.metric)}</td>"
            f'<td class="num">{_num(c.value)}</td>'
            f'<td class="num">[{_num(c.low)}, {_num(c.high)}]</td><td class="num">{c.n}</td>'
            f'<td class="num">{_num(c.unparsed_rate)}</td><td class="num">{_num(c.refusal_rate)}</td>'
            f'<td class="num">{_num(c.baseline)}</td>'
            f'<td class="num">{delta}</td><td class="{esc(c.outcome)}">{esc(c.outcome)}</td></tr>'
        )
    page.add("</table></section>")


def section_run(page: Page, results: RunResults) -> None:
    run = results.run
    env = dict(run.environment)
    packages = env.pop("packages", {}) or {}
    rows: list[tuple[str, Any]] = [
        ("model", run.model.get("spec")),
        ("fingerprint", run.model.get("fingerprint")),
        (
            "model arguments",
            ", ".join(f"{k}={v}" for k, v in (run.model.get("args") or {}).items()),
        ),
        ("generation", ", ".join(f"{k}={v}" for k, v in run.generation.items())),
        ("batch size", run.batch_size),
        ("seed", run.seed),
        ("templates", run.templates),
        ("scoring", run.scoring),
        ("limit", run.limit if run.limit is not None else "none"),
        ("data", run.data),
        ("started / finished", f"{run.started} / {run.finished}"),
        ("pytest exit status", run.exit_status),
    ]
    rows += [(k, v) for k, v in env.items()]
    rows += [(f"{k} version", v if v else "not installed") for k, v in packages.items()]
    page.add('<section id="run"><h2>The run</h2><table class="kv">')
    page.add("".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in rows))
    page.add("</table>")
    if run.datasets:
        page.add(
            '<table><tr><th>dataset</th><th>index hash</th><th class="num">images</th>'
            '<th class="num">categories</th><th>levels</th></tr>'
        )
        for name, d in run.datasets.items():
            page.add(
                f"<tr><td>{esc(name)}</td><td><code>{esc(str(d.get('index_hash', ''))[:16])}</code>"
                f'</td><td class="num">{esc(d.get("images", ""))}</td>'
                f'<td class="num">{esc(d.get("categories", ""))}</td>'
                f"<td>{esc(' → '.join(d.get('levels') or []))}</td></tr>"
            )
        page.add("</table>")
    if run.missing_datasets:
        page.add("<p>Missing datasets:</p><ul>")
        page.add("".join(f"<li>{esc(n)}: {esc(r)}</li>" for n, r in run.missing_datasets.items()))
        page.add("</ul>")
    page.add("</section>")


def _slug(text: str) -> str:
    out = "".join(ch if ch.isalnum() else "_" for ch in text.lower())
    return "_".join(p for p in out.split("_") if p) or "x"


# -- the page --------------------------------------------------------------------------------


def render(
    results: RunResults,
    samples: Mapping[str, list[SampleRecord]],
    out: Path,
    *,
    folder: Path,
    baseline: RunResults | None = None,
    base_samples: Mapping[str, list[SampleRecord]] | None = None,
) -> str:
    """The page's HTML; figures are also written under ``out/figures``."""
    if baseline is not None:
        results = with_baseline(results, baseline)
    page = Page(Path(out), [], [])
    passed = sum(c.outcome == "passed" for c in results.cases)
    failed = sum(c.outcome == "failed" for c in results.cases)
    title = f"FG-BMK report: {results.run.label}"
    page.add(
        f"<h1>{esc(title)}</h1><p>{len(results.cases)} case(s): {passed} passed, "
        f"{failed} failed. Fingerprint <code>{esc(results.run.model.get('fingerprint', ''))}</code>; "
        f"templates {esc(results.run.templates)}, scoring {esc(results.run.scoring)}.</p>"
    )
    section_regressions(page, results, samples, base_samples, folder)
    section_granularity(page, results)
    section_knowledge_bias(page, results, baseline)
    section_attributes(page, results)
    section_machine(page, results)
    section_cases(page, results)
    section_run(page, results)
    body = "\n".join(page.chunks)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>\n{body}\n</main></body></html>\n"
    )


def build_report(
    results_path: Path, out: Path | None = None, *, baseline: Path | None = None
) -> Path:
    """Build report.html (and figures/) from a results.json; returns the page's path."""
    from pytest_fgbmk.report.results import atomic_write_text

    results_path = resolve_results(Path(results_path))
    results = read_results(results_path)
    out = Path(out) if out is not None else results_path.parent
    base = base_samples = None
    if baseline is not None:
        baseline = resolve_results(Path(baseline))
        base = read_results(baseline)
    shown = {c.case_id for c in regressed_cases(with_baseline(results, base) if base else results)}
    samples = load_samples(results_path, results, shown)
    if base is not None:
        base_samples = load_samples(baseline, base, shown)
    text = render(
        results, samples, out, folder=results_path.parent, baseline=base, base_samples=base_samples
    )
    path = out / REPORT_NAME
    atomic_write_text(path, text)
    return path
