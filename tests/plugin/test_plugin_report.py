"""Measurements, the sanity gate, JUnit properties and the summary table, from constructed data."""

from __future__ import annotations

import json
import statistics

from pytest_fgbmk.baselines.gate import Verdict, sanity_verdict
from pytest_fgbmk.engine import Answer, EngineStats
from pytest_fgbmk.measurement import Asked, category_distribution, measure_questions
from pytest_fgbmk.questions.cases import Case
from pytest_fgbmk.questions.records import Question
from pytest_fgbmk.report.junit import is_measured, measurement_properties, properties_dict
from pytest_fgbmk.report.terminal import SummaryRow, format_table, format_throughput

ASKED = Asked("toy", "abc", "original", "strict", None, 0)


def _q(i: int | str, truth: str, category: str, image: int | None = None) -> Question:
    return Question(
        f"q{i}",
        "toy",
        f"img/{i if image is None else image}.png",
        "Is it a finch?",
        "tf",
        "knowledge_bias",
        "species",
        category,
        truth,
        "t0",
        asked="finch",
    )


def test_category_distribution_exact():
    per = {f"c{i}": (i, 10) for i in range(11)}  # accuracies 0, 10, ..., 100
    d = category_distribution(per)
    values = [10.0 * i for i in range(11)]
    assert d["ranked"][0] == ["c0", 0.0] and d["ranked"][-1] == ["c10", 100.0]
    assert d["mean_category_accuracy"] == 50.0
    assert d["worst_decile_accuracy"] == 5.0  # ceil(11 / 10) = 2 worst: 0 and 10
    assert abs(d["spread"] - statistics.pstdev(values)) < 1e-9


def test_measure_questions_scores_counts_errors_and_distribution():
    qs = [_q(0, "yes", "a"), _q(1, "no", "a"), _q(2, "yes", "b"), _q(3, "no", "b")]
    answers = {
        "q0": Answer("Yes, it is."),
        "q1": Answer("yes"),
        "q2": Answer("", error="RuntimeError: boom"),
        "q3": Answer("No."),
    }
    case = Case("toy", "knowledge_bias", "species", "tf")
    m = measure_questions(case, qs, answers, asked=ASKED)
    assert (m.case_id, m.value, m.n, m.errors) == ("toy-knowledge_bias-tf", 50.0, 4, 1)
    assert m.correct == (True, False, False, True)
    assert m.outcomes[2].how == "error" and m.outcomes[2].error == "RuntimeError: boom"
    assert m.unparsed_rate == 25.0
    assert m.details["ranked"] == [["a", 50.0], ["b", 50.0]]
    props = dict(measurement_properties(m))
    assert props["value"] == "50.00" and props["errors"] == "1" and props["spread"] == "0.00"
    assert json.loads(props["ranked_categories"]) == [["a", 50.0], ["b", 50.0]]
    assert is_measured(properties_dict(measurement_properties(m)))


def test_sanity_verdict_fails_only_without_any_answer():
    case = Case("toy", "knowledge_bias", "species", "tf")
    qs = [_q(0, "yes", "a"), _q(1, "no", "a")]
    ok = measure_questions(case, qs, {"q0": Answer("no"), "q1": Answer("yes")}, asked=ASKED)
    assert sanity_verdict(ok.case_id, ok) == Verdict(
        True, "toy-knowledge_bias-tf: accuracy 0.0% [0.0, 65.8] on n=2; unparsed 0.0%, errors 0"
    )
    broken = measure_questions(
        case, qs, {q.id: Answer("", error="Timeout") for q in qs}, asked=ASKED
    )
    v = sanity_verdict(broken.case_id, broken)
    assert not v.ok and "failed on every question" in v.message and "Timeout" in v.message
    empty = measure_questions(case, [], {}, asked=ASKED)
    assert not sanity_verdict(empty.case_id, empty).ok


