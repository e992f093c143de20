"""Deterministic subsets of a case's questions that keep the case's design (``--fgbmk-limit``).

A subset of ``limit`` questions keeps what makes a constant answerer score chance on the
full case:

* **true/false**: exactly half positives (one more of one kind when ``limit`` is odd, the
  kind drawn from the seed);
* **multiple-choice**: the right option's position uniform over the options (for a case
  whose questions have different option counts, each count keeps its share of the case
  and positions are uniform within it), so "always A" or "always the first option" scores
  ``1/k``;
* **knowledge bias**: an image's positive and negative questions are kept or dropped
  together (``limit // 2`` images, at least one), so the per-image figure stays defined;
* **every case**: image categories as even as the answer-kind quotas allow (their counts
  differ by at most one whenever some subset can do it).

Each answer kind (stratum) gets a target: its share of ``limit``, water-filled so that a
short stratum (an attribute with few negatives) passes the rest to the others; a stratum
then takes the floor or the ceiling of its target. Which questions: a maximum flow from
categories to strata (:func:`assign`), grown level by level so that every stratum reaches
its floor before any category exceeds the level all categories can give; within a
(category, stratum) cell the questions come in an order drawn from the seed. The result
keeps the input order and depends only on the questions' ids and the seed, never on their
order or the interpreter's hash seed. Its version, recorded in baselines, is
:data:`pytest_fgbmk.rule_versions.SUBSET`.

Why hand-written: no sampling library keeps two marginals (answer kind and category) at
once, and the subset decides which questions a baseline pairs, so it must not change with
a library's version; its guarantees are tested property by property
(``tests/questions/test_questions_subsample.py``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Sequence
from fractions import Fraction

from pytest_fgbmk.hashing import stable_hash
from pytest_fgbmk.questions.records import Question
from pytest_fgbmk.task_names import KNOWLEDGE_BIAS

Unit = tuple[Question, ...]


def stratum(q: Question) -> Hashable:
    """What a subset keeps balanced for a question: its answer kind.

    True/false: ``"yes"``/``"no"``; multiple-choice: ``(number of options, position of the
    right option)``; short answer: one stratum.
    """
    if q.qtype == "tf":
        return q.truth
    if q.qtype == "mc":
        return (len(q.options), q.options.index(q.truth) if q.truth in q.options else -1)
    return ""


def _units(questions: Sequence[Question]) -> list[Unit]:
    """Questions kept together: a knowledge-bias image's pair, else each question alone."""
    if not questions or questions[0].task != KNOWLEDGE_BIAS:
        return [(q,) for q in questions]
    by_image: dict[tuple[str, str], list[Question]] = {}
    for q in questions:
        by_image.setdefault((q.sample_id, q.image), []).append(q)
    return [tuple(sorted(v, key=lambda q: q.id)) for v in by_image.values()]


def _unit_stratum(unit: Unit) -> Hashable:
    return stratum(unit[0]) if len(unit) == 1 else ""


def _shares(strata: dict[Hashable, list[Unit]]) -> dict[Hashable, Fraction]:
    """Each stratum's target share of the subset (sums to 1)."""
    total = sum(len(v) for v in strata.values())
    keys = list(strata)
    if all(isinstance(k, tuple) for k in keys):  # multiple-choice: per option count
        by_k: dict[int, int] = {}
        for k in keys:
            by_k[k[0]] = by_k.get(k[0], 0) + len(strata[k])
        return {k: Fraction(by_k[k[0]], total) / k[0] for k in keys}
    if set(keys) <= {"yes", "no"}:
        return {k: Fraction(1, 2) for k in keys} if len(keys) == 2 else {keys[0]: Fraction(1)}
    return {k: Fraction(len(v), total) for k, v in strata.items()}


def targets(
    sizes: dict[Hashable, int], shares: dict[Hashable, Fraction], n: int
) -> dict[Hashable, Fraction]:
    """Each stratum's exact share of ``n`` (water-filled): ``min(size, λ·share)``, with
    ``λ`` such that the targets sum to ``min(n, sum(sizes))``; a stratum that runs out
    passes the rest to the others in proportion to their shares."""
    n = min(n, sum(sizes.values()))
    out: dict[Hashable, Fraction] = {}
    open_ = {k for k in sizes if sizes[k] > 0}
    for k in sizes:
        if sizes[k] == 0:
            out[k] = Fraction(0)
    while open_:
        left = n - sum(out.values())
        weight = sum(shares[k] for k in open_)
        if weight == 0:
            shares = {**shares, **{k: Fraction(1) for k in open_}}
            weight = Fraction(len(open_))
        full = {k for k in open_ if left * shares[k] / weight >= sizes[k]}
        if not full:
            for k in open_:
                out[k] = left * shares[k] / weight
            break
        for k in full:
            out[k] = Fraction(sizes[k])
        open_ -= full
    return {k: out[k] for k in sizes}  # in the strata's order, never a set's


