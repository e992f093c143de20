"""Deterministic, stratified subsets of a question list (the ``--limit`` option).

Questions are grouped by image category; categories are visited round-robin (in an order
drawn from the seed) and each contributes its next question, so a limit at least the number
of categories keeps every category. Within a category, true/false questions alternate
positive and negative, so the subset stays close to balanced. The result keeps the input
order and depends only on the questions' ids and the seed, never on their order.
"""

from __future__ import annotations

from collections.abc import Sequence

from pytest_fgbmk.hashing import stable_hash
from pytest_fgbmk.questions.records import Question


def stratified(
    questions: Sequence[Question], limit: int | None, seed: int = 0
) -> tuple[Question, ...]:
    """At most ``limit`` questions, spread over categories (all of them when ``limit`` is None)."""
    if limit is None or limit >= len(questions):
        return tuple(questions)
    if limit <= 0:
        return ()
    by_cat: dict[str, dict[str, list[Question]]] = {}
    for q in questions:
        by_cat.setdefault(q.category, {}).setdefault(q.truth if q.qtype == "tf" else "", []).append(
            q
        )
    queues: list[tuple[str, list[Question]]] = []
    for cat, strata in by_cat.items():
        lists = [
            sorted(v, key=lambda q: stable_hash(seed, q.id)) for _, v in sorted(strata.items())
        ]
        merged: list[Question] = []
        for i in range(max(len(x) for x in lists)):
            merged.extend(x[i] for x in lists if i < len(x))
        queues.append((stable_hash(seed, "category", cat), merged))
    queues.sort(key=lambda kv: kv[0])
    keep: set[str] = set()
    depth = 0
    while len(keep) < limit:
        for _, queue in queues:
            if depth < len(queue) and len(keep) < limit:
                keep.add(queue[depth].id)
        depth += 1
    return tuple(q for q in questions if q.id in keep)
