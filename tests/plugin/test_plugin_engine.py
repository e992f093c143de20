"""The engine: batching by image, the cache, failure containment, statistics."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plugin_helpers import make_dataset, make_questions

from pytest_fgbmk.cache import AnswerCache
from pytest_fgbmk.engine import Engine, jobs_for
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
