"""The summary names cases whose answers were mostly unparsed (a new user's 'always A' model
on unlettered options: 100% unparsed on 46 cases, and nothing said so)."""

from __future__ import annotations

from dataclasses import replace

from pytest_fgbmk.report.terminal import UNREADABLE_RATE, SummaryRow, format_unreadable


def row(case: str, unparsed: float, n: int = 12) -> SummaryRow:
    dataset, facet, qtype = case.split("-")
    r = SummaryRow(
        dataset, "granularity", facet, qtype, "accuracy", 0.0, 0.0, 30.0, n, unparsed, 0, "passed"
    )
    return replace(r, case=case)


def test_cases_at_or_above_the_rate_are_named_with_the_worst_rate():
    rows = [row("a-genus-tf", 100.0), row("a-genus-mc", UNREADABLE_RATE), row("a-species-mc", 49.9)]
    lines = format_unreadable(rows)
    assert lines == [
        "fgbmk answers: 2 of 3 cases had >= 50% of answers unparsed (up to 100%): "
        "a-genus-tf, a-genus-mc",
        "  answers not in the form asked: check the model's prompt format, --fgbmk-templates, "
        "--fgbmk-judge",
    ]


def test_nothing_is_said_below_the_rate_or_for_cases_that_scored_nothing():
    assert format_unreadable([row("a-genus-tf", 49.9), row("a-genus-mc", 100.0, n=0)]) == []


def test_many_cases_fit_100_columns():
    rows = [row(f"dataset_with_a_long_name{i}-genus-tf", 100.0) for i in range(40)]
    lines = format_unreadable(rows)
    assert len(lines) == 2 and all(len(line) <= 100 for line in lines)
    assert lines[0].startswith("fgbmk answers: 40 of 40 cases") and lines[0].endswith("…")
