"""Calibration of the regression gate: run-level false alarm and power, ours beside the anchors.

    python benchmarks/bench_gate_calibration.py [--runs 2000] [--seed 0]

A seeded simulation of paired runs (baseline vs now on the same questions):

- an unchanged model: a share of each case's questions (2–6 %, default 4 %) is unstable
  and re-drawn in every run (right with probability ``--unstable-accuracy``, default 0.5,
  the noisiest choice); the rest repeat exactly, so right→wrong and wrong→right flips
  are symmetric;
- a run has 200 cases of n = 500 questions; a changed model additionally turns
  ``drop × n / 100`` stable right answers wrong in one case (an improvement: wrong → right).

Rules, all on the same simulated data:

- ours: exact one-sided McNemar per case, Tarone–Holm over the run's cases at alpha 0.01,
  and a 1-point practical margin (what ``pytest_fgbmk.stats.control_run`` does);
- plain Bonferroni (alpha / 200) with the same margin; Holm; BH over cases;
- per-case McNemar at 0.01 with the margin, no run-level control;
- VLMEvalKit's CI: |Δ| > 0.01 (absolute, two-sided, improvements fail too);
- pytest-regressions: ``not np.isclose(now, base, rtol=1e-2)`` (two-sided).

Printed: run-level false alarm (an unchanged model fails anywhere), power (the changed
case fails) over drop sizes 1–8 points × n = 200 … 10,000, and how often a 5-point
improvement fails. The ratio column divides our power by Bonferroni's, both measured here.

Then the stated power (``pytest_fgbmk.power``, the ``mdd`` every gated case reports) against
the simulation: per n, the predicted minimum detectable drop (exact binomial, at the
Bonferroni share alpha / cases, this simulation's background of unstable questions), the
drop where the simulated Bonferroni power reaches 90 % (to one question), the simulated
power at exactly the predicted drop, where our curve crosses 90 % (interpolated between
whole points), and the largest gap between predicted and simulated Bonferroni power over
the grid. Last, what the gate itself states: the mdd at the threshold a dropping case would
at least get in a run whose other cases did not move (``thresholds_if_dropped``, median over
20 simulated families), and our rule's simulated power at exactly that drop (2,000 runs,
seed 0: 89.6-92.3 % over n = 200 … 10,000, at p <= 0.000488, 9.8x the Bonferroni share).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from _loadavg import reported  # noqa: E402  (benchmarks/ is the script's folder)
from scipy import stats as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_fgbmk.power import POWER, mcnemar_mdd, mcnemar_power  # noqa: E402
from pytest_fgbmk.stats import (  # noqa: E402
    bh_adjust,
    discrete_holm_reject,
    mcnemar_counts,
    mcnemar_sizes,
    needed_count,
    tarone_holm_reject,
    thresholds_if_dropped,
)

RULES = ("ours", "tarone", "bonferroni", "holm", "bh", "mcnemar", "vlmevalkit", "regressions")
LABELS = {
    "ours": "ours: McNemar + discrete Holm + 1 pt margin",
    "tarone": "McNemar, Tarone-Holm + margin",
    "bonferroni": "McNemar, plain Bonferroni + margin",
    "holm": "McNemar, Holm + margin",
    "bh": "McNemar, BH over cases + margin",
    "mcnemar": "McNemar at 0.01 per case + margin",
    "vlmevalkit": "VLMEvalKit |delta| > 0.01",
    "regressions": "pytest-regressions isclose rtol 1e-2",
}


def flips(rng, runs: int, cases: int, n: int, share: float, acc: float):
    """Right→wrong and wrong→right counts of unchanged cases, shape (runs, cases)."""
    unstable = round(share * n)
    a = acc * (1 - acc)
    draws = rng.multinomial(unstable, [a, a, 1 - 2 * a], size=(runs, cases))
    return draws[..., 0], draws[..., 1]


def mcnemar_arrays(worse, better, n, min_drop):
    k = worse + better
    p = st.binom.sf(worse - 1, k, 0.5)
    p = np.where(k == 0, 1.0, p)
    need = np.vectorize(lambda m: needed_count(int(m), min_drop))(n)
    min_p = np.where((k >= need) & (k > 0), 0.5**k, 1.0)
    margin = (worse - better) * 100.0 / n >= min_drop - 1e-9
    return p, min_p, margin


def decide(worse, better, ns, *, alpha, min_drop, base_acc):
    """Fail matrix (runs, cases) of every rule. ``ns``: n of each case (cases,)."""
    p, min_p, margin = mcnemar_arrays(worse, better, ns[None, :], min_drop)
    runs, cases = p.shape
    delta = (better - worse) / ns[None, :]
    out = {
        "vlmevalkit": np.abs(delta) > 0.01,
        "regressions": ~np.isclose(base_acc + delta, base_acc, rtol=1e-2),
        "mcnemar": (p <= alpha) & margin,
        "bonferroni": (p <= alpha / cases) & margin,
    }
    order = np.argsort(p, axis=1, kind="stable")
    sp = np.take_along_axis(p, order, axis=1)
    holm = np.maximum.accumulate(sp * (cases - np.arange(cases)), axis=1)
    rej = np.zeros_like(p, dtype=bool)
    np.put_along_axis(rej, order, holm <= alpha, axis=1)
    out["holm"] = rej & margin
    out["bh"] = np.stack([bh_adjust(row) <= alpha for row in p]) & margin
    tarone = np.zeros_like(p, dtype=bool)
    ours = np.zeros_like(p, dtype=bool)
    k = worse + better
    need = [needed_count(int(m), min_drop) for m in ns]
    for r in np.flatnonzero((margin & (p <= alpha)).any(axis=1)):
        tarone[r] = tarone_holm_reject(p[r], min_p[r], alpha)[0]
        sizes = [mcnemar_sizes(int(k[r, c]), need[c], alpha) for c in range(cases)]
        ours[r] = discrete_holm_reject(p[r], margin[r], sizes, min_p[r], alpha)[0]
    out["tarone"] = tarone & margin
    out["ours"] = ours
    return out


def false_alarm(rng, args, share: float) -> dict[str, float]:
    worse, better = flips(rng, args.runs, args.cases, args.n, share, args.unstable_accuracy)
    ns = np.full(args.cases, args.n)
    fails = decide(
        worse, better, ns, alpha=args.alpha, min_drop=args.min_drop, base_acc=args.base_acc
    )
    return {r: float(f.any(axis=1).mean()) for r, f in fails.items()}


def changed_case(rng, args, n: int, drop: float, *, improve: bool = False):
    """Power (changed case fails) and run failure rate, per rule."""
    worse, better = flips(rng, args.runs, args.cases, args.n, args.unstable, args.unstable_accuracy)
    w1, b1 = flips(rng, args.runs, 1, n, args.unstable, args.unstable_accuracy)
    shift = round(drop * n / 100)
    if improve:
        b1 = b1 + shift
    else:
        w1 = w1 + shift
    worse[:, 0] = w1[:, 0]
    better[:, 0] = b1[:, 0]
    ns = np.full(args.cases, args.n)
    ns[0] = n
    fails = decide(
        worse, better, ns, alpha=args.alpha, min_drop=args.min_drop, base_acc=args.base_acc
    )
    return {r: float(f[:, 0].mean()) for r, f in fails.items()}


def background(args, n: int) -> dict:
    """This simulation's background flips as :func:`pytest_fgbmk.power.mcnemar_power` takes
    them: ``round(unstable * n)`` questions that flip with probability 2 a (1 - a)."""
    a = args.unstable_accuracy * (1 - args.unstable_accuracy)
    pool = round(args.unstable * n)
    return {"flip_rate": 2 * a * pool / n, "unstable": pool}


def crossing(powers: list[float], drops) -> float | None:
    """The drop where a power curve first reaches POWER, interpolated between grid points."""
    prev_d, prev_p = 0.0, 0.0
    for d, p in zip(drops, powers, strict=True):
        if p >= POWER:
            return prev_d + (d - prev_d) * (POWER - prev_p) / (p - prev_p) if p > prev_p else d
        prev_d, prev_p = d, p
    return None


def simulated_mdd(rng, args, n: int, t: float) -> tuple[float, float]:
    """The drop (points, to one question) where the simulated Bonferroni power first reaches
    POWER, and the simulated power there: the changed case alone (its threshold is
    alpha / cases whatever the others do), ten times ``--runs`` backgrounds, the same draws
    for every drop (so the simulated power grows with the drop and bisection finds it)."""
    w0, b0 = flips(rng, 10 * args.runs, 1, n, args.unstable, args.unstable_accuracy)
    w0, b0 = w0[:, 0], b0[:, 0]
    need = needed_count(n, args.min_drop)

    def power(extra: int) -> float:
        w = w0 + extra
        p = np.where(w + b0 > 0, st.binom.sf(w - 1, w + b0, 0.5), 1.0)
        return float(((p <= t) & (w - b0 >= need)).mean())

    lo, hi = 0, n
    if power(hi) < POWER:
        return float("inf"), power(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if power(mid) >= POWER else (mid, hi)
    return 100.0 * hi / n, power(hi)


def stated_power(rng, args, ns, drops, curve) -> None:
    """The predicted mdd (what each case reports) beside the simulated power curves."""
    t = args.alpha / args.cases
    print(
        f"\nstated power vs simulation: the mdd each case reports (exact binomial, 90% power, "
        f"p <= alpha/{args.cases} = {t:.2g}, margin {args.min_drop:g} pt)"
    )
    rows, gaps, at_mdd, steps = [], [], [], []
    for n in ns:
        bg = background(args, n)
        mdd = mcnemar_mdd(n, threshold=t, min_drop=args.min_drop, **bg)
        sim_mdd, _ = simulated_mdd(rng, args, n, t)
        steps.append(round((sim_mdd - mdd) * n / 100))
        sim = changed_case(rng, args, n, mdd)  # exactly mdd * n / 100 extra flips
        at_mdd.append(sim["bonferroni"])
        for d in drops:
            extra = round(d * n / 100)
            pred = mcnemar_power(n, extra, threshold=t, min_drop=args.min_drop, **bg)
            gaps.append(abs(pred - curve[(d, n)]["bonferroni"]))
        ours = crossing([curve[(d, n)]["ours"] for d in drops], drops)
        rows.append(
            [
                f"n={n}",
                f"{mdd:.2f}",
                f"{sim_mdd:.2f}",
                f"{100 * sim['bonferroni']:.1f}%",
                "> 8" if ours is None else f"{ours:.1f}",
                f"{100 * sim['ours']:.1f}%",
            ]
        )
    print(
        table(
            [
                "n",
                "predicted mdd",
                "simulated Bonferroni mdd",
                "Bonferroni power at predicted",
                "ours crosses 90% (grid)",
                "ours power at predicted",
            ],
            rows,
        )
    )
    se = 100 * np.sqrt(POWER * (1 - POWER) / args.runs)
    print(
        "agreement: the simulated Bonferroni mdd (to one question, "
        f"{10 * args.runs} runs) differs from the predicted by "
        f"{', '.join(f'{s:+d}' for s in steps)} questions; the simulated Bonferroni power at the "
        f"predicted mdd is {100 * min(at_mdd):.1f}-{100 * max(at_mdd):.1f}% (target >= 90%, "
        f"one simulation SE {se:.1f} points); the largest |predicted - simulated| Bonferroni "
        f"power over the {len(gaps)} grid cells is {100 * max(gaps):.1f} points. Our discrete "
        "Holm threshold is never below the Bonferroni share, so its power at the mdd is at "
        "least as high (the stated mdd is conservative for it; 'ours crosses' interpolates "
        "between whole points)."
    )


def gate_threshold(rng, args, families: int = 20) -> float:
    """The threshold the gate states a case's mdd at (:func:`thresholds_if_dropped`: the
    other cases charged as observed, this one in full), median over ``families`` simulated
    unchanged families of ``cases - 1`` others at this simulation's background."""
    worse, better = flips(
        rng, families, args.cases - 1, args.n, args.unstable, args.unstable_accuracy
    )
    ts = []
    for r in range(families):
        tests = {
            f"c{c}": mcnemar_counts(int(worse[r, c]), int(better[r, c]), args.n)
            for c in range(args.cases - 1)
        }
        ts.append(thresholds_if_dropped(tests, alpha=args.alpha, family_size=args.cases).other)
    return float(np.median(ts))


