"""Prefetched batches: same results and order as a plain loop, errors at their batch."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_fgbmk.prefetch import prefetched


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.integers(-50, 50), min_size=0, max_size=6), max_size=6),
    st.integers(1, 4),
)
def test_same_results_in_order_as_a_plain_loop(batches, workers):
    got = list(prefetched(batches, lambda x: x * x + 1, workers=workers))
    assert got == [[x * x + 1 for x in b] for b in batches]


def test_at_most_one_batch_is_prepared_ahead():
    calls: list[int] = []
    lock = threading.Lock()

    def record(x: int) -> int:
        with lock:
            calls.append(x)
        return x

    batches = [[0, 1], [2, 3], [4, 5], [6, 7]]
    it = prefetched(batches, record, workers=2)
    assert next(it) == [0, 1]
    # the first batch and the one being prepared, never the third
    with lock:
        assert set(calls) <= {0, 1, 2, 3}
    assert list(it) == [[2, 3], [4, 5], [6, 7]]


def test_an_error_reaches_the_caller_at_its_batch():
    def fn(x: int) -> int:
        if x == 3:
            raise ValueError("bad item 3")
        return x

    it = prefetched([[1, 2], [3, 4], [5]], fn, workers=2)
    assert next(it) == [1, 2]
    with pytest.raises(ValueError, match="bad item 3"):
        next(it)


def test_no_batches_yield_nothing():
    assert list(prefetched([], str)) == []


def test_batches_are_read_lazily_and_ahead_bounds_the_work_in_flight():
    """A generator's batches are pulled only when submitted (the engine cuts them then)."""
    pulled: list[int] = []

    def source():
        for i in range(6):
            pulled.append(i)
            yield [i]

    it = prefetched(source(), lambda x: x, workers=2, ahead=2)
    assert next(it) == [0]
    assert pulled == [0, 1, 2]  # the one held and two ahead
    assert list(it) == [[1], [2], [3], [4], [5]]