def stratified(
    questions: Sequence[Question], limit: int | None, seed: int = 0
) -> tuple[Question, ...]:
    """At most ``limit`` questions keeping the case's design (all of them when None).

    See the module docstring for what is kept. A knowledge-bias case keeps ``limit // 2``
    images' pairs (one pair when ``limit`` is 1). ``limit <= 0`` keeps nothing.
    """
    if limit is None or limit >= len(questions):
        return tuple(questions)
    if limit <= 0:
        return ()
    units = _units(questions)
    size = len(units[0]) if units else 1
    want = max(1, limit // size) if size > 1 else limit
    strata: dict[Hashable, list[Unit]] = {}
    for u in units:
        strata.setdefault(_unit_stratum(u), []).append(u)
    strata = dict(sorted(strata.items(), key=lambda kv: stable_hash(seed, "stratum", repr(kv[0]))))
    target = targets({k: len(v) for k, v in strata.items()}, _shares(strata), want)

    queues: dict[str, dict[Hashable, list[Unit]]] = {}
    for key, members in strata.items():
        for u in sorted(members, key=lambda u: stable_hash(seed, u[0].id)):
            queues.setdefault(u[0].category, {}).setdefault(key, []).append(u)
    cats = sorted(queues, key=lambda c: stable_hash(seed, "category", c))
    avail = {c: {k: len(queues[c].get(k, ())) for k in strata} for c in cats}
    counts = assign(cats, avail, target, want)
    keep = {
        q.id for c in cats for k, n in counts[c].items() if n for u in queues[c][k][:n] for q in u
    }
    return tuple(q for q in questions if q.id in keep)


def assign(
    cats: Sequence[str],
    avail: dict[str, dict[Hashable, int]],
    target: dict[Hashable, Fraction],
    n: int,
) -> dict[str, dict[Hashable, int]]:
    """How many units each category gives each stratum: ``n`` in all, each stratum
    ``floor`` or ``ceil`` of its target, the categories' totals as even as that allows.

    A maximum flow (source → category, capacity a level; category → stratum, capacity the
    category's units there; stratum → sink, capacity a level), grown in stages: strata at
    the floor of their targets, categories at the level ``L`` the total can give all of
    them, then ``L + 1`` … until every floor is met (the answer-kind balance comes first);
    then strata at the ceiling, categories again from ``L`` up, until ``n`` units are
    placed. An augmenting path never lowers a category's or a
    stratum's count, so what a stage reached is kept. Each stage starts greedily (each
    category to the strata most in need) and is completed by breadth-first augmenting
    paths. Deterministic: categories in the given order, strata in ``target``'s order.
    ``n`` must not exceed the units available.
    """
    strata = list(target)
    flow: dict[str, dict[Hashable, int]] = {c: dict.fromkeys(strata, 0) for c in cats}
    users: dict[Hashable, dict[str, None]] = {k: {} for k in strata}
    size = {c: sum(avail[c].values()) for c in cats}
    total = dict.fromkeys(cats, 0)
    got = dict.fromkeys(strata, 0)
    floor = {k: int(t) for k, t in target.items()}
    ceil = {k: -int(-t // 1) for k, t in target.items()}
    left = n
    level = 0
    while level < max(size.values()) and sum(min(size[c], level + 1) for c in cats) <= n:
        level += 1
    top = max(size.values())
    stages = [(lv, floor) for lv in range(level, top + 1)]
    stages += [(lv, ceil) for lv in range(level, top + 1)]
    for level, stratum_cap in stages:
        if left == 0:
            break
        if stratum_cap is floor and all(got[k] >= floor[k] for k in strata):
            continue
        cap = {c: max(0, min(size[c], level) - total[c]) for c in cats}
        need = {k: stratum_cap[k] - got[k] for k in strata}

        def place(c: str, k: Hashable, d: int) -> None:
            flow[c][k] += d
            if flow[c][k]:
                users[k][c] = None
            else:
                users[k].pop(c, None)

        for c in cats:  # greedy start
            while cap[c] > 0 and left > 0:
                open_ = [k for k in strata if avail[c][k] > flow[c][k] and need[k] > 0]
                if not open_:
                    break
                k = max(open_, key=lambda k: need[k])
                place(c, k, 1)
                cap[c] -= 1
                total[c] += 1
                need[k] -= 1
                got[k] += 1
                left -= 1
        while left > 0:
            path = _augmenting_path(cats, strata, avail, flow, cap, need, users)
            if path is None:
                break
            start, steps = path
            cap[start] -= 1
            total[start] += 1
            for c, k, sign in steps:
                place(c, k, sign)
            last = steps[-1][1]
            need[last] -= 1
            got[last] += 1
            left -= 1
    if left:
        raise ValueError(f"{left} units could not be placed: more asked than available")
    return flow


def _augmenting_path(
    cats: Sequence[str],
    strata: Sequence[Hashable],
    avail: dict[str, dict[Hashable, int]],
    flow: dict[str, dict[Hashable, int]],
    cap: dict[str, int],
    need: dict[Hashable, int],
    users: dict[Hashable, dict[str, None]],
) -> tuple[str, list[tuple[str, Hashable, int]]] | None:
    """A path source → category → stratum (← category → stratum …) → sink, or None.

    Returns ``(first category, [(category, stratum, +1 or -1), …])`` in path order.
    """
    back: dict[tuple, tuple] = {}
    todo: deque[str] = deque()
    for c in cats:
        if cap[c] > 0:
            back[("c", c)] = ()
            todo.append(c)
    while todo:
        c = todo.popleft()
        for k in strata:
            if avail[c][k] <= flow[c][k] or ("s", k) in back:
                continue
            back[("s", k)] = ("c", c)
            if need[k] > 0:
                steps = []
                node: tuple = ("s", k)
                while True:
                    prev = back[node]
                    if node[0] == "s":
                        steps.append((prev[1], node[1], 1))
                    else:
                        steps.append((node[1], prev[1], -1))
                    if back[prev] == ():
                        steps.reverse()
                        return prev[1], steps
                    node = prev
            for c2 in users[k]:
                if ("c", c2) not in back:
                    back[("c", c2)] = ("s", k)
                    todo.append(c2)
    return None
