"""The optional judge (``--fgbmk-judge``): only answers the rules cannot decide reach it
(unparsed ones, and short answers naming another name), its reply is read strictly, its verdicts are cached, recorded as ``how="judge"``, and part of the recorded
scoring; against a fake judge and a local chat-completions endpoint."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_fgbmk import judge as judge_module
from pytest_fgbmk.cache import AnswerCache, NullCache
from pytest_fgbmk.engine import Answer
from pytest_fgbmk.errors import ConfigError, ModelError
from pytest_fgbmk.judge import (
    JUDGE_PROMPT,
    JUDGE_VERSION,
    Judge,
    grading_prompt,
    judge_answers,
    judged_scoring,
    needs_judge,
    parse_verdict,
)
from pytest_fgbmk.measurement import Asked, measure_questions
from pytest_fgbmk.models.registry import load_model
from pytest_fgbmk.questions.cases import Case
from pytest_fgbmk.questions.records import Question
from pytest_fgbmk.run.options import RunOptions
from pytest_fgbmk.scoring import Scored
from tests.fake_models import MURKY, FakeJudge
from tests.models.test_models_openai import KEY, ChatHandler, ChatServer, completion


def tf(i: int, truth: str = "yes") -> Question:
    return Question(
        id=f"q{i}",
        dataset="toy",
        image=f"img/{i}.png",
        prompt=f"Is this bird a red finch? ({i}) Answer yes or no.",
        qtype="tf",
        task="granularity",
        facet="species",
        category="red finch",
        truth=truth,
        template_id="t0",
    )


MC = Question(
    id="m1",
    dataset="toy",
    image="img/1.png",
    prompt="Which bird is this?\nA. red finch\nB. blue finch",
    qtype="mc",
    task="granularity",
    facet="species",
    category="blue finch",
    truth="blue finch",
    template_id="t0",
    options=("red finch", "blue finch"),
    lettered=True,
)
CASE = Case("toy", "granularity", "species", "tf")
ASKED = Asked("toy", "h", "original", "strict", None, 0)


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("right", "right"),
        ("Right.", "right"),
        ("  WRONG\n", "wrong"),
        ("**wrong**", "wrong"),
        ('"unclear"', "unclear"),
        ("<think>the response says blue</think>\nright", "right"),
        ("right or wrong", "unclear"),
        ("I think it is right", "unclear"),
        ("rightly", "unclear"),
        ("yes", "unclear"),
        ("", "unclear"),
        ("right.\nwrong.", "unclear"),
    ],
)
def test_the_judges_reply_is_read_strictly(reply, verdict):
    assert parse_verdict(reply) == verdict


def test_the_grading_prompt_holds_question_options_truth_and_response():
    text = grading_prompt(MC, "It's the second one, I reckon.")
    assert "Which bird is this?\nA. red finch\nB. blue finch" in text
    assert "Options: A) red finch; B) blue finch" in text
    assert "Correct answer: (B) blue finch" in text
    assert "<<<\nIt's the second one, I reckon.\n>>>" in text
    assert text.endswith("Reply with exactly one word: right, wrong or unclear.")
    assert "Correct answer: no\n" in grading_prompt(tf(1, "no"), "Mmm.")
    long = grading_prompt(tf(1), "x" * 5000)
    assert "x" * 4000 + "…\n>>>" in long and "x" * 4001 not in long
    # the version is a hash of the prompt text: any edit of the prompt changes it
    assert judge_module.sha256_hex(JUDGE_PROMPT + "|parse=1|select=2", 12) == JUDGE_VERSION


def test_only_answers_the_rules_cannot_decide_need_the_judge():
    assert needs_judge(Scored(False, None, "unparsed"), "Mmm.")
    assert not needs_judge(Scored(False, None, "unparsed"), "  ")
    for qtype in ("tf", "mc", "sa"):
        for how in ("refusal", "error", "hedge", "yesno", "letter", "synonym", "official"):
            assert not needs_judge(Scored(False, None, how), "Mmm.", qtype)
    # a short answer naming another name may be a synonym the data does not list ...
    assert needs_judge(Scored(False, "gsp", "text"), "GSP", "sa")
    # ... never a right one, nor another type's wrong option text
    assert not needs_judge(Scored(True, "x", "text"), "X", "sa")
    assert not needs_judge(Scored(False, "blue finch", "text"), "blue finch", "mc")
    assert not needs_judge(Scored(False, "gsp", "text"), "   ", "sa")


def sa(i: int) -> Question:
    return Question(
        id=f"s{i}",
        dataset="toy",
        image=f"img/{i}.png",
        prompt="Which breed is this dog? Directly answer with breed names.",
        qtype="sa",
        task="granularity",
        facet="breed",
        category="German short-haired pointer",
        truth="German short-haired pointer",
        template_id="t0",
    )


def test_short_answers_naming_another_name_are_judged_and_the_verdict_replaces_the_rule():
    qs = [sa(i) for i in range(5)]
    answers = {
        "s0": Answer("German shorthaired pointer"),  # the truth: never judged
        "s1": Answer("GSP rightish"),  # another name: judged right
        "s2": Answer("Vizsla wrongish"),  # another name: judged wrong
        "s3": Answer("German shorthaired pointer or vizsla"),  # a hedge: never judged
        "s4": Answer("Zorblax murky"),  # judged unclear: stays as the rules read it
    }
    fake = FakeJudge()
    judged = judge_answers(Judge(fake), qs, answers)
    assert fake.ids == ["s1", "s2", "s4"]
    assert judged == {"s1": True, "s2": False}
    case = Case("toy", "granularity", "breed", "sa")
    m = measure_questions(case, qs, answers, asked=ASKED, judged=judged)
    assert [o.how for o in m.outcomes] == ["text", "judge", "judge", "hedge", "text"]
    assert [o.correct for o in m.outcomes] == [True, True, False, False, False]
    assert (m.value, m.judged) == (40.0, 2)


def test_unparsed_answers_are_judged_parsed_errors_and_refusals_never(monkeypatch):
    qs = [tf(i) for i in range(7)]
    answers = {
        "q0": Answer("Yes."),  # parsed: right
        "q1": Answer("No."),  # parsed: wrong
        "q2": Answer(MURKY["right"]),
        "q3": Answer(MURKY["wrong"]),
        "q4": Answer(MURKY["unclear"]),
        "q5": Answer("", error="endpoint gave up"),
        "q6": Answer("I refuse zorblax."),  # a refusal (as the scorer will call it)
    }
    real = judge_module.score

    def score(q, text, mode="strict"):
        return Scored(False, None, "refusal") if "refuse" in text else real(q, text, mode)

    monkeypatch.setattr(judge_module, "score", score)
    fake = FakeJudge()
    judged = judge_answers(Judge(fake), qs, answers)
    assert fake.ids == ["q2", "q3", "q4"]
    assert judged == {"q2": True, "q3": False}  # unclear stays unparsed


def test_verdicts_are_cached_per_judge_and_response(tmp_path):
    qs = [tf(i) for i in range(4)]
    answers = {q.id: Answer(MURKY["right" if i % 2 else "wrong"]) for i, q in enumerate(qs)}
    cache = AnswerCache(tmp_path)
    first = Judge(FakeJudge(), cache)
    verdicts = judge_answers(first, qs, answers)
    assert verdicts == {"q0": False, "q1": True, "q2": False, "q3": True}
    assert (first.stats.asked, first.stats.cached, first.stats.right) == (4, 0, 2)
    again = FakeJudge()
    second = Judge(again, cache)
    assert judge_answers(second, qs, answers) == verdicts
    assert again.ids == [] and (second.stats.asked, second.stats.cached) == (0, 4)
    # a changed response is a new grading prompt: asked again, alone
    changed = {**answers, "q0": Answer(MURKY["right"] + " ")}
    assert judge_answers(Judge(again, cache), qs, changed)["q0"] is True
    assert again.ids == ["q0"]
    # another judge (fingerprint) shares nothing
    other = FakeJudge(fp="fake-judge-2")
    judge_answers(Judge(other, cache), qs, answers)
    assert sorted(other.ids) == ["q0", "q1", "q2", "q3"]
    cache.close()


def test_a_judged_answer_is_recorded_as_judge_and_counted():
    qs = [tf(i) for i in range(4)]
    answers = {
        "q0": Answer("Yes."),
        "q1": Answer(MURKY["right"]),
        "q2": Answer(MURKY["wrong"]),
        "q3": Answer(MURKY["unclear"]),
    }
    plain = measure_questions(CASE, qs, answers, asked=ASKED)
    assert [o.how for o in plain.outcomes] == ["yesno", "unparsed", "unparsed", "unparsed"]
    assert (plain.value, plain.unparsed_rate, plain.judged) == (25.0, 75.0, 0)
    # a verdict for a parsed answer (q0) never overrides the rule
    judged = {"q0": False, "q1": True, "q2": False}
    m = measure_questions(CASE, qs, answers, asked=ASKED, judged=judged)
    assert [o.how for o in m.outcomes] == ["yesno", "judge", "judge", "unparsed"]
    assert [o.correct for o in m.outcomes] == [True, True, False, False]
    assert (m.value, m.unparsed_rate, m.judged) == (50.0, 25.0, 2)


def test_the_judge_is_part_of_the_recorded_scoring():
    j = Judge(FakeJudge())
    assert judged_scoring("strict", None) == "strict"
    assert judged_scoring("strict", j.identity) == f"strict;judge={j.identity}"
    assert j.identity.startswith("fake-judge@") and ";" not in j.identity
    assert Judge(FakeJudge(fp="fake-judge-2")).identity != j.identity


def test_official_scoring_refuses_a_judge():
    with pytest.raises(ConfigError, match="--fgbmk-judge cannot be combined with --fgbmk-scor"):
        RunOptions(scoring="official", judge="tests.fake_models:judge").validate()
    with pytest.raises(ConfigError, match="--fgbmk-judge-arg is given without --fgbmk-judge"):
        RunOptions(judge_args=("log=x",)).validate()
    RunOptions(judge="tests.fake_models:judge").validate()


def test_a_failing_judge_is_a_model_error_naming_it():
    class Broken(FakeJudge):
        def answer(self, requests, settings):
            raise RuntimeError("CUDA error: device-side assert")

    with pytest.raises(ModelError, match=r"--fgbmk-judge fake-judge: the judge failed: Runtime"):
        judge_answers(Judge(Broken()), [tf(1)], {"q1": Answer(MURKY["right"])})


# -- against a local OpenAI-compatible endpoint ----------------------------------------------


class GradingHandler(ChatHandler):
    """Replies like a grading model: right/wrong by the marker word of the response."""

    def act(self, action: str, prompt: str, auth: str) -> None:
        response = prompt.split("<<<\n", 1)[1].split("\n>>>", 1)[0]
        with self.server.lock:
            self.server.successes[prompt] += 1
        self.reply(200, completion("Right" if "rightish" in response else "Wrong."))


@pytest.fixture
def grader(monkeypatch: pytest.MonkeyPatch) -> Iterator[ChatServer]:
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    srv = ChatServer()
    srv.RequestHandlerClass = GradingHandler
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def test_an_openai_endpoint_judges_and_a_second_run_asks_nothing(grader, tmp_path: Path):
    qs = [tf(i) for i in range(5)]
    answers = {
        "q0": Answer("Yes, it is."),
        "q1": Answer(MURKY["right"]),
        "q2": Answer(MURKY["wrong"]),
        "q3": Answer(MURKY["right"]),
        "q4": Answer("No."),
    }
    cache = AnswerCache(tmp_path)
    model = load_model("openai:grader-1", base_url=grader.base_url)
    judged = judge_answers(Judge(model, cache), qs, answers)
    assert judged == {"q1": True, "q2": False, "q3": True}
    assert sum(grader.successes.values()) == 3 and len(grader.payloads) == 3
    for payload in grader.payloads:  # (sent concurrently: in no fixed order)
        assert payload["model"] == "grader-1" and payload["temperature"] == 0.0
        assert payload["max_tokens"] == 16
    texts = sorted(p["messages"][-1]["content"][1]["text"] for p in grader.payloads)
    asked = [(qs[1], MURKY["right"]), (qs[2], MURKY["wrong"]), (qs[3], MURKY["right"])]
    assert texts == sorted(grading_prompt(q, r) for q, r in asked)
    again = judge_answers(
        Judge(load_model("openai:grader-1", base_url=grader.base_url), cache), qs, answers
    )
    assert again == judged and len(grader.payloads) == 3  # all from the cache
    cache.close()
    assert json.dumps(judged)  # plain types


def test_the_null_cache_asks_every_time():
    fake = FakeJudge()
    qs, answers = [tf(1)], {"q1": Answer(MURKY["wrong"])}
    judge_answers(Judge(fake, NullCache()), qs, answers)
    judge_answers(Judge(fake, NullCache()), qs, answers)
    assert fake.ids == ["q1", "q1"]


def test_official_scoring_refuses_the_extended_templates():
    """The extended MC templates ask for a letter; the release's rule scores the right letter
    wrong, so the combination would report a model's letters as 0."""
    from pytest_fgbmk.questions.records import Question
    from pytest_fgbmk.questions.templates import EXTENDED, format_options
    from pytest_fgbmk.scoring import score

    options = ("laysan albatross", "sooty albatross", "black footed albatross", "song sparrow")
    prompt = EXTENDED.mc[0].format(
        level="species", noun="aves", options=format_options(options, True)
    )
    q = Question("q1", "cub", "a.jpg", prompt, "mc", "granularity", "species", "c",
                 "black footed albatross", EXTENDED.template_id("mc", 0), options, True)  # fmt: skip
    letter = "C"
    assert q.lettered and "option's letter" in q.prompt
    assert score(q, letter, "strict").correct and not score(q, letter, "official").correct
    with pytest.raises(ConfigError) as e:
        RunOptions(templates="extended", scoring="official").validate()
    assert str(e.value).startswith(
        "--fgbmk-templates=extended cannot be combined with --fgbmk-scoring=official"
    )
    assert "\n" not in str(e.value)
    RunOptions(templates="extended").validate()
    RunOptions(scoring="official").validate()
