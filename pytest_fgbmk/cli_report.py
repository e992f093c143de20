"""The ``fgbmk report``, ``compare``, ``flips`` and ``datasets`` subcommands.

Registered into the ``fgbmk`` parser by :func:`add_report_commands`; each handler returns
the exit status and raises :class:`~pytest_fgbmk.errors.FgbmkError` for bad input (the
caller prints it and exits 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pytest_fgbmk.errors import ConfigError

REPORT_HELP = """\
Rebuild report.html (and its figures) from a results.json without rerunning anything.

example:
  fgbmk report fgbmk-report/results.json
  fgbmk report new/results.json --baseline old/results.json --out review/
"""

COMPARE_HELP = """\
Compare models: a models x cases table, and per comparison (task means and machine
metrics per dataset) Friedman's test over datasets with the Nemenyi post-hoc test and
its critical-distance diagram. Writes comparison.md, scores.csv, ranks.csv and
cd_<comparison>.png into --out.

example:
  fgbmk compare runs/chance/results.json runs/probe/ runs/tiny-llava/ --out comparison/
"""

FLIPS_HELP = """\
Count, per case, the questions that flipped between two runs (right in A and wrong in B,
and the reverse), paired by question id from each run's samples.jsonl. Run an unchanged
checkpoint twice with the same settings to see its run-to-run flips on your hardware
(e.g. bf16 with batching): that is the noise the gate's paired test already allows for.

example:
  pytest suites/ --fgbmk-model=my_lvlm --fgbmk-report=run1/
  pytest suites/ --fgbmk-model=my_lvlm --fgbmk-report=run2/
  fgbmk flips run1/results.json run2/results.json
"""

DATASETS_HELP = """\
Show which FG-BMK datasets are under a data root, where, and for each missing one what
was looked for and where.

example:
  fgbmk datasets /data/fgbmk
  fgbmk datasets /data/fgbmk --only cub,stanford_cars
"""


def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1, e.g. 0.05")
    return value


def _cmd_report(args: argparse.Namespace) -> int:
    from pytest_fgbmk.report.html import build_report
    from pytest_fgbmk.report.results import resolve_results

    path = resolve_results(args.results)
    out = args.out or path.parent
    baseline = resolve_results(args.baseline) if args.baseline else None
    html = build_report(path, out, baseline=baseline)
    print(f"fgbmk: wrote {html}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from pytest_fgbmk.report.compare import compare_runs, load_runs, write_comparison

    runs = load_runs(args.runs)
    comp = compare_runs(runs, alpha=args.alpha)
    written = write_comparison(comp, args.out)
    for t in comp.tests:
        best = t.models[t.order[0]]
        print(
            f"{t.name}: Friedman chi2={t.statistic:.3f} p={t.p_value:.3g} "
            f"(N={len(t.datasets)}, k={len(t.models)}), CD={t.cd:.3f}, best: {best}"
        )
    for s in comp.skipped:
        print(f"{s.name}: not tested ({s.reason})")
    print(
        f"fgbmk: wrote {len(written)} file(s) to {args.out}: " + ", ".join(p.name for p in written)
    )
    return 0


def _cmd_flips(args: argparse.Namespace) -> int:
    from pytest_fgbmk.report.flips import by_case, case_flips, differences, flips_table
    from pytest_fgbmk.report.results import read_results, read_samples, samples_path

    loaded = []
    runs = []
    for path in (args.a, args.b):
        results = read_results(path)
        runs.append(results.run)
        where = samples_path(path, results)
        if where is None:
            raise ConfigError(
                f"{path}: this run wrote no samples.jsonl; rerun it with --fgbmk-report"
            )
        loaded.append(by_case(read_samples(where)))
    rows = case_flips(*loaded)
    differ = differences(*runs)
    if differ:
        print(
            f"fgbmk flips: the two runs differ in {', '.join(differ)}: their flips include "
            "that change, not only run-to-run noise (compare two runs of one checkpoint with "
            "the same settings to measure noise)",
            file=sys.stderr,
        )
    for line in flips_table(rows):
        print(line)
    if any(r.only_a or r.only_b for r in rows):
        print(
            "some questions were asked in one run only (another --fgbmk-limit, seed or "
            "version): only the paired ones are counted"
        )
    return 0


def _cmd_datasets(args: argparse.Namespace) -> int:
    from pytest_fgbmk.data.discovery import discover

    root = Path(args.root)
    if not root.is_dir():
        raise ConfigError(f"{root}: not a folder; give the folder that holds the datasets")
    names = None
    if args.only:
        names = tuple(n.strip() for n in args.only.split(",") if n.strip())
        if not names:
            raise ConfigError("--only is empty; give dataset names separated by commas")
    found = discover(root, names)
    print(found.describe())
    print(f"{len(found.found)} found, {len(found.missing)} missing")
    return 0


def add_report_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``report``, ``compare``, ``flips`` and ``datasets`` to the ``fgbmk`` subparsers."""
    raw = argparse.RawDescriptionHelpFormatter

    rep = sub.add_parser(
        "report",
        help="rebuild report.html from a results.json",
        description=REPORT_HELP,
        formatter_class=raw,
    )
    rep.add_argument(
        "results", type=Path, metavar="RESULTS.json", help="results.json or its folder"
    )
    rep.add_argument("--out", type=Path, help="folder to write into (default: beside RESULTS.json)")
    rep.add_argument(
        "--baseline",
        type=Path,
        metavar="BASE.json",
        help="an earlier run's results.json: regressed cases and flipped questions come first",
    )
    rep.set_defaults(func=_cmd_report)

    cmp_ = sub.add_parser(
        "compare",
        help="compare models: table, Friedman/Nemenyi, CD diagram",
        description=COMPARE_HELP,
        formatter_class=raw,
    )
    cmp_.add_argument(
        "runs",
        nargs="+",
        type=Path,
        metavar="RESULTS.json",
        help="results.json files (or folders holding one), one per model",
    )
    cmp_.add_argument("--out", required=True, type=Path, help="folder to write the outputs into")
    cmp_.add_argument(
        "--alpha", type=_alpha, default=0.05, help="Nemenyi significance level (default 0.05)"
    )
    cmp_.set_defaults(func=_cmd_compare)

    fl = sub.add_parser(
        "flips",
        help="per-case questions flipped between two runs (run-to-run noise)",
        description=FLIPS_HELP,
        formatter_class=raw,
    )
    fl.add_argument("a", type=Path, metavar="A/results.json", help="the first run")
    fl.add_argument("b", type=Path, metavar="B/results.json", help="the second run")
    fl.set_defaults(func=_cmd_flips)

    ds = sub.add_parser(
        "datasets",
        help="list the datasets found under a data root, and the missing ones",
        description=DATASETS_HELP,
        formatter_class=raw,
    )
    ds.add_argument("root", type=Path, metavar="ROOT", help="the data root")
    ds.add_argument("--only", help="comma-separated dataset names to look for")
    ds.set_defaults(func=_cmd_datasets)
