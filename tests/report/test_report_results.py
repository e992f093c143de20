"""results.json and samples.jsonl: round trips, the schema's checks, records from a
Measurement, the environment record, and the xdist part merge."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from report_fixtures import case, run_info, sample, write_run

from pytest_fgbmk.errors import DataFormatError
from pytest_fgbmk.measurement import Asked, Measurement, Outcome
from pytest_fgbmk.questions.records import Question
from pytest_fgbmk.report.results import (
    SCHEMA_VERSION,
    CaseResult,
    RunResults,
    case_from_measurement,
    case_from_properties,
    environment,
    read_results,
    read_samples,
    samples_from_measurement,
    write_results,
)
from pytest_fgbmk.report.writer import ReportWriter


def test_results_round_trip_keeps_every_field(tmp_path):
    c = case(
        "cub", "knowledge_bias", "species", "tf", 62.5, n=40, outcome="failed",
        baseline=70.0, delta=-7.5, p_value=0.004, gate={"baseline": "70.00", "p": "0.004"},
        details={"ranked": [["a", 10.0], ["b", 90.0]], "spread": 40.0},
    )  # fmt: skip
    path = write_run(tmp_path, "hf:/models/x", [c, case("cub", "granularity", "genus", "mc", 30.0)])
    data = json.loads(path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION == 1
    assert data["kind"] == "fgbmk-results"
    assert data["cases"][0]["low"] == 57.5 and data["cases"][0]["baseline"] == 70.0
    back = read_results(tmp_path)
    assert back.cases[0] == c
    assert back.run.label == "hf:/models/x"
    assert back.run.templates == "original" and back.run.batch_size == 8
    assert back.samples is None


def test_nan_interval_is_written_as_null(tmp_path):
    c = CaseResult("a-x-mAP", "a", "retrieval", "", "", "mAP", 50.0, 10)
    write_results(RunResults(run_info("m"), (c,), None), tmp_path)
    raw = json.loads((tmp_path / "results.json").read_text())["cases"][0]
    assert raw["low"] is None and raw["high"] is None
    assert math.isnan(read_results(tmp_path).cases[0].low)


@pytest.mark.parametrize(
    "text, message",
    [
        ("{oops", "results.json:1: not valid JSON"),
        ('{"kind": "something-else"}', "not an FG-BMK results file"),
        (
            '{"kind": "fgbmk-results", "schema_version": 99, "run": {"model": {}}}',
            "schema_version 99",
        ),
        ('{"kind": "fgbmk-results", "schema_version": 1, "run": {}}', "run: run.model must be"),
        (
            '{"kind": "fgbmk-results", "schema_version": 1, "run": {"model": {"spec": "m"}},'
            ' "cases": [{"case_id": "x"}]}',
            "cases[0]: missing dataset, task, metric, value, n",
        ),
        (
            '{"kind": "fgbmk-results", "schema_version": 1, "run": {"model": {"spec": "m"}},'
            ' "cases": [{"case_id": "x", "dataset": "d", "task": "t", "metric": "m",'
            ' "value": "high", "n": 1}]}',
            "cases[0]: could not convert string to float",
        ),
    ],
)
def test_bad_results_files_name_the_file_and_the_problem(tmp_path, text, message):
    path = tmp_path / "results.json"
    path.write_text(text)
    with pytest.raises(DataFormatError) as e:
        read_results(path)
    assert str(path) in str(e.value)
    assert message in str(e.value)


def test_a_folder_without_results_is_named(tmp_path):
    with pytest.raises(DataFormatError, match="folder has no results.json"):
        read_results(tmp_path)


def test_samples_round_trip_and_bad_line_is_numbered(tmp_path):
    recs = [sample("c1", "q1", True), sample("c1", "q2", False, response="<b>no</b>")]
    write_run(tmp_path, "m", [case("synth_birds", "granularity", "species", "tf", 50.0)], recs)
    assert list(read_samples(tmp_path / "samples.jsonl")) == recs
    with open(tmp_path / "samples.jsonl", "a") as f:
        f.write('{"id": "q3"}\n')
    with pytest.raises(DataFormatError, match=r"samples.jsonl:3: not a sample record: missing"):
        list(read_samples(tmp_path / "samples.jsonl"))


@settings(max_examples=30, deadline=None)
@given(text=st.text(max_size=40), correct=st.booleans())
def test_any_answer_text_survives_samples_jsonl(tmp_path_factory, text, correct):
    folder = tmp_path_factory.mktemp("s")
    r = sample("c", "q", correct, response=text, prompt=text)
    write_run(folder, "m", [], [r])
    assert list(read_samples(folder / "samples.jsonl")) == [r]


def _question(qid: str, truth: str, qtype: str = "tf", options: tuple[str, ...] = ()) -> Question:
    return Question(
        id=qid, dataset="toy", image=f"img/{qid}.png", prompt=f"Is {qid} a finch?",
        qtype=qtype, task="granularity", facet="species", category="red finch",
        truth=truth, template_id="t0", options=options,
    )  # fmt: skip


def _measurement(outcomes, details=None) -> Measurement:
    asked = Asked("toy", "hash", "original", "strict", None, 0)
    right = sum(o.correct for o in outcomes)
    return Measurement(
        "toy-species-tf", "toy", "granularity", "species", "tf", "accuracy",
        100.0 * right / len(outcomes), len(outcomes), 10.0, 90.0, 0.0, 1,
        tuple(outcomes), asked, details or {},
    )  # fmt: skip


def test_records_from_a_measurement():
    qs = [_question("q1", "yes"), _question("q2", "no"), _question("q3", "yes")]
    outcomes = [
        Outcome("q1", True, "Yes, it is.", "yes-no"),
        Outcome("q2", False, "I think so, yes", "yes-no"),
        Outcome("q3", False, "", "error", error="timeout"),
    ]
    m = _measurement(outcomes, {"spread": 1.5})
    recs = samples_from_measurement(m, qs, "strict")
    assert [r.id for r in recs] == ["q1", "q2", "q3"]
    assert [r.correct for r in recs] == [True, False, False]
    assert [r.parsed for r in recs] == ["yes", "yes", None]
    assert recs[2].error == "timeout" and recs[1].truth == "no"
    assert recs[0].image == "img/q1.png" and recs[0].case_id == "toy-species-tf"
    c = case_from_measurement(
        m, outcome="failed", gate={"baseline": "80.00", "delta": "-46.67", "p": "0.01"}
    )
    assert (c.baseline, c.delta, c.p_value) == (80.0, -46.67, 0.01)
    assert c.value == pytest.approx(100 / 3) and c.details == {"spread": 1.5}
    assert c.errors == 1 and c.outcome == "failed"


def test_case_from_junit_properties_matches_the_measurement():
    from pytest_fgbmk.report.junit import measurement_properties

    outcomes = [Outcome("q1", True, "yes", "yes-no"), Outcome("q2", False, "no", "yes-no")]
    m = _measurement(
        outcomes,
        {
            "ranked": [["a", 0.0], ["b", 100.0]],
            "spread": 50.0,
            "mean_category_accuracy": 50.0,
            "worst_decile_accuracy": 0.0,
        },
    )
    props = dict(measurement_properties(m)) | {"baseline": "75.00", "delta": "-25.00", "p": "0.2"}
    c = case_from_properties(props, outcome="passed", nodeid="suites/x.py::t[toy]")
    assert (c.case_id, c.dataset, c.task, c.facet, c.qtype) == (
        "toy-species-tf",
        "toy",
        "granularity",
        "species",
        "tf",
    )
    assert (c.value, c.n, c.low, c.high) == (50.0, 2, 10.0, 90.0)
    assert (c.baseline, c.delta, c.p_value) == (75.0, -25.0, 0.2)
    assert c.gate == {"baseline": "75.00", "delta": "-25.00", "p": "0.2"}
    assert c.details["ranked"] == [["a", 0.0], ["b", 100.0]] and c.details["spread"] == 50.0


def test_environment_names_versions_and_our_git_hash():
    env = environment()
    assert env["fgbmk"] == "0.1.0"
    assert set(env["packages"]) >= {"torch", "transformers", "timm"}
    assert env["packages"]["scipy"]
    assert env["git"] is None or len(env["git"]) == 40
    assert "cuda" in env


def test_worker_parts_merge_into_one_results_file(tmp_path):
    props_case = case("toy", "granularity", "species", "tf", 50.0)
    w1 = ReportWriter(tmp_path)
    w1.add_case(props_case)
    w1.add_samples(props_case.case_id, [sample(props_case.case_id, "q1", True)])
    w1.add_case(CaseResult(**{**props_case.as_dict(), "details": {"spread": 3.0}}))
    w1.save_part("gw0", {"model": {"fingerprint": "fp"}, "engine": {"questions": 1}})
    assert (tmp_path / ".parts" / "gw0.json").is_file()
    controller = ReportWriter(tmp_path)
    controller.add_case(props_case)
    infos = controller.merge_parts()
    assert infos == [{"model": {"fingerprint": "fp"}, "engine": {"questions": 1}}]
    assert not (tmp_path / ".parts").exists()
    written = controller.write(run_info("m"), html=False)
    assert [p.name for p in written] == ["results.json", "samples.jsonl"]
    back = read_results(tmp_path)
    assert back.cases[0].details == {"spread": 3.0}
    assert [r.id for r in read_samples(tmp_path / "samples.jsonl")] == ["q1"]


def test_thumbnails_find_images_of_any_split_through_the_kept_maps(tmp_path):
    """Wrong answers' images get a thumbnail whether their sample is in the test split or
    another; an image the dataset does not list gets none."""
    from dataclasses import replace as _replace

    from PIL import Image
    from report_fixtures import sample

    from pytest_fgbmk.data.records import Category, Dataset, Sample
    from pytest_fgbmk.report.writer import thumbnail_name, write_thumbnails

    root = tmp_path / "ds"
    (root / "img").mkdir(parents=True)
    cat = Category(0, "red finch", ("red finch",))
    rows = [("a.png", "test"), ("b.png", "train")]
    for name, _ in rows:
        Image.new("RGB", (40, 20), (200, 30, 30)).save(root / "img" / name)
    samples = tuple(
        Sample(f"s{i}", f"img/{n}", 0, cat.name, split, cat.taxonomy)
        for i, (n, split) in enumerate(rows)
    )
    ds = Dataset("toy", root, "bird", ("species",), (cat,), samples)
    records = [
        _replace(sample("toy-species-tf", f"q{i}", False, image=img, dataset="toy"))
        for i, img in enumerate(["img/a.png", "img/b.png", "img/absent.png"])
    ]
    out = tmp_path / "report"
    assert write_thumbnails(out, {"toy": ds}, records) == 2
    for image in ("img/a.png", "img/b.png"):
        assert Image.open(out / thumbnail_name("toy", image)).size == (40, 20)
    assert not (out / thumbnail_name("toy", "img/absent.png")).exists()


def test_samples_are_written_a_line_at_a_time(tmp_path):
    """samples.jsonl is the records' JSON lines exactly, and writing it never holds the
    file's text in memory (a million-question run's file is 0.5 GB)."""
    import json as _json
    import tracemalloc

    from report_fixtures import sample

    from pytest_fgbmk.report.results import read_samples, write_samples

    def records(n):
        return (
            sample("c-species-tf", f"q{i:06d}", i % 3 == 0, response="é" * 40) for i in range(n)
        )

    path = tmp_path / "samples.jsonl"
    assert write_samples(records(3), path) == 3
    expected = "".join(_json.dumps(r.as_dict(), ensure_ascii=False) + "\n" for r in records(3))
    assert path.read_text(encoding="utf-8") == expected
    assert [r.id for r in read_samples(path)] == ["q000000", "q000001", "q000002"]
    tracemalloc.start()
    try:
        assert write_samples(records(20_000), path) == 20_000
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = path.stat().st_size
    assert size > 5_000_000 and peak < size / 5, (size, peak)


@pytest.mark.parametrize("with_results_beside", [True, False])
def test_a_json_lines_file_given_for_results_says_so(tmp_path, with_results_beside):
    """``fgbmk flips run/samples.jsonl …`` said 'not valid JSON: Extra data'; it now says the
    file is JSON lines and names the results.json beside it when there is one."""
    if with_results_beside:
        write_results(RunResults(run_info("m"), (), None), tmp_path)
    path = tmp_path / "samples.jsonl"
    path.write_text('{"case_id": "a", "right": true}\n{"case_id": "a", "right": false}\n')
    with pytest.raises(DataFormatError) as e:
        read_results(path)
    text = str(e.value)
    assert text.startswith(f"{path}: a JSON-lines file") and "Extra data" not in text
    if with_results_beside:
        assert text.endswith(f"(give {tmp_path / 'results.json'})")
    else:
        assert "give the results.json that pytest --fgbmk-report DIR wrote" in text


def test_the_html_report_given_for_results_names_the_results_beside_it(tmp_path):
    """``fgbmk flips run/report.html …`` said 'not valid JSON: Expecting value'."""
    write_results(RunResults(run_info("m"), (), None), tmp_path)
    path = tmp_path / "report.html"
    path.write_text("<!DOCTYPE html><html></html>")
    with pytest.raises(DataFormatError) as e:
        read_results(path)
    assert str(e.value) == (
        f"{path}: an HTML report, not a results.json (give {tmp_path / 'results.json'})"
    )


def test_a_sample_line_is_json_dumps_of_the_record_with_its_fields_in_order():
    import json
    from dataclasses import fields

    from pytest_fgbmk.report.results import SampleRecord, sample_line

    r = SampleRecord(
        "q1", "c", "ds", "granularity", "species", "mc", "a/b \"c\".jpg", "Säbä", "Is it\n?",
        ("Säbä", "x"), "Säbä", "Säbä 🐦", None, "exact", True, None,
    )  # fmt: skip
    line = sample_line(r)
    assert line == json.dumps(r.as_dict(), ensure_ascii=False) + "\n"
    assert list(json.loads(line)) == [f.name for f in fields(SampleRecord)]
    assert '"Säbä 🐦"' in line and json.loads(line)["options"] == ["Säbä", "x"]
