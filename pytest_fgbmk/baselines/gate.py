"""The regression gate: a case fails only on a significant drop beyond the margin (no pytest).

:class:`BaselineGate` compares each case with its stored baseline on the same questions:
exact one-sided McNemar for accuracy, a sign-flip permutation test for per-query values,
and for knowledge bias the per-category tests combined with Benjamini–Hochberg. The
run's cases are decided together (:func:`pytest_fgbmk.stats.control_run`, discrete
Holm by default): :meth:`BaselineGate.decide_family` is given every gated case of the
run (the run object does it once, in every process, from the same measurements); a case
never decided that way uses a Bonferroni share ``alpha / cases``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from pytest_fgbmk.baselines.record import (
    NewerBaseline,
    OldBaseline,
    Stored,
    differences,
    paired_baseline,
    parse_record,
    tool_changes,
    unpaired_ids,
    values_now,
)
from pytest_fgbmk.baselines.store import keyword_for, scoped_update_command
from pytest_fgbmk.errors import DataFormatError
from pytest_fgbmk.measurement import Measurement, Outcome
from pytest_fgbmk.power import (
    Detectable,
    accuracy_detectable,
    flip_rate,
    format_mdd,
    values_detectable,
)
from pytest_fgbmk.stats import (
    CaseTest,
    IfDropped,
    PairedTest,
    control_run,
    grouped_test,
    mcnemar_counts,
    mcnemar_drop,
    p_and_threshold,
    sign_flip_drop,
    thresholds_if_dropped,
)
from pytest_fgbmk.task_names import KNOWLEDGE_BIAS

SHOW_FLIPPED = 5
#: A case without a baseline says where the command is: the summary prints it once a run.
MISSING_HINT = "write it with the command in the FG-BMK summary"
#: The tail of a re-baseline case's one-line failure (the command is in the summary, once).
REBASELINE_HINT = "rewrite it with the command in the FG-BMK summary"
#: The tail of a fingerprint-differs case's one-line failure.
FINGERPRINT_HINT = "rerun with the baseline's settings, or see the FG-BMK summary"


@dataclass(frozen=True)
class Verdict:
    """The gate's decision on one case and the message a user reads when it fails.

    ``properties`` are the JUnit properties the gate adds (baseline, delta, p …).
    """

    ok: bool
    message: str = ""
    properties: tuple[tuple[str, str], ...] = field(default=())


def sanity_verdict(case_id: str, m: Measurement) -> Verdict:
    """Fails a case that measured nothing: no scored sample, or every answer an error.

    Checked before any baseline comparison (a run that measured nothing is never green).
    """
    counts = (
        f"{m.metric} {m.value:.1f}% [{m.low:.1f}, {m.high:.1f}] on n={m.n}; "
        f"unparsed {m.unparsed_rate:.1f}%, errors {m.errors}"
    )
    if m.n == 0:
        return Verdict(False, f"{case_id}: no question was scored ({counts})")
    if m.errors == m.n:
        first = next((o.error for o in m.outcomes if o.error), "")
        return Verdict(
            False, f"{case_id}: the model failed on every question ({counts}); first: {first}"
        )
    return Verdict(True, f"{case_id}: {counts}")


@dataclass(frozen=True)
class Entry:
    """One case as the gate sees it: its measurement and its stored baseline (text or None).

    ``unreadable``: why the baseline file could not be read as text (not UTF-8, a folder in
    its place …; :meth:`~pytest_fgbmk.baselines.store.BaselineStore.read`), ``text`` None.
    """

    case_id: str
    measurement: Measurement
    path: Path
    text: str | None
    unreadable: DataFormatError | None = None


@dataclass(frozen=True)
class _Compared:
    stored: Stored | None
    test: PairedTest | CaseTest | None
    problem: str | None


def _corrupt(exc: DataFormatError) -> str:
    """A compare problem from a baseline that cannot be read: ``corrupt: REASON (line N)``."""
    where = f" (line {exc.line})" if exc.line is not None else ""
    return f"corrupt: {exc.detail}{where}"


class BaselineGate:
    """Decides each case against its baseline; see the module docstring.

    ``update_command``: the exact command line that writes the baselines (shown when one
    is missing or stale). ``family_size``: the number of gated cases of the session
    (human- and machine-oriented), used for a case decided alone. ``family_decided``: the
    number of cases the run-level decision compared (those with a usable baseline).
    """

    def __init__(
        self,
        *,
        alpha: float = 0.01,
        min_drop: float = 1.0,
        control: str = "discrete-holm",
        update_command: str = "pytest --fgbmk-update-baselines",
        family_size: int = 1,
    ) -> None:
        self.alpha = alpha
        self.min_drop = min_drop
        self.control = control
        self.update_command = update_command
        self.family_size = max(1, family_size)
        self._thresholds: dict[str, float] = {}
        self._decided = False
        self._method = "bonferroni"
        self._if_dropped: IfDropped | None = None
        self._improved: set[str] = set()
        self._up_p: dict[str, float] = {}
        self.family_decided = 0

    @property
    def decided(self) -> bool:
        return self._decided

    def case_command(self, path: Path) -> str:
        """The update command limited to the one case whose baseline is ``path``."""
        return scoped_update_command(self.update_command, [keyword_for(path)])

    # -- comparison ----------------------------------------------------------------

    def compare(self, entry: Entry) -> _Compared:
        """Parse the baseline and run the paired test (or say why it cannot be compared)."""
        if entry.unreadable is not None:
            return _Compared(None, None, _corrupt(entry.unreadable))
        if entry.text is None:
            return _Compared(None, None, "missing")
        try:
            stored = parse_record(entry.text, entry.path)
        except OldBaseline as exc:
            return _Compared(None, None, f"re-baseline: {exc}")
        except NewerBaseline as exc:
            return _Compared(None, None, f"newer: {exc}")
        except DataFormatError as exc:  # the verdict names the file and the fix
            return _Compared(None, None, _corrupt(exc))
        # the user's settings first: a changed --fgbmk-limit also changes the rules recorded
        diff = differences(stored, entry.measurement, ids=False)
        if not diff:
            changed = tool_changes(stored, entry.measurement)
            if changed:
                return _Compared(None, None, f"re-baseline: {changed}")
        diff = differences(stored, entry.measurement)
        if diff:
            return _Compared(stored, None, "fingerprint: " + "; ".join(diff))
        damaged = unpaired_ids(stored, entry.measurement)
        if damaged:
            return _Compared(None, None, f"corrupt: {damaged}")
        try:
            return _Compared(stored, self._test(stored, entry.measurement), None)
        except (KeyError, ValueError) as exc:  # ids the baseline lacks, or sharing a digest
            return _Compared(stored, None, f"corrupt: its question ids do not pair ({exc})")

    def _test(self, stored: Stored, m: Measurement) -> PairedTest | CaseTest:
        base = paired_baseline(stored, m)
        if stored.record["outcomes"]["encoding"] == "values":
            return sign_flip_drop(base, values_now(m), min_drop=self.min_drop)
        now_b = np.array(m.correct, dtype=bool)
        base_b = base.astype(bool)
        overall = mcnemar_drop(base_b, now_b, min_drop=self.min_drop)
        if m.task != KNOWLEDGE_BIAS:
            return overall
        cats: dict[str, list[int]] = {}
        for i, o in enumerate(m.outcomes):
            cats.setdefault(o.category, []).append(i)
        per_cat = {
            c: mcnemar_drop(base_b[idx], now_b[idx], min_drop=self.min_drop)
            for c, idx in cats.items()
        }
        return grouped_test(overall, per_cat)

    # -- run-level decision ----------------------------------------------------------

    def decide_family(self, entries: Sequence[Entry]) -> None:
        """Decide every comparable case of the run together (call once, before checks)."""
        tests = {}
        ups = {}
        for e in entries:
            c = self.compare(e)
            if c.test is not None:
                tests[e.case_id] = c.test
                overall = c.test.overall if isinstance(c.test, CaseTest) else c.test
                if c.stored is not None:  # every compared case, as for drops
                    ups[e.case_id] = self._up_test(e, c.stored, overall)
        decision = control_run(tests, alpha=self.alpha, method=self.control)
        self._thresholds = dict(decision.thresholds)
        # improvements: the same rule the other way, over the same cases (only those that
        # rose would pick the family by its outcome: a lone noisy rise would pass alone)
        up = control_run(ups, alpha=self.alpha, method=self.control)
        self._improved = {i for i in up.rejected if ups[i].margin_met}
        self._up_p = {i: t.p for i, t in ups.items()}
        self._if_dropped = thresholds_if_dropped(
            tests, alpha=self.alpha, method=self.control, family_size=self.family_size
        )
        self.family_decided = len(tests)
        self._decided = True
        self._method = self.control

    def threshold(self, case_id: str) -> float:
        if self._decided and case_id in self._thresholds:
            return self._thresholds[case_id]
        return self.alpha / self.family_size

    # -- verdict ---------------------------------------------------------------------

    def verdict(self, entry: Entry) -> Verdict:
        """The case's verdict: message, and JUnit properties baseline, delta, p … and its
        minimum detectable drop (``mdd``, points or ``inf``, with ``mdd_assumption``)."""
        c = self.compare(entry)  # parsed and tested once per verdict
        v = self._case_verdict(entry, c)
        d = self.detectable(entry, c)
        mdd = (("mdd", format_mdd(d.mdd)), ("mdd_assumption", d.assumption))
        return replace(v, properties=(*v.properties, *mdd))

    def detectable(self, entry: Entry, c: _Compared) -> Detectable:
        """The case's minimum detectable drop at its n (:mod:`pytest_fgbmk.power`): against
        its baseline (its value, and its observed symmetric flip rate or per-query spread),
        or, with no comparable baseline, against the measured value with no background flips.
        The threshold: the one the run's decision would at least give the case if it dropped
        (:func:`~pytest_fgbmk.stats.thresholds_if_dropped`), or before a decision the
        Bonferroni share."""
        m = entry.measurement
        kw = {
            "alpha": self.alpha,
            "family_size": self.family_size,
            "min_drop": self.min_drop,
            "run_threshold": (
                self._if_dropped.get(entry.case_id) if self._if_dropped is not None else None
            ),
        }
        values = m.details.get("per_query") if m.details else None
        if values is not None:
            base = [v for _, v in values]
            if c.stored is not None and c.test is not None:
                base = paired_baseline(c.stored, m).tolist()
            spread = float(np.std(base)) if base else 0.0
            return values_detectable(
                m.n, spread=spread, ceiling=100 * float(np.mean(base or [0])), **kw
            )
        accuracy, rate = m.value, 0.0
        if c.stored is not None and c.test is not None:
            overall = c.test.overall if isinstance(c.test, CaseTest) else c.test
            # the baseline's right answers counted on the paired questions: its stored value
            # is rounded (58.33 for 7 of 12 would leave 6 answers to lose, and mdd inf)
            right = int(np.count_nonzero(paired_baseline(c.stored, m)))
            accuracy = 100.0 * right / m.n if m.n else 0.0
            rate = flip_rate(overall.worse, overall.better, overall.n)
        grouped = m.task == KNOWLEDGE_BIAS
        return accuracy_detectable(m.n, accuracy=accuracy, flip_rate=rate, grouped=grouped, **kw)

    def _case_verdict(self, entry: Entry, c: _Compared) -> Verdict:
        m = entry.measurement
        rel = entry.path
        if c.problem == "missing":
            return Verdict(
                False,
                f"{entry.case_id}: no baseline yet ({m.metric} {m.value:.1f}%, n={m.n}): "
                + MISSING_HINT,
                (("baseline_file", str(rel)), ("baseline_missing", "true")),
            )
        if c.problem and c.problem.startswith("re-baseline"):
            return Verdict(
                False,
                f"{entry.case_id}: {c.problem} ({rel}); {REBASELINE_HINT}",
                (("baseline_file", str(rel)), ("rebaseline", c.problem.split(": ", 1)[1])),
            )
        if c.problem and c.problem.startswith("newer: "):
            return Verdict(
                False,
                f"{entry.case_id}: the baseline {rel} was {c.problem.removeprefix('newer: ')}: "
                "upgrade pytest-fgbmk to compare with it (pip install -U pytest-fgbmk); do not "
                "rewrite it with this older version",
                (("baseline_file", str(rel)), ("baseline_newer", "true")),
            )
        if c.problem and c.problem.startswith("corrupt"):
            return Verdict(
                False,
                f"{entry.case_id}: the baseline file {rel} is {c.problem}; restore it from "
                f"version control, or rewrite it with: {self.case_command(rel)}",
                (("baseline_file", str(rel)), ("baseline_corrupt", "true")),
            )
        if c.problem:
            what = c.problem.removeprefix("fingerprint: ")
            return Verdict(
                False,
                f"{entry.case_id}: fingerprint differs from the baseline {rel}: {what}; "
                + FINGERPRINT_HINT,
                (("baseline_file", str(rel)), ("fingerprint_differs", what)),
            )
        assert c.stored is not None and c.test is not None
        t = self.threshold(entry.case_id)
        test = c.test
        overall = test.overall if isinstance(test, CaseTest) else test
        fails = test.fails(t) if isinstance(test, CaseTest) else (test.p <= t and test.margin_met)
        base_value = c.stored.value
        p_shown, t_shown = p_and_threshold(test.p, t)
        props = (
            ("baseline", f"{base_value:.2f}"),
            ("delta", f"{overall.delta:+.2f}"),
            ("p", p_shown),
            ("p_threshold", t_shown),
            ("family_size", str(self.family_size)),
            *((("family_decided", str(self.family_decided)),) if self._decided else ()),
            ("baseline_file", str(rel)),
        )
        if fails:
            return Verdict(False, self._failure(entry, c.stored, test, t), props)
        message = self._passing(entry, overall, c.stored)
        if message.endswith("consider updating the baseline"):
            props = (*props, ("gate_note", message.split(": ", 1)[1]))
        return Verdict(True, message, props)

    def _up_test(self, entry: Entry, stored: Stored, t: PairedTest) -> PairedTest:
        """The case's paired test the other way (did it rise?), with the same margin."""
        if t.method == "mcnemar":
            return mcnemar_counts(t.better, t.worse, t.n, min_drop=self.min_drop)
        m = entry.measurement  # the sign-flip test with baseline and now swapped
        return sign_flip_drop(values_now(m), paired_baseline(stored, m), min_drop=self.min_drop)

    def _passing(self, entry: Entry, t: PairedTest, stored: Stored) -> str:
        """A passing case's line; a significant improvement ends with "consider updating
        the baseline": the rule a drop must meet, mirrored (the same test the other way,
        at least the margin, and the run-level decision over the cases that rose; a case
        decided alone: the Bonferroni share ``alpha / family_size``). At ``alpha`` per case,
        an unchanged checkpoint's run-to-run noise would be called an improvement about
        once per hundred cases."""
        m = entry.measurement
        if t.delta > 0:
            if self._decided and entry.case_id in self._up_p:
                p_up = self._up_p[entry.case_id]
                significant = entry.case_id in self._improved
            else:
                up = self._up_test(entry, stored, t)
                p_up = up.p
                significant = up.p <= self.alpha / self.family_size and up.margin_met
            note = ": consider updating the baseline" if significant else ""
            return f"{entry.case_id}: {t.delta:+.1f} pts, p={p_up:.2g}{note}"
        return f"{entry.case_id}: {m.metric} {m.value:.1f}% ({t.delta:+.1f} pts, p={t.p:.2g})"

    def _failure(self, entry: Entry, stored: Stored, test: PairedTest | CaseTest, t: float) -> str:
        m = entry.measurement
        overall = test.overall if isinstance(test, CaseTest) else test
        how = "run-level" if self._decided else f"Bonferroni over {self.family_size} cases"
        p_shown, t_shown = p_and_threshold(test.p, t, digits=2)
        lines = [
            f"{entry.case_id}: {m.metric} dropped significantly ({how} threshold p <= {t_shown}, "
            f"margin {self.min_drop:g} pt): {-overall.delta:.1f} points, "
            f"{stored.value:.1f} → {m.value:.1f} (p={p_shown}, n={m.n})",
        ]
        header = ("", "baseline", "now", "delta", "95% interval (now)", "p", "n")
        row = (
            m.metric,
            f"{stored.value:.1f}",
            f"{m.value:.1f}",
            f"{overall.delta:+.1f}",
            f"[{m.low:.1f}, {m.high:.1f}]",
            p_shown,
            str(m.n),
        )
        lines += _table([header, row])
        if isinstance(test, CaseTest):
            worst = test.dropped_categories(t)
            if worst:
                lines.append("categories that dropped (BH over categories):")
                lines += _table(
                    [("category", "delta", "q", "n")]
                    + [
                        (name, f"{ct.delta:+.1f}", f"{q:.2g}", str(ct.n))
                        for name, ct, q in worst[:5]
                    ]
                )
        flipped = self._flipped(stored, m)
        if flipped:
            shown = "all shown" if len(flipped) == overall.worse else f"first {len(flipped)}"
            lines.append(f"right → wrong: {overall.worse} questions ({shown}):")
            for o in flipped:
                lines += _example(o)
        lines.append(f"baseline: {entry.path}")
        lines.append("If the drop is intended, accept the new value as this case's baseline with:")
        lines.append(f"  {self.case_command(entry.path)}")
        return "\n".join(lines)

    def _flipped(self, stored: Stored, m: Measurement) -> list[Outcome]:
        """The first :data:`SHOW_FLIPPED` questions right in the baseline and wrong now."""
        if stored.record["outcomes"]["encoding"] != "bitset-base64":
            return []
        base = paired_baseline(stored, m).astype(bool)
        out = []
        for o, b in zip(m.outcomes, base, strict=True):
            if b and not o.correct:
                out.append(o)
                if len(out) == SHOW_FLIPPED:
                    break
        return out


def _example(o: Outcome) -> list[str]:
    """One flipped question: its id, the whole prompt and the whole answer, each line of a
    multi-line text indented under its label. A machine-oriented case's sample has no
    prompt: its id (the test image) and the head's output (``predicted 3``) instead."""
    what = "category" if o.prompt else "true class"
    lines = [f"  {o.question_id}" + (f" ({what} {o.category})" if o.category else "")]
    if o.prompt:
        lines += _labelled("prompt", o.prompt)
    answer = f"error: {o.error}" if o.error else o.response or "(empty)"
    lines += _labelled("answer" if o.prompt else "output", answer)
    return lines


def _labelled(label: str, text: str) -> list[str]:
    first, *rest = text.splitlines() or [""]
    pad = " " * (len(label) + 6)
    return [f"    {label}: {first}"] + [pad + line if line.strip() else "" for line in rest]


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]


def thresholds_summary(gate: BaselineGate) -> Mapping[str, float]:
    """The per-case p-value thresholds of the run-level decision (empty before it)."""
    return dict(gate._thresholds)
