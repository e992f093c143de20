"""The terminal summary orders each dataset's rows: human-oriented tasks, then the
machine-oriented ones in the suites' order, then any unknown task."""

from __future__ import annotations

import random

from pytest_fgbmk.report.terminal import TASK_ORDER, SummaryRow, format_table

TASKS = [
    "attribute",
    "granularity",
    "knowledge_bias",
    "retrieval",
    "linear_probe",
    "alignment_effect",
    "meta_categories",
    "feature_robustness",
]


def row(dataset: str, task: str) -> SummaryRow:
    return SummaryRow(dataset, task, "f", "", "m", 50.0, 40.0, 60.0, 10, 0.0, 0, "passed")


def test_task_order_lists_human_then_machine_tasks():
    assert sorted(TASK_ORDER, key=TASK_ORDER.__getitem__) == TASKS


def test_the_table_shows_machine_tasks_after_human_tasks_per_dataset():
    rows = [row(ds, t) for ds in ("b", "a") for t in [*TASKS, "zz_unknown"]]
    random.Random(7).shuffle(rows)
    lines = format_table(rows)
    body = [line.split() for line in lines[2:] if line]
    assert [(cells[0], cells[1]) for cells in body] == [
        (ds, t) for ds in ("a", "b") for t in [*TASKS, "zz_unknown"]
    ]
    assert lines[2 + len(TASKS) + 1] == ""  # a blank line between datasets
