"""p and its threshold are written so that their order shows (issue 13: a passing case
printed ``p=0.00391 p_threshold=0.00391``; a new user saw ``0.00195`` twice)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pytest_fgbmk.stats import p_and_threshold


def test_a_p_just_above_its_threshold_prints_above_it():
    p = 2.0**-9  # 0.001953125: nine one-way flips of a 12-question case
    t = 0.0019531
    assert (f"{p:.3g}", f"{t:.3g}") == ("0.00195", "0.00195")  # what was printed
    assert p_and_threshold(p, t) == ("0.00195312", "0.0019531")
    assert p_and_threshold(p, t, digits=2) == ("0.00195312", "0.0019531")


def test_values_far_apart_keep_three_digits_and_equal_values_print_equal():
    assert p_and_threshold(0.0123456, 0.000208333) == ("0.0123", "0.000208")
    assert p_and_threshold(2.0**-9, 2.0**-9) == ("0.00195", "0.00195")


probabilities = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@given(probabilities, probabilities, st.integers(1, 4))
def test_the_written_values_keep_the_order_of_the_true_ones(p, t, digits):
    ps, ts = p_and_threshold(p, t, digits)
    assert (float(ps) > float(ts)) == (p > t)
    assert (float(ps) < float(ts)) == (p < t)
