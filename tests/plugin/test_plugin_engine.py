"""The engine: batching by image, the cache, failure containment, statistics."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plugin_helpers import make_dataset, make_questions

from pytest_fgbmk.cache import AnswerCache
from pytest_fgbmk.engine import Engine, EngineStats, jobs_for, samples_for
from pytest_fgbmk.errors import DataFormatError
from pytest_fgbmk.models.base import GenerationSettings
from pytest_fgbmk.progress import ProgressOutput
from tests.fake_models import CountingModel


def test_every_question_answered_and_each_image_decoded_once_per_batch(tmp_path):
    opened: list[str] = []
    ds = make_dataset(tmp_path / "d", 6, counter=opened)
    qs = make_questions(ds, per_image=4)  # 24 questions, 6 images
    model = CountingModel()
    engine = Engine(model, batch_size=8)
    answers = engine.run(jobs_for(ds, list(reversed(qs))))
    assert {q.id: answers[q.id].text for q in qs} == {q.id: q.truth for q in qs}
    # sorted by image: 8-question batches hold exactly 2 images each, each opened once
    assert len(model.batches) == 3
    assert len(opened) == 6 and sorted(opened) == sorted(s.path for s in ds.samples)
    for ids in model.image_ids:
        assert len(set(ids)) == 2
    st_ = engine.stats
    assert (st_.questions, st_.computed, st_.cached, st_.errors, st_.batches) == (24, 24, 0, 0, 3)
    assert 0.0 <= st_.outside_share <= 1.0 and st_.model_s <= st_.wall_s


def test_cache_serves_a_rerun_and_keys_on_settings_and_prompt(tmp_path):
    ds = make_dataset(tmp_path / "d", 4)
    qs = make_questions(ds, per_image=2)
    cache = AnswerCache(tmp_path / "cache")
    first = CountingModel()
    Engine(first, cache=cache, batch_size=3).run(jobs_for(ds, qs))
    assert len(first.asked) == 8
    again = CountingModel()
    answers = Engine(again, cache=cache).run(jobs_for(ds, qs))
    assert again.asked == [] and all(a.cached for a in answers.values())
    other_settings = CountingModel()
    Engine(other_settings, GenerationSettings(max_new_tokens=5), cache=cache).run(jobs_for(ds, qs))
    assert len(other_settings.asked) == 8
    other_model = CountingModel(fp="counting-2")
    Engine(other_model, cache=cache).run(jobs_for(ds, qs[:3]))
    assert len(other_model.asked) == 3
    from dataclasses import replace

    changed = [replace(qs[0], prompt=qs[0].prompt + " Answer yes or no.")] + qs[1:]
    prompt_changed = CountingModel()
    Engine(prompt_changed, cache=cache).run(jobs_for(ds, changed))
    assert prompt_changed.asked == [qs[0].id]


def test_a_failing_request_is_isolated_recorded_and_not_cached(tmp_path):
    ds = make_dataset(tmp_path / "d", 4)
    qs = make_questions(ds, per_image=4)
    bad = qs[5].id
    cache = AnswerCache(tmp_path / "cache")
    model = CountingModel(fail_ids={bad})
    engine = Engine(model, cache=cache, batch_size=16)
    answers = engine.run(jobs_for(ds, qs))
    assert answers[bad].error == f"RuntimeError: boom on {bad}" and answers[bad].text == ""
    assert all(answers[q.id].ok and answers[q.id].text == q.truth for q in qs if q.id != bad)
    assert engine.stats.errors == 1
    assert sorted(model.asked) == sorted(q.id for q in qs if q.id != bad)
    rerun = CountingModel()
    Engine(rerun, cache=cache).run(jobs_for(ds, qs))
    assert rerun.asked == [bad]


def test_failed_and_empty_answers_are_counted_and_never_cached(tmp_path):
    ds = make_dataset(tmp_path / "d", 2)
    qs = make_questions(ds, per_image=2)
    cache = AnswerCache(tmp_path / "cache")
    model = CountingModel(failed_ids={qs[0].id}, empty_ids={qs[1].id})
    engine = Engine(model, cache=cache)
    answers = engine.run(jobs_for(ds, qs))
    assert answers[qs[0].id].error == "endpoint gave up after 3 retries"
    assert answers[qs[1].id].ok and answers[qs[1].id].text == ""
    assert (engine.stats.errors, engine.stats.empty) == (1, 1)
    key = engine.key
    assert cache.question_ids(key) == {q.id for q in qs[2:]}


def test_out_of_memory_halves_the_batch_and_remembers_it(tmp_path):
    ds = make_dataset(tmp_path / "d", 8)
    qs = make_questions(ds, per_image=4)  # 32
    model = CountingModel(oom_above=5)
    engine = Engine(model, batch_size=16)
    answers = engine.run(jobs_for(ds, qs))
    assert all(a.ok for a in answers.values()) and len(answers) == 32
    assert engine.batch_size == 4 and engine.stats.oom_halvings == 2
    assert max(len(b) for b in model.batches) == 4
    assert sorted(model.asked) == sorted(q.id for q in qs)


class _SinglesOnly(CountingModel):
    """A model whose batched call always fails (a processor that cannot batch)."""

    def answer(self, requests, settings):
        if len(requests) > 1:
            raise ValueError("The number of <image> tokens in each prompt should be\nsame")
        return super().answer(requests, settings)


def test_splits_after_failed_calls_are_counted_down_to_their_size(tmp_path):
    ds = make_dataset(tmp_path / "d", 3)
    qs = make_questions(ds, per_image=4)  # 12 questions: one batch of 8, one of 4
    model = _SinglesOnly()
    engine = Engine(model, batch_size=8)
    answers = engine.run(jobs_for(ds, qs))
    assert all(a.ok for a in answers.values()) and len(answers) == 12
    st_ = engine.stats
    # 8 -> 4+4 -> 2+2+2+2 -> 1x8: 1+2+4 = 7 splits; 4 -> 2+2 -> 1x4: 1+2 = 3 splits
    assert (st_.splits, st_.split_min_size, st_.errors) == (10, 1, 0)
    assert st_.split_error == "ValueError: The number of <image> tokens in each prompt should be"
    assert [len(b) for b in model.batches] == [1] * 12


def test_no_split_without_a_failure_and_split_figures_merge(tmp_path):
    ds = make_dataset(tmp_path / "d", 2)
    qs = make_questions(ds, per_image=2)
    engine = Engine(CountingModel(), batch_size=4)
    engine.run(jobs_for(ds, qs))
    assert (engine.stats.splits, engine.stats.split_min_size, engine.stats.split_error) == (
        0,
        0,
        "",
    )
    a = EngineStats(splits=3, split_min_size=2, split_error="E: one")
    a.merge(EngineStats(splits=1, split_min_size=1, split_error="E: two"))
    a.merge(EngineStats())
    assert (a.splits, a.split_min_size, a.split_error) == (4, 1, "E: one")
    assert EngineStats.from_dict(a.as_dict()).split_error == "E: one"


def test_unreadable_image_is_a_data_error_naming_the_file_not_a_wrong_answer(tmp_path):
    ds = make_dataset(tmp_path / "d", 3)
    qs = make_questions(ds, per_image=2)
    (tmp_path / "d" / ds.samples[1].path).unlink()
    model = CountingModel()
    engine = Engine(model, batch_size=2)
    with pytest.raises(DataFormatError, match="image file is missing") as info:
        engine.run(jobs_for(ds, qs))
    assert info.value.path == tmp_path / "d" / ds.samples[1].path
    lost = {q.id for q in qs if q.image == ds.samples[1].path}
    assert not lost & set(model.asked)  # never asked, never scored


def test_wrong_answer_count_is_contained(tmp_path):
    ds = make_dataset(tmp_path / "d", 2)
    qs = make_questions(ds, per_image=2)

    answers = Engine(CountingModel(short=True), batch_size=4).run(jobs_for(ds, qs))
    assert {q.id: answers[q.id].text for q in qs} == {q.id: q.truth for q in qs}


def test_answering_progress_reports_counts_rate_and_eta_in_whole_lines(tmp_path):
    ds = make_dataset(tmp_path / "d", 5)
    qs = make_questions(ds, per_image=2)  # 10 questions
    cache = AnswerCache(tmp_path / "cache")
    Engine(CountingModel(), cache=cache, batch_size=2).run(jobs_for(ds, qs[:5]))
    lines: list[str] = []
    engine = Engine(
        CountingModel(), cache=cache, batch_size=2, progress=ProgressOutput(lines.append)
    )
    engine.run(jobs_for(ds, qs))
    assert lines[0] == "fgbmk: 5 questions to answer (5 more found in the cache)"
    steps = [line for line in lines[1:-1] if line.startswith("fgbmk answering: ")]
    assert steps and all("questions/s" in line and "ETA" in line for line in steps)
    assert lines[-1].startswith("fgbmk answering: 5/5 questions (100%), ")
    assert lines[-1].endswith("done") and not any("\r" in line for line in lines)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batch=st.integers(1, 9),
    fail=st.sets(st.integers(0, 11), max_size=4),
    oom=st.one_of(st.none(), st.integers(1, 6)),
)
def test_every_question_gets_exactly_one_answer(tmp_path_factory, batch, fail, oom):
    root = tmp_path_factory.getbasetemp() / "prop"
    ds = make_dataset(root, 4) if not root.exists() else make_dataset(root, 4)
    qs = make_questions(ds, per_image=3)
    bad = {qs[i].id for i in fail}
    model = CountingModel(fail_ids=bad, oom_above=oom)
    engine = Engine(model, batch_size=batch)
    answers = engine.run(jobs_for(ds, qs))
    assert set(answers) == {q.id for q in qs}
    assert {q for q, a in answers.items() if not a.ok} == bad
    assert sorted(model.asked) == sorted(q.id for q in qs if q.id not in bad)
    assert engine.stats.errors == len(bad)


def test_split_batches_are_reported_in_the_summary_and_junit(run, pytester):
    """Issue 16: a model that cannot batch was answered one request at a time while the
    summary said "errors 0 … batch size 32"; the splits are now reported."""
    import xml.etree.ElementTree as ET

    result = run(
        "-m",
        "fgbmk_human",
        "--fgbmk-no-cache",
        "--fgbmk-model=tests.fake_models:constant",
        "--fgbmk-model-arg",
        "singles_only=true",
        "--fgbmk-limit",
        "4",
        "--fgbmk-batch-size",
        "8",
        "--junitxml=out.xml",
    )
    text = result.stdout.str()
    line = next(x for x in text.splitlines() if "after failed calls" in x)
    assert line.startswith("  split ") and "down to 1 request(s) per call" in line
    assert line.endswith("first error: ValueError: cannot batch 8 requests")
    suite = ET.parse(pytester.path / "out.xml").getroot().find("testsuite")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert int(props["fgbmk_engine_splits"]) > 0
    assert props["fgbmk_engine_split_min_size"] == "1"
    assert props["fgbmk_engine_split_error"] == "ValueError: cannot batch 8 requests"
    assert props["fgbmk_engine_errors"] == "0" and props["fgbmk_engine_batch_size"] == "8"


class _CountingCache(AnswerCache):
    """An answer cache that records the rows of each commit."""

    def __init__(self, directory):
        super().__init__(directory)
        self.commits: list[int] = []

    def put_many(self, key, answers):
        rows = list(answers)
        self.commits.append(len(rows))
        return super().put_many(key, rows)


def test_commit_policy_decides_on_model_time_rows_and_wait():
    from pytest_fgbmk.engine import CommitPolicy

    p = CommitPolicy(min_model_s=0.05, max_rows=100, max_wait_s=1.0)
    assert p.due(0.05, 1, 0.0) and p.due(2.0, 1, 0.0)  # a real model: every batch
    assert not p.due(0.049, 99, 0.99)  # a free model: grouped...
    assert p.due(0.0, 100, 0.0) and p.due(0.0, 1, 1.0)  # ...up to 100 rows or 1 s


def test_a_free_model_s_answers_are_committed_32768_at_a_time_or_every_2_s(tmp_path):
    """The defaults a cold run of a free model rests on (CommitPolicy's docstring: fewer,
    larger commits rewrite fewer pages), with the answer cache's 64 MiB page cache."""
    from pytest_fgbmk.cache import PAGE_CACHE_KIB, AnswerCache
    from pytest_fgbmk.engine import CommitPolicy

    p = CommitPolicy()
    assert not p.due(0.049, 32767, 1.99)
    assert p.due(0.0, 32768, 0.0) and p.due(0.0, 1, 2.0) and p.due(0.05, 1, 0.0)
    cache = AnswerCache(tmp_path)
    assert PAGE_CACHE_KIB == 65536
    assert cache._conn.execute("PRAGMA cache_size").fetchone()[0] == -PAGE_CACHE_KIB
    cache.close()


