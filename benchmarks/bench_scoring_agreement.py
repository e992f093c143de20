"""Agreement of the answer scorer with a careful human grader on real model responses.

Reads ``responses.jsonl`` of the shared answer corpus (its README: 197 responses that
vision-language models wrote, each hand graded right / wrong / unjudgeable), builds one
:class:`~pytest_fgbmk.questions.records.Question` per item and scores the response with
``strict``, ``official`` and the FG-BMK release's substring rule (``answer_acc.py``: truth
and response lower-cased, runs of ``_ - ,`` as one space, right when the truth is a
substring). Prints, per question type and overall: agreement with the grade (unjudgeable
items left out), FP (scored right, graded wrong), FN (scored wrong, graded right), the share
left unparsed and the share read as a refusal (unjudgeable items counted in both shares'
denominators, as the README asks). Targets: >= 97 % agreement per type, FP <= 1 % of the
answers graded wrong. Load average is printed before and after (the machine is shared).

    python benchmarks/bench_scoring_agreement.py [--corpus PATH] [--show-disagreements]

Any graded set in the corpus's format can be passed as ``--corpus`` (a held-out set of
invented responses, say): ``id`` may be left out, ``grade`` may be "right"/"wrong", and a
true/false item may name what it asks about in ``asked``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_fgbmk.questions.records import Question  # noqa: E402
from pytest_fgbmk.scoring import score  # noqa: E402

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "answer-corpus" / "responses.jsonl"
UNPARSED = ("unparsed", "error")


def question(item: dict) -> Question:
    """The item as the product's question (README: qtype, truth, options, lettered, accepted;
    ``asked``, the name a true/false question asks about, where a graded set records it)."""
    return Question(
        item["id"], "corpus", "", item.get("prompt") or "", item["qtype"], "granularity", "",
        item["truth"], item["truth"], "corpus", tuple(item.get("options") or ()),
        bool(item.get("lettered")), item.get("asked") or "", tuple(item.get("accepted") or ()),
    )  # fmt: skip


#: Grades as other graded sets write them ("right"/"wrong") read as the corpus's booleans.
_GRADES = {"right": True, "wrong": False, True: True, False: False, "unjudgeable": "unjudgeable"}


def release_rule(truth: str, response: str) -> bool:
    """demo/human_evaluation/answer_acc.py of the release."""
    t = re.sub(r"[_\-,]+", " ", truth).lower().strip()
    r = re.sub(r"[_\-,]+", " ", response).lower().strip()
    return t in r


def load(path: Path) -> list[dict]:
    items = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            raise SystemExit(
                f"{path}:{lineno}: not JSON ({e.msg}); fix or remove the line"
            ) from None
        if item.get("grade") not in _GRADES:
            raise SystemExit(
                f"{path}:{lineno}: grade {item.get('grade')!r} is not true, false, "
                "'right', 'wrong' or 'unjudgeable'; fix the line"
            )
        item["grade"] = _GRADES[item["grade"]]
        item.setdefault("id", f"line-{lineno}")
        items.append(item)
    return items


def table(items: list[dict], rule: str) -> tuple[list[str], list[tuple[dict, bool, str]]]:
    rows = []
    out: list[tuple[dict, bool, str]] = []
    for qtype in ("tf", "mc", "sa", "all"):
        sel = [it for it in items if qtype == "all" or it["qtype"] == qtype]
        if not sel:
            continue
        agree = fp = fn = unparsed = refused = judged = n_wrong = 0
        for it in sel:
            if rule == "release":
                correct, how = release_rule(it["truth"], it["response"]), "release"
            else:
                s = score(question(it), it["response"], rule)
                correct, how = s.correct, s.how
            unparsed += how in UNPARSED
            refused += how == "refusal"
            if it["grade"] == "unjudgeable":
                continue
            judged += 1
            n_wrong += it["grade"] is False
            if correct == it["grade"]:
                agree += 1
            else:
                fp += correct
                fn += not correct
                if qtype != "all":
                    out.append((it, correct, how))
        rows.append(
            f"{rule:<9} {qtype:<4} {judged:>4} {100 * agree / judged:>9.1f}% {fp:>4} {fn:>4}"
            f" {100 * fp / max(n_wrong, 1):>8.1f}% {100 * unparsed / len(sel):>9.1f}%"
            f" {100 * refused / len(sel):>8.1f}%"
        )
    return rows, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT)
    ap.add_argument("--show-disagreements", action="store_true")
    args = ap.parse_args()
    if not args.corpus.is_file():
        print(f"answer corpus not found at {args.corpus}; pass --corpus PATH", file=sys.stderr)
        return 2
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    items = load(args.corpus)
    skipped = sum(it["grade"] == "unjudgeable" for it in items)
    print(f"{len(items)} responses ({skipped} unjudgeable, left out of agreement)")
    print(f"{'rule':<9} {'type':<4} {'n':>4} {'agreement':>10} {'FP':>4} {'FN':>4}"
          f" {'FP/wrong':>9} {'unparsed':>10} {'refusal':>9}")  # fmt: skip
    for rule in ("strict", "official", "release"):
        rows, bad = table(items, rule)
        print("\n".join(rows))
        if args.show_disagreements and rule == "strict":
            for it, correct, how in bad:
                said = "right" if correct else "wrong"
                print(f"   {it['id']} scored {said} ({how}): {it['response'][:160]!r}")
    print("load average after:  {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
