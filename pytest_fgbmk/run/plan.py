"""Which process measures which cases: units of shared work, balanced over the workers.

Cases that share work (a dataset's features, the union probe across meta-categories) are
joined into one unit (connected components of :meth:`Task.resources`), so that work is
done by one process only. Units are given to workers longest first, each to the worker
with the least work so far (LPT scheduling: within 4/3 of the best balance), ties broken
by the unit's smallest case id. The result depends only on the cases, their costs and the
worker count, so every worker computes the same assignment on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def units(resources: Mapping[str, frozenset[str]]) -> list[list[str]]:
    """Group case ids that share a resource (transitively); each group sorted, groups by first id."""
    parent: dict[str, str] = {c: c for c in resources}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    owner: dict[str, str] = {}
    for case_id in sorted(resources):
        for r in sorted(resources[case_id]):
            if r in owner:
                a, b = find(case_id), find(owner[r])
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                owner[r] = case_id
    groups: dict[str, list[str]] = {}
    for case_id in sorted(resources):
        groups.setdefault(find(case_id), []).append(case_id)
    return sorted(groups.values(), key=lambda g: g[0])


def assign(
    resources: Mapping[str, frozenset[str]], costs: Mapping[str, float], workers: int
) -> dict[str, int]:
    """The worker (0 … workers-1) that measures each case id (see the module docstring)."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    load = [0.0] * workers
    out: dict[str, int] = {}
    groups: Sequence[list[str]] = units(resources)
    for group in sorted(groups, key=lambda g: (-sum(costs[c] for c in g), g[0])):
        w = min(range(workers), key=lambda i: (load[i], i))
        load[w] += sum(costs[c] for c in group)
        for c in group:
            out[c] = w
    return out