def _row(dataset, task, facet, qtype, value=50.0, n=10):
    props = {
        "metric": "accuracy",
        "value": f"{value:.2f}",
        "n": str(n),
        "interval_low": "20.00",
        "interval_high": "80.00",
        "unparsed_rate": "10.00",
        "errors": "1",
        "case": "x",
        "dataset": dataset,
        "task": task,
        "facet": facet,
        "qtype": qtype,
    }
    return SummaryRow.from_properties(props, "passed")


def test_summary_table_groups_by_dataset_and_orders_levels_coarse_to_fine():
    rows = [
        _row("cub", "granularity", "species", "sa"),
        _row("cub", "granularity", "genus", "mc"),
        _row("cub", "attribute", "wing color", "tf", 62.5, 8),
        _row("cub", "granularity", "class", "tf"),
        _row("aircraft", "granularity", "variant", "tf"),
    ]
    lines = format_table(rows)
    assert lines[0].split() == [
        "dataset",
        "task",
        "facet",
        "type",
        "metric",
        "value",
        "baseline",
        "Δ",
        "n",
        "unparsed",
        "errors",
        "result",
    ]
    body = [line.split() for line in lines[2:]]
    assert body[0][:4] == ["aircraft", "granularity", "variant", "tf"]
    assert body[1] == []  # a blank line between datasets
    assert [r[2] for r in body[2:]] == ["wing", "class", "genus", "species"]
    assert body[2][-7:] == ["62.5", "-", "-", "8", "10.0%", "1", "passed"]


def test_throughput_line():
    s = EngineStats(
        questions=120,
        cached=20,
        computed=100,
        errors=2,
        empty=1,
        wall_s=4.0,
        model_s=3.0,
        batch_size=16,
        oom_halvings=1,
    )
    lines = format_throughput(s, ["fp-1"])
    assert lines == [
        "model fingerprint: fp-1",
        "engine: 120 questions, 20 from the cache, 100 answered by the model in 4.0 s "
        "(25.0 questions/s);",
        "  25.0% of the time outside the model; errors 2, empty answers 1; batch size 16 "
        "(halved 1x after out-of-memory)",
    ]
    s.splits, s.split_min_size, s.split_error = 7, 1, "ValueError: cannot batch"
    assert format_throughput(s)[-1] == (
        "  split 7 batch(es) after failed calls, down to 1 request(s) per call; "
        "first error: ValueError: cannot batch"
    )
    assert format_throughput(EngineStats(questions=5, cached=5)) == [
        "engine: 5 questions, 5 from the cache, none asked"
    ]


def _kb(image: int, truth: str, category: str) -> Question:
    """One of an image's two knowledge-bias questions (its own category: yes; a sibling: no)."""
    return _q(f"{image}-{truth}", truth, category, image=image)


def test_knowledge_bias_reports_the_releases_per_image_figure_beside_per_question_accuracy():
    case = Case("toy", "knowledge_bias", "species", "tf")
    qs = [_kb(i, truth, "a" if i < 2 else "b") for i in range(4) for truth in ("yes", "no")]
    # image 0 both right, image 1 only "no" right, image 2 both right, image 3 both wrong
    said = {"q0-yes": "yes", "q0-no": "no", "q1-yes": "no", "q1-no": "no"}
    said |= {"q2-yes": "yes", "q2-no": "no", "q3-yes": "no", "q3-no": "yes"}
    m = measure_questions(case, qs, {k: Answer(v) for k, v in said.items()}, asked=ASKED)
    assert m.value == 62.5  # 5 of 8 questions
    assert (m.details["per_image_accuracy"], m.details["images"]) == (50.0, 4)  # images 0, 2
    assert ("per_image_accuracy", "50.00") in measurement_properties(m)
    always_no = measure_questions(case, qs, {q.id: Answer("No.") for q in qs}, asked=ASKED)
    assert always_no.value == 50.0 and always_no.details["per_image_accuracy"] == 0.0
