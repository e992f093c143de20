"""An endpoint that answers nothing stops the run with one line (``openai:``, as the model
and as the judge); a typo'd model arg gets a "did you mean"; a ``base_url`` without a
scheme is echoed as typed, with the URL expected. Against a local chat-completions server
(``ChatServer``) and a closed port on 127.0.0.1 (connection refused)."""

from __future__ import annotations

import socket
import time

import pytest

from pytest_fgbmk.engine import Answer
from pytest_fgbmk.errors import ConfigError, ModelError, ModelUnusable, UnknownModelArg
from pytest_fgbmk.judge import Judge, judge_answers
from pytest_fgbmk.models import openai_compat
from pytest_fgbmk.models.base import FailedAnswer, GenerationSettings
from pytest_fgbmk.models.registry import load_model
from tests.fake_models import MURKY
from tests.models.test_models_openai import KEY, ChatServer, ask
from tests.models.test_models_openai import server as server  # the local endpoint fixture
from tests.test_judge import tf

#: No backoff to speak of, one retry: a dead endpoint is found in well under a second.
QUICK = {"backoff_base": "0.01", "backoff_max": "0.02", "timeout": "2.0", "max_retries": "1"}
SETTINGS = GenerationSettings(max_new_tokens=5)


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key set, no base URL from the environment, and no proxy for loopback requests."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def closed_url(monkeypatch: pytest.MonkeyPatch) -> str:
    """A base URL on a loopback port nothing listens on (bound, then closed)."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_dead_after_is_the_first_wave_capped_at_eight() -> None:
    assert [openai_compat.dead_after(c) for c in (1, 2, 4, 8, 9, 64)] == [1, 2, 4, 8, 8, 8]


def test_connection_refused_stops_after_the_first_wave(closed_url: str) -> None:
    model = load_model("openai:gpt-x", base_url=closed_url, concurrency="4", **QUICK)
    started = time.monotonic()
    with pytest.raises(ModelUnusable) as info:
        model.answer(ask([f"q{i}" for i in range(200)]), SETTINGS)
    assert time.monotonic() - started < 10  # not 200 requests' retries
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(
        f"openai:gpt-x at {closed_url} answered none of the first 4 requests "
        f"(each tried 2 times); last: cannot reach {closed_url}/chat/completions: "
    )
    assert "Connection refused" in message or "ConnectionRefusedError" in message
    assert message.endswith(
        f"is the server running at {closed_url}? check base_url and the model name; the run stops"
    )
    with pytest.raises(ModelUnusable, match="answered none of the first 4"):  # at once, again
        model.answer(ask(["again"]), SETTINGS)


@pytest.mark.parametrize(
    ("action", "last"),
    [
        ("500", "last: HTTP 500 from http://127.0.0.1:"),
        ("html", "last: malformed reply (not a chat completion): <!DOCTYPE html>"),
        ("nope", """last: malformed reply (not a chat completion): {"choices": "nope"}"""),
    ],
)
def test_a_server_that_never_answers_stops_the_run(
    server: ChatServer, action: str, last: str
) -> None:
    server.default = action
    model = load_model("openai:gpt-x", base_url=server.base_url, concurrency="3", **QUICK)
    with pytest.raises(ModelUnusable) as info:
        model.answer(ask([f"q{i}" for i in range(120)]), SETTINGS)
    message = str(info.value)
    assert f"at {server.base_url} answered none of the first 3 requests" in message
    assert last in message
    assert f"is the server running at {server.base_url}?" in message
    # the first wave and the requests that took its freed slots, not all 120 (x2 attempts)
    assert sum(server.attempts.values()) <= 2 * (3 + 3)


def test_once_answered_failures_stay_per_request(server: ChatServer) -> None:
    model = load_model("openai:gpt-x", base_url=server.base_url, concurrency="3", **QUICK)
    assert model.answer(ask(["first"]), SETTINGS) == ["answer to first"]
    server.default = "500"
    prompts = [f"q{i}" for i in range(12)]
    answers = model.answer(ask(prompts), SETTINGS)
    assert all(isinstance(a, FailedAnswer) for a in answers)
    assert answers[0].reason.startswith("failed after 2 attempts: HTTP 500 from ")
    assert sum(server.attempts[p] for p in prompts) == 2 * 12  # every request tried


def test_a_chat_reply_without_text_shows_the_endpoint_is_alive(server: ChatServer) -> None:
    server.default = "empty"  # a completion with no content: read, answered, per request
    model = load_model("openai:gpt-x", base_url=server.base_url, concurrency="2", **QUICK)
    answers = model.answer(ask([f"q{i}" for i in range(10)]), SETTINGS)
    assert answers == [FailedAnswer("reply has no text (finish_reason='content_filter')")] * 10


def test_a_typo_in_a_model_arg_gets_did_you_mean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with pytest.raises(UnknownModelArg) as info:
        load_model("openai:m", base_url="http://127.0.0.1:1/v1", concurency="8")
    message = str(info.value)
    assert message.startswith(
        "model arg concurency='8' is not known to openai: (did you mean concurrency?); "
        "openai: accepts api_key_env, backoff_base,"
    )
    assert "\n" not in message


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        (
            "localhost:8000",
            "model arg base_url='localhost:8000' is not an http(s) URL (no scheme); write a "
            "URL with http:// or https://, e.g. base_url=http://localhost:8000/v1",
        ),
        (
            "127.0.0.1:8000/v1/",
            "model arg base_url='127.0.0.1:8000/v1/' is not an http(s) URL (no scheme); write "
            "a URL with http:// or https://, e.g. base_url=http://127.0.0.1:8000/v1",
        ),
        (
            "ftp://host/v1",
            "model arg base_url='ftp://host/v1' is not an http(s) URL (scheme 'ftp'); write a "
            "URL with http:// or https://, e.g. base_url=http://localhost:8000/v1",
        ),
        (
            "me:s3cret@localhost:8000",
            "model arg base_url='[redacted]@localhost:8000' is not an http(s) URL (no scheme); "
            "write a URL with http:// or https://, e.g. base_url=http://localhost:8000/v1",
        ),
    ],
)
def test_a_base_url_without_a_scheme_is_shown_as_typed(
    monkeypatch: pytest.MonkeyPatch, typed: str, expected: str
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with pytest.raises(ConfigError) as info:
        load_model("openai:m", base_url=typed)
    assert str(info.value) == expected


def test_a_dead_judge_endpoint_is_a_model_error_naming_the_judge(closed_url: str) -> None:
    judge = Judge(load_model("openai:grader", base_url=closed_url, concurrency="2", **QUICK))
    questions = [tf(i) for i in range(40)]
    answers = {q.id: Answer(MURKY["right"]) for q in questions}
    with pytest.raises(ModelError) as info:
        judge_answers(judge, questions, answers)
    assert str(info.value).startswith(
        f"--fgbmk-judge openai:grader: openai:grader at {closed_url} answered none of the "
        "first 2 requests"
    )
    assert judge.stats.asked == 0  # the batch raised: no verdicts counted as failed


# -- through pytest: the run stops with the one line, once ------------------------------------

DEAD_ARGS = ("concurrency=2", "max_retries=0", "timeout=2.0")


def test_a_dead_model_endpoint_stops_a_pytest_run_with_one_line(closed_url: str, run) -> None:
    args = [a for pair in DEAD_ARGS for a in ("--fgbmk-model-arg", pair)]
    result = run(
        "-m",
        "fgbmk_human",
        "--fgbmk-no-cache",
        "-k",
        "synth_birds",
        "--fgbmk-model=openai:gpt-x",
        "--fgbmk-model-arg",
        f"base_url={closed_url}",
        *args,
    )
    text = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in text and "Traceback" not in text
    head = f"openai:gpt-x at {closed_url} answered none of the first 2 requests (each tried 1 time)"
    tail = f"is the server running at {closed_url}? check base_url and the model name"
    lines = [line for line in text.splitlines() if head in line]
    assert len(lines) == 1 and tail in lines[0]
    assert result.ret == 1


def test_a_dead_judge_endpoint_stops_a_pytest_run(closed_url: str, run) -> None:
    args = [a for pair in DEAD_ARGS for a in ("--fgbmk-judge-arg", pair)]
    result = run(
        "-m",
        "fgbmk_human",
        "--fgbmk-no-cache",
        "-k",
        "wing_color",
        "--fgbmk-model=tests.fake_models:murky",
        "--fgbmk-judge=openai:grader",
        f"--fgbmk-judge-arg=base_url={closed_url}",
        *args,
    )
    text = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in text and "Traceback" not in text
    assert "decided 0 answers" not in text
    head = (
        f"--fgbmk-judge openai:grader: openai:grader at {closed_url} answered none of the "
        "first 2 requests"
    )
    assert len([line for line in text.splitlines() if head in line]) == 1
    assert result.ret == 1


def test_a_dead_endpoint_prints_its_one_line_and_no_request_warnings(
    closed_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: one warning per failed request of the first wave printed above the stop."""
    model = load_model("openai:gpt-x", base_url=closed_url, concurrency="4", **QUICK)
    with (
        caplog.at_level("WARNING", logger=openai_compat.__name__),
        pytest.raises(ModelUnusable, match="answered none of the first 4"),
    ):
        model.answer(ask([f"q{i}" for i in range(40)]), SETTINGS)
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == []


def test_failures_before_the_first_answer_are_shown_once_it_answers(
    server: ChatServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Failures short of the dead-endpoint stop are not lost: held, then logged."""
    server.script = {"bad": ["500", "500"]}
    model = load_model("openai:gpt-x", base_url=server.base_url, concurrency="1", **QUICK)
    model._liveness = openai_compat._Liveness(2)  # two failures in a row would stop the run
    with caplog.at_level("WARNING", logger=openai_compat.__name__):
        answers = model.answer(ask(["bad", "good"]), SETTINGS)
    assert isinstance(answers[0], FailedAnswer) and answers[1] == "answer to good"
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1
    assert warned[0].startswith("request 0 failed after 2 attempts: HTTP 500 from ")