def gate_stated_power(rng, args, ns) -> None:
    """The mdd a run's gate states (at the run-level threshold a dropping case would at
    least get) against the simulated power of our rule at exactly that drop."""
    t = gate_threshold(rng, args)
    print(
        f"\nstated by the gate: mdd at the threshold a dropping case would at least get "
        f"(others unchanged, median over 20 simulated families: p <= {t:.3g}, "
        f"{t / (args.alpha / args.cases):.1f}x the Bonferroni share)"
    )
    rows, powers = [], []
    for n in ns:
        mdd = mcnemar_mdd(n, threshold=t, min_drop=args.min_drop, **background(args, n))
        sim = changed_case(rng, args, n, mdd)["ours"]
        powers.append(sim)
        rows.append([f"n={n}", f"{mdd:.2f}", f"{100 * sim:.1f}%"])
    print(table(["n", "stated mdd", "ours: simulated power at it (target >= 90%)"], rows))
    print(
        f"agreement: our rule's simulated power at the stated mdd is "
        f"{100 * min(powers):.1f}-{100 * max(powers):.1f}% over n = "
        f"{', '.join(map(str, ns))} ({args.runs} runs each)"
    )


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(  # noqa: E731
        c.ljust(w) if i == 0 else c.rjust(w)
        for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    )
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=2000, help="simulated runs per figure")
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--n", type=int, default=500, help="questions per unchanged case")
    ap.add_argument("--unstable", type=float, default=0.04, help="unstable share of questions")
    ap.add_argument("--unstable-accuracy", type=float, default=0.5)
    ap.add_argument("--base-acc", type=float, default=0.7, help="baseline accuracy (isclose)")
    ap.add_argument("--alpha", type=float, default=0.01)
    ap.add_argument("--min-drop", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()

    print(
        f"gate calibration: {args.runs} runs per figure, {args.cases} cases, n={args.n}, "
        f"alpha={args.alpha}, margin={args.min_drop} pt, unstable questions right with "
        f"p={args.unstable_accuracy}, seed {args.seed}\n"
    )
    shares = (0.02, 0.04, 0.06)
    fa = {s: false_alarm(rng, args, s) for s in shares}
    print("run-level false alarm (unchanged model fails anywhere in the run; target <= 1%)")
    print(
        table(
            ["rule", *(f"{int(s * 100)}% unstable" for s in shares)],
            [[LABELS[r], *(f"{100 * fa[s][r]:.2f}%" for s in shares)] for r in RULES],
        )
    )

    print(f"\npower at {int(args.unstable * 100)}% unstable (the changed case fails)")
    checks = {(5.0, 500): None, (2.0, 5000): None}
    for key in checks:
        checks[key] = changed_case(rng, args, key[1], key[0])
    rows = []
    for r in RULES:
        rows.append([LABELS[r], *(f"{100 * checks[k][r]:.1f}%" for k in checks)])
    print(
        table(
            ["rule", "5 pt drop, n=500 (target >=90%)", "2 pt drop, n=5000 (target >=90%)"],
            rows,
        )
    )

    ns = (200, 500, 1000, 2000, 5000, 10000)
    drops = (1, 2, 3, 4, 5, 6, 7, 8)
    curve = {(d, n): changed_case(rng, args, n, d) for d in drops for n in ns}
    for rule in ("ours", "tarone", "bonferroni"):
        print(f"\npower curve, {LABELS[rule]} (rows: drop in points; columns: n)")
        print(
            table(
                ["drop", *(f"n={n}" for n in ns)],
                [[f"{d} pt", *(f"{100 * curve[(d, n)][rule]:.1f}%" for n in ns)] for d in drops],
            )
        )
    print("\npower ratio ours / Bonferroni (cells where Bonferroni's power is 5–95%)")
    ratio_rows = []
    gains = []
    for d in drops:
        cells = []
        for n in ns:
            o, b = curve[(d, n)]["ours"], curve[(d, n)]["bonferroni"]
            if 0.05 <= b <= 0.95:
                cells.append(f"{o / b:.2f}x")
                gains.append(o - b)
            else:
                cells.append("-")
        ratio_rows.append([f"{d} pt", *cells])
    print(table(["drop", *(f"n={n}" for n in ns)], ratio_rows))
    if gains:
        print(
            f"mean power gain over Bonferroni in those cells: +{100 * np.mean(gains):.1f} points "
            f"(max +{100 * np.max(gains):.1f})"
        )

    stated_power(rng, args, ns, drops, curve)
    gate_stated_power(rng, args, ns)

    imp = changed_case(rng, args, args.n, 5.0, improve=True)
    print("\na case that improved by 5 points (n=500): how often it fails")
    print(table(["rule", "fails"], [[LABELS[r], f"{100 * imp[r]:.2f}%"] for r in RULES]))
    print(f"\nwall time {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    with reported():
        status = main()
    raise SystemExit(status)
