"""Question-level flips between two runs: what changes when nothing should (no pytest).

Two runs of the same checkpoint with the same settings (say bf16 with batching on a GPU)
can still disagree on some questions. ``fgbmk flips A B`` counts, per case, the questions
right in ``A`` and wrong in ``B`` and the reverse: the run-to-run flip rate the gate's
paired test sees as noise, measured on the user's own hardware. The same pairing, by
question id, lists a regression's flipped questions in the HTML report.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pytest_fgbmk import rule_versions
from pytest_fgbmk.report.results import RunInfo, SampleRecord


def flipped(
    now: Sequence[SampleRecord], before: Sequence[SampleRecord]
) -> tuple[list[SampleRecord], int]:
    """Questions right in ``before`` and wrong ``now`` (by id), and the count of the reverse."""
    was = {r.id: r.correct for r in before}
    worse = [r for r in now if was.get(r.id) is True and not r.correct]
    better = sum(1 for r in now if was.get(r.id) is False and r.correct)
    return worse, better


@dataclass(frozen=True)
class CaseFlips:
    """One case's flips between run A and run B.

    ``paired``: questions asked in both runs (by id); ``right_to_wrong``: right in A, wrong
    in B; ``wrong_to_right``: the reverse; ``only_a``/``only_b``: questions one run asked
    and the other did not (another limit, seed or version asks other questions).
    """

    case_id: str
    paired: int
    right_to_wrong: int
    wrong_to_right: int
    only_a: int
    only_b: int

    @property
    def flip_rate(self) -> float:
        """Flipped questions (either way) per paired question, in percent (0 when none)."""
        flips = self.right_to_wrong + self.wrong_to_right
        return 100.0 * flips / self.paired if self.paired else 0.0

    @property
    def delta(self) -> float:
        """B's accuracy minus A's on the paired questions, in points."""
        if not self.paired:
            return 0.0
        return 100.0 * (self.wrong_to_right - self.right_to_wrong) / self.paired


def by_case(samples: Iterable[SampleRecord]) -> dict[str, list[SampleRecord]]:
    out: dict[str, list[SampleRecord]] = {}
    for r in samples:
        out.setdefault(r.case_id, []).append(r)
    return out


def case_flips(
    a: Mapping[str, Sequence[SampleRecord]], b: Mapping[str, Sequence[SampleRecord]]
) -> list[CaseFlips]:
    """Per case present in either run, in A's order then B's new cases."""
    out = []
    for case_id in [*a, *(c for c in b if c not in a)]:
        ra = {r.id: r.correct for r in a.get(case_id, ())}
        rb = {r.id: r.correct for r in b.get(case_id, ())}
        both = ra.keys() & rb.keys()
        out.append(
            CaseFlips(
                case_id,
                len(both),
                sum(1 for q in both if ra[q] and not rb[q]),
                sum(1 for q in both if rb[q] and not ra[q]),
                len(ra.keys() - rb.keys()),
                len(rb.keys() - ra.keys()),
            )
        )
    return out


def flips_table(rows: Sequence[CaseFlips], width: int = 100) -> list[str]:
    """Plain-text lines: one per case, then the total; case ids clipped to fit ``width``."""
    head = ("case", "paired", "right→wrong", "wrong→right", "flip %", "Δ pts", "unpaired")
    body = [
        (
            r.case_id,
            str(r.paired),
            str(r.right_to_wrong),
            str(r.wrong_to_right),
            f"{r.flip_rate:.1f}",
            f"{r.delta:+.1f}",
            str(r.only_a + r.only_b),
        )
        for r in rows
    ]
    paired = sum(r.paired for r in rows)
    rw = sum(r.right_to_wrong for r in rows)
    wr = sum(r.wrong_to_right for r in rows)
    total = CaseFlips("all cases", paired, rw, wr, sum(r.only_a for r in rows), 0)
    body.append(
        (
            total.case_id,
            str(paired),
            str(rw),
            str(wr),
            f"{total.flip_rate:.1f}",
            f"{total.delta:+.1f}",
            str(sum(r.only_a + r.only_b for r in rows)),
        )
    )
    rows_ = [head, *body]
    widths = [max(len(r[i]) for r in rows_) for i in range(1, len(head))]
    room = max(12, width - sum(widths) - 2 * len(widths))
    case_w = min(room, max(len(r[0]) for r in rows_))
    lines = []
    for row in rows_:
        case = row[0] if len(row[0]) <= case_w else row[0][: case_w - 1] + "…"
        cells = [case.ljust(case_w)] + [c.rjust(w) for c, w in zip(row[1:], widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return lines


#: What two runs must share for their flips to be run-to-run noise, as results.json names it.
_SAME = (
    ("model spec", lambda r: r.model.get("spec")),
    ("model fingerprint", lambda r: r.model.get("fingerprint")),
    ("generation settings", lambda r: dict(r.generation)),
    ("templates", lambda r: r.templates),
    ("scoring", lambda r: r.scoring),
    ("seed", lambda r: r.seed),
)
#: Model arguments that say where and how a model runs, not what it is asked: two runs that
#: differ only there (batch size 1 against 8, another GPU) measure exactly the run-to-run
#: noise ``fgbmk flips`` is for.
RUN_ONLY_ARGS = frozenset({"batch_size", "device"})
#: Settings compared only when both runs recorded them (results.json before they were kept
#: has None).
_RECENT = (
    ("judge", lambda r: r.judge),
    ("EXIF orientation", lambda r: r.exif_orientation),
)


def differences(a: RunInfo, b: RunInfo) -> list[str]:
    """What differs between two runs that should be the same checkpoint and settings.

    Returns the names (``"model fingerprint"``, ``"scoring"``, ``"model arguments
    (max_new_tokens)"``, ``"rules of pytest-fgbmk (answer scoring changed (version 3 → 4))"``,
    …) of the recorded settings whose values differ; empty when the flips between the runs
    can only be run-to-run noise (batching, device, hardware, nondeterministic kernels:
    :data:`RUN_ONLY_ARGS` are not compared). ``--fgbmk-limit`` is not listed: its effect
    shows as unpaired questions. Rules are compared when both runs recorded them.
    """
    out = [name for name, get in _SAME[:2] if get(a) != get(b)]
    args_a, args_b = (dict(r.model.get("args") or {}) for r in (a, b))
    keys = [k for k in {**args_a, **args_b} if k not in RUN_ONLY_ARGS]
    changed_args = [k for k in keys if args_a.get(k) != args_b.get(k)]
    if changed_args:
        out.append(f"model arguments ({', '.join(changed_args)})")
    out += [name for name, get in _SAME[2:] if get(a) != get(b)]
    out += [
        name
        for name, get in _RECENT
        if get(a) is not None and get(b) is not None and get(a) != get(b)
    ]
    rules_a, rules_b = (r.environment.get("rules") for r in (a, b))
    if rules_a and rules_b and rules_a != rules_b:
        changed = rule_versions.changed(str(rules_a), str(rules_b))
        out.append(f"rules of pytest-fgbmk ({'; '.join(changed)})")
    both = a.datasets.keys() & b.datasets.keys()
    changed = sorted(
        n for n in both if a.datasets[n].get("index_hash") != b.datasets[n].get("index_hash")
    )
    if changed:
        out.append("the files of " + ", ".join(changed))
    return out