def test_a_free_model_s_batches_are_committed_together_a_slow_model_s_each(tmp_path):
    from pytest_fgbmk.engine import CommitPolicy

    ds = make_dataset(tmp_path / "d", 6)
    qs = make_questions(ds, per_image=4)  # 24 questions, 6 images: 6 batches of 4
    fast = _CountingCache(tmp_path / "fast")
    never_late = CommitPolicy(max_rows=10, max_wait_s=3600.0)
    Engine(CountingModel(), cache=fast, batch_size=4, commit=never_late).run(jobs_for(ds, qs))
    assert fast.commits == [12, 12]  # grouped until 10 rows wait (3 batches of 4)
    assert fast.question_ids(Engine(CountingModel()).key) == {q.id for q in qs}
    slow = _CountingCache(tmp_path / "slow")
    model = CountingModel(delay=0.06)
    Engine(model, cache=slow, batch_size=4, commit=never_late).run(jobs_for(ds, qs))
    assert slow.commits == [4] * 6  # each batch took the model >= 50 ms: committed at once


def test_answers_computed_before_a_failure_that_stops_the_run_are_committed(tmp_path):
    from pytest_fgbmk.engine import CommitPolicy
    from pytest_fgbmk.errors import ModelUnusable

    class _StopsOnThird(CountingModel):
        def answer(self, requests, settings):
            if len(self.batches) == 2:
                raise ModelUnusable("quota exhausted")
            return super().answer(requests, settings)

    ds = make_dataset(tmp_path / "d", 6)
    qs = make_questions(ds, per_image=4)
    cache = _CountingCache(tmp_path / "c")
    engine = Engine(
        _StopsOnThird(), cache=cache, batch_size=4, commit=CommitPolicy(max_wait_s=3600.0)
    )
    with pytest.raises(ModelUnusable):
        engine.run(jobs_for(ds, qs))
    assert cache.commits == [8]  # the two answered batches, kept when the third stops it


