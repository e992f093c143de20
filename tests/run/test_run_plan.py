"""Which worker measures which case: shared work stays together, the split is deterministic."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pytest_fgbmk.run.plan import assign, units


def test_cases_that_share_work_form_one_unit():
    resources = {
        "attr-a": frozenset({"answers:attr-a"}),
        "retrieval-birds": frozenset({"features:birds"}),
        "probe-birds": frozenset({"features:birds"}),
        "probe-flowers": frozenset({"features:flowers"}),
        "meta-birds": frozenset({"features:birds", "features:flowers"}),
        "meta-flowers": frozenset({"features:birds", "features:flowers"}),
    }
    assert units(resources) == [
        ["attr-a"],
        ["meta-birds", "meta-flowers", "probe-birds", "probe-flowers", "retrieval-birds"],
    ]


def test_longest_units_first_to_the_least_loaded_worker():
    resources = {c: frozenset({c}) for c in "abcde"}
    costs = {"a": 5.0, "b": 4.0, "c": 3.0, "d": 3.0, "e": 1.0}
    owner = assign(resources, costs, 2)
    # LPT: a→0, b→1, c→1 (4<5), d→0 (5<7), e→1 (7<8): loads 8 and 8
    assert owner == {"a": 0, "b": 1, "c": 1, "d": 0, "e": 1}
    assert assign(resources, costs, 1) == dict.fromkeys("abcde", 0)


@given(
    st.dictionaries(
        st.text("abcdefgh", min_size=1, max_size=3),
        st.tuples(
            st.frozensets(st.sampled_from("xyzuvw"), min_size=1, max_size=2), st.integers(1, 9)
        ),
        min_size=1,
        max_size=12,
    ),
    st.integers(1, 4),
)
def test_every_case_once_shared_work_on_one_worker_and_order_free(spec, workers):
    resources = {c: r for c, (r, _) in spec.items()}
    costs = {c: float(k) for c, (_, k) in spec.items()}
    owner = assign(resources, costs, workers)
    assert set(owner) == set(spec) and all(0 <= w < workers for w in owner.values())
    for a in spec:
        for b in spec:
            if resources[a] & resources[b]:
                assert owner[a] == owner[b]
    # the same answer whatever order the cases come in (each worker computes it alone)
    reordered = dict(reversed(list(resources.items())))
    assert assign(reordered, costs, workers) == owner
