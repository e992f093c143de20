"""The reference models: oracle is right by construction, chance is uniform and reproducible."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy import stats

from pytest_fgbmk.errors import ConfigError, ModelError
from pytest_fgbmk.models.base import AnswerRequest, GenerationSettings
from pytest_fgbmk.models.references import (
    UNKNOWN_ANSWER,
    ChanceModel,
    OracleModel,
    load_chance,
    load_oracle,
)
from pytest_fgbmk.models.registry import load_model
from pytest_fgbmk.questions.records import Question

IMAGE = Image.new("RGB", (8, 8))
SETTINGS = GenerationSettings()
OPTIONS4 = ("Laysan Albatross", "Sooty Albatross", "Black-footed Albatross", "Crested Auklet")


def question(qid: str, qtype: str, truth: str, options: tuple[str, ...] = ()) -> Question:
    return Question(
        id=qid,
        dataset="cub",
        image="001/a.jpg",
        prompt="Is this a bird?",
        qtype=qtype,
        task="granularity",
        facet="species",
        category="Laysan Albatross",
        truth=truth,
        template_id="t0",
        options=options,
    )


def requests(questions: list[Question]) -> list[AnswerRequest]:
    return [AnswerRequest(IMAGE, q.prompt, q) for q in questions]


def mixed_batch() -> list[Question]:
    out = []
    for i in range(30):
        out.append(question(f"tf{i}", "tf", "yes" if i % 2 else "no"))
        out.append(question(f"mc{i}", "mc", OPTIONS4[i % 4], OPTIONS4))
        out.append(question(f"sa{i}", "sa", f"species {i}"))
    return out


def test_oracle_answers_every_type_exactly_right() -> None:
    batch = mixed_batch()
    answers = OracleModel().answer(requests(batch), SETTINGS)
    assert answers == [q.truth for q in batch]
    assert sum(a == q.truth for a, q in zip(answers, batch, strict=True)) == 90


def test_chance_on_2000_balanced_true_false_questions_is_near_half() -> None:
    batch = [question(f"q{i:05d}", "tf", "yes" if i % 2 else "no") for i in range(2000)]
    answers = ChanceModel().answer(requests(batch), SETTINGS)
    assert set(answers) == {"yes", "no"}
    right = sum(a == q.truth for a, q in zip(answers, batch, strict=True))
    # Exact binomial test against p = 0.5: a fair coin is not rejected.
    assert stats.binomtest(right, 2000, 0.5).pvalue > 0.001
    assert 900 < right < 1100


def test_chance_multiple_choice_picks_each_position_uniformly() -> None:
    batch = [question(f"m{i}", "mc", OPTIONS4[0], OPTIONS4) for i in range(2000)]
    counts = Counter(ChanceModel().answer(requests(batch), SETTINGS))
    assert set(counts) == set(OPTIONS4)
    assert stats.chisquare([counts[o] for o in OPTIONS4]).pvalue > 0.001


def test_chance_is_reproducible_per_question_and_seed() -> None:
    batch = mixed_batch()
    first = ChanceModel().answer(requests(batch), SETTINGS)
    again = ChanceModel().answer(requests(batch), SETTINGS)
    reversed_batch = ChanceModel().answer(requests(batch[::-1]), SETTINGS)
    other_seed = ChanceModel(seed=7).answer(requests(batch), SETTINGS)
    assert first == again
    assert reversed_batch == first[::-1]
    assert other_seed != first
    assert ChanceModel(7).fingerprint == "chance-v1;seed=7" != ChanceModel().fingerprint


def test_chance_short_answer_uses_options_or_unknown() -> None:
    plain = question("s1", "sa", "Laysan Albatross")
    with_options = question("s2", "sa", "Laysan Albatross", OPTIONS4)
    assert ChanceModel().answer(requests([plain, with_options]), SETTINGS)[0] == UNKNOWN_ANSWER
    assert ChanceModel().answer(requests([with_options]), SETTINGS)[0] in OPTIONS4


@settings(max_examples=60, deadline=None)
@given(
    qid=st.text(min_size=1, max_size=20),
    qtype=st.sampled_from(["tf", "mc"]),
    options=st.lists(st.text(min_size=1, max_size=8), min_size=2, max_size=6, unique=True),
    seed=st.integers(0, 10_000),
)
def test_chance_answer_is_always_valid(qid: str, qtype: str, options: list[str], seed: int) -> None:
    q = question(qid, qtype, options[0], tuple(options))
    (answer,) = ChanceModel(seed).answer(requests([q]), SETTINGS)
    assert answer in q.valid_answers


def test_reference_models_need_the_question_record() -> None:
    batch = [AnswerRequest(IMAGE, "p", question("a", "tf", "yes")), AnswerRequest(IMAGE, "p")]
    for model in (OracleModel(), ChanceModel()):
        with pytest.raises(ModelError, match="request 1 has none"):
            model.answer(batch, SETTINGS)


def test_reference_models_reject_an_unknown_question_type() -> None:
    with pytest.raises(ModelError, match="type 'open'"):
        OracleModel().answer(requests([question("a", "open", "x")]), SETTINGS)


def test_reference_models_answer_only_and_have_constant_fingerprints() -> None:
    oracle, chance = OracleModel(), ChanceModel()
    assert oracle.fingerprint == "oracle-v1"
    assert chance.fingerprint == "chance-v1;seed=0"
    assert oracle.can_answer and chance.can_answer
    assert not oracle.can_encode and not chance.can_encode
    with pytest.raises(TypeError, match="cannot encode"):
        oracle.encode([IMAGE])


def test_registry_builds_the_references_with_their_args() -> None:
    assert isinstance(load_model("oracle"), OracleModel)
    chance = load_model("chance", seed="42", max_new_tokens="8")
    assert isinstance(chance, ChanceModel)
    assert chance.seed == 42


def test_reference_factories_refuse_unknown_or_bad_args() -> None:
    from pytest_fgbmk.models.options import ModelOptions

    with pytest.raises(ConfigError, match="'oracle' does not take model arg"):
        load_oracle(ModelOptions(extra={"seed": "1"}))
    with pytest.raises(ConfigError, match="'chance' does not take model arg.*temperature"):
        load_chance(ModelOptions(extra={"temperature": "1"}))
    with pytest.raises(ConfigError, match="seed must be an integer"):
        load_chance(ModelOptions(extra={"seed": "abc"}))


def test_constant_gives_one_answer_or_the_valid_answer_at_a_position():
    qs = [
        question("t", "tf", "yes"),
        question("m", "mc", OPTIONS4[2], OPTIONS4),
        question("s", "sa", OPTIONS4[0]),  # no options
    ]
    requests = [AnswerRequest(IMAGE, q.prompt, q) for q in qs]

    def answers(**args):
        return load_model("constant", **args).answer(requests, SETTINGS)

    assert answers() == ["No.", "No.", "No."]
    assert answers(answer="A") == ["A", "A", "A"]
    assert answers(answer="@first") == ["yes", OPTIONS4[0], UNKNOWN_ANSWER]
    assert answers(answer="@last") == ["no", OPTIONS4[3], UNKNOWN_ANSWER]
    assert load_model("constant", answer="@last").fingerprint == "constant-v1;answer=@last"
    with pytest.raises(ConfigError, match="model arg answer is empty for 'constant'"):
        load_model("constant", answer=" ")
    with pytest.raises(ConfigError, match="does not take model arg"):
        load_model("constant", seed="1")