def test_jobs_pair_questions_with_samples_of_any_split(tmp_path):
    """Questions are looked up in the test split first, then in every sample; both maps
    are built once per dataset."""
    from dataclasses import replace

    ds = make_dataset(tmp_path / "d", 6)
    qs = make_questions(ds, per_image=1)
    by_path = {s.path: s for s in ds.samples}
    jobs = jobs_for(ds, qs)
    assert [j.sample for j in jobs] == [by_path[q.image] for q in qs]
    unknown_id = [replace(q, sample_id="no-such-id") for q in qs]  # falls back to the path
    assert [j.sample for j in jobs_for(ds, unknown_id)] == [j.sample for j in jobs]
    assert ds.sample_lookup("test") is ds.sample_lookup("test")
    assert ds.sample_lookup(None)[0] == {s.id: s for s in ds.samples}
    with pytest.raises(DataFormatError, match="does not list"):
        jobs_for(ds, [replace(qs[0], sample_id="", image="elsewhere.png")])


def test_samples_for_pairs_as_jobs_for_and_a_case_s_images_are_each_sample_once(tmp_path):
    from types import SimpleNamespace

    from pytest_fgbmk.tasks.human import HumanTask

    ds = make_dataset(tmp_path / "d", 3)
    qs = make_questions(ds, per_image=4)  # 12 questions about 3 images
    assert samples_for(ds, qs) == [j.sample for j in jobs_for(ds, qs)]
    ctx = SimpleNamespace(dataset=lambda name: ds, questions=lambda case: qs)
    pairs = HumanTask.images(None, ctx, SimpleNamespace(dataset=ds.name))
    assert [s.path for _, s in pairs] == list(
        dict.fromkeys(j.sample.path for j in jobs_for(ds, qs))
    )
    assert len(pairs) == 3 and all(d is ds for d, _ in pairs)
