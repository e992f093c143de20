"""The OpenAI-compatible adapter against a local chat-completions server on 127.0.0.1.

The server injects 429s (with Retry-After), 500s, slow replies, malformed JSON and
rejections, and counts per question the successful replies it sent, so the tests can
check every question is answered exactly once and the key never leaks.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from pytest_fgbmk.errors import ConfigError, ModelError, ModelUnusable
from pytest_fgbmk.models.base import AnswerRequest, FailedAnswer, GenerationSettings
from pytest_fgbmk.models.openai_compat import display_url, parse_retry_after
from pytest_fgbmk.models.registry import load_model

KEY = "sk-fgbmk-TESTKEY-4f9c2a7e1b"
WRONG_KEY = "sk-fgbmk-WRONGKEY-77aa01"
# Timeouts leave a wide margin for a loaded CI machine: a normal reply takes milliseconds.
SLOW_S = 2.5
FAST = {"backoff_base": "0.01", "backoff_max": "0.05", "timeout": "1.0"}


class ChatServer(ThreadingHTTPServer):
    """A chat-completions endpoint whose replies follow a per-prompt script."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ChatHandler)
        self.lock = threading.Lock()
        self.script: dict[str, list[str]] = {}
        self.retry_after = "0"
        self.attempts: Counter[str] = Counter()
        self.successes: Counter[str] = Counter()
        self.times: dict[str, list[float]] = {}
        self.payloads: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.delay = 0.0
        #: The action of an unscripted prompt ("ok": a normal answer).
        self.default = "ok"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class ChatHandler(BaseHTTPRequestHandler):
    server: ChatServer

    def log_message(self, format: str, *args: object) -> None:  # silence stderr
        pass

    def do_POST(self) -> None:
        srv = self.server
        body = self.rfile.read(int(self.headers["Content-Length"]))
        payload = json.loads(body)
        prompt = payload["messages"][-1]["content"][1]["text"]
        auth = self.headers.get("Authorization", "")
        with srv.lock:
            attempt = srv.attempts[prompt]
            srv.attempts[prompt] += 1
            srv.times.setdefault(prompt, []).append(time.monotonic())
            srv.payloads.append(payload)
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
        self.counted = True
        try:
            if self.path != "/v1/chat/completions":
                self.reply(404, b'{"error": "no such route"}')
                return
            if auth != f"Bearer {KEY}":
                # A careless server that echoes the credentials it was sent.
                self.reply(401, f'{{"error": "invalid key in {auth}"}}'.encode())
                return
            steps = srv.script.get(prompt, [])
            action = steps[attempt] if attempt < len(steps) else srv.default
            if srv.delay:
                time.sleep(srv.delay)
            self.act(action, prompt, auth)
        finally:
            self.uncount()

    def uncount(self) -> None:
        """This request leaves the in-flight count (once): before its reply is written,
        since a client with its answer may send the next request at once."""
        if getattr(self, "counted", False):
            self.counted = False
            with self.server.lock:
                self.server.in_flight -= 1

    def act(self, action: str, prompt: str, auth: str) -> None:
        if action == "429":
            self.reply(
                429, f"slow down ({auth})".encode(), {"Retry-After": self.server.retry_after}
            )
        elif action == "500":
            self.reply(500, f"internal error while serving {auth}".encode())
        elif action == "400":
            self.reply(400, error_body("invalid_request_error", None, "Invalid 'max_tokens'"))
        elif action == "400img":  # one request's image refused: not the others'
            self.reply(400, error_body("invalid_request_error", "invalid_image", "bad image"))
        elif action == "400img-retry":
            self.reply(
                400,
                error_body("invalid_request_error", "invalid_image", "try again"),
                {"x-should-retry": "true"},
            )
        elif action == "quota":
            self.reply(
                429,
                error_body("insufficient_quota", "insufficient_quota", "You exceeded your quota"),
                {"Retry-After": "0"},
            )
        elif action == "403":
            self.reply(403, error_body("permission_error", None, "no access to this model"))
        elif action == "404model":
            self.reply(
                404,
                error_body("invalid_request_error", "model_not_found", "The model does not exist"),
            )
        elif action == "503-no-retry":
            self.reply(503, b"overloaded", {"x-should-retry": "false"})
        elif action == "429ms":
            self.reply(429, b"slow down", {"retry-after-ms": "600", "Retry-After": "30"})
        elif action == "html":  # a web page, not an API (a wrong port or path)
            self.reply(200, b"<!DOCTYPE html><html><body>It works!</body></html>")
        elif action == "nope":  # JSON, but not a chat completion
            self.reply(200, b'{"choices": "nope"}')
        elif action == "emptystr":
            self.reply(200, completion(""))
        elif action == "blank":
            self.reply(200, completion("  \n "))
        elif action == "nocontent":
            self.reply(
                200,
                json.dumps(
                    {"choices": [{"message": {"role": "assistant"}, "finish_reason": "stop"}]}
                ).encode(),
            )
        elif action == "bad":
            self.reply(200, b'{"choices": [{"message": {"content": "trunc')
        elif action == "empty":
            self.reply(
                200,
                json.dumps(
                    {"choices": [{"message": {"content": None}, "finish_reason": "content_filter"}]}
                ).encode(),
            )
        elif action == "slow":
            time.sleep(SLOW_S)
            self.reply(200, completion("late " + prompt))  # the client gave up: not counted
        else:
            with self.server.lock:
                self.server.successes[prompt] += 1
            self.reply(200, completion("answer to " + prompt))

    def reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.uncount()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


def error_body(kind: str, code: str | None, message: str) -> bytes:
    """An OpenAI-style error reply body."""
    return json.dumps(
        {"error": {"message": message, "type": kind, "param": None, "code": code}}
    ).encode()


def completion(text: str) -> bytes:
    return json.dumps(
        {
            "id": "cmpl-1",
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
        }
    ).encode()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib honours proxy variables; loopback requests must not go through a CI proxy."""
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ChatServer]:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    srv = ChatServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "adapter.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("pytest_fgbmk")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield path
    logger.removeHandler(handler)
    logger.setLevel(old_level)
    handler.close()


def images(n: int) -> list[Image.Image]:
    return [Image.new("RGB", (64, 48), (40 * i % 256, 90, 200)) for i in range(n)]


def ask(prompts: list[str], pictures: list[Image.Image] | None = None) -> list[AnswerRequest]:
    pictures = pictures or images(3)
    return [AnswerRequest(pictures[i % len(pictures)], p) for i, p in enumerate(prompts)]


def assert_no_key_anywhere(root: Path, *keys: str) -> None:
    files = [p for p in root.rglob("*") if p.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        for key in keys:
            assert key.encode() not in data, f"key leaked into {path}"


def test_faulty_server_every_question_answered_exactly_once(
    server: ChatServer, log_file: Path, tmp_path: Path
) -> None:
    prompts = [f"q{i}" for i in range(24)]
    server.script = {
        "q0": ["429"],
        "q1": ["500", "500"],
        "q2": ["slow"],
        "q3": ["bad"],
        "q4": ["429", "500", "bad"],
        "q5": ["bad"] * 10,  # never recovers within the retries
        "q6": ["400img"],  # one request's input refused: not retried, the others go on
        "q7": ["empty"],  # no text (content filter) is not retried
        "q8": ["slow", "500"],
    }
    model = load_model(
        "openai:test-model", base_url=server.base_url, concurrency="4", max_retries="3", **FAST
    )
    started = time.monotonic()
    answers = model.answer(ask(prompts), GenerationSettings(max_new_tokens=7))
    assert time.monotonic() - started < 10

    failed = {"q5", "q6", "q7"}
    for prompt, answer in zip(prompts, answers, strict=True):
        if prompt in failed:
            assert isinstance(answer, FailedAnswer)
            assert server.successes[prompt] == 0
        else:
            assert answer == "answer to " + prompt
            assert server.successes[prompt] == 1
    assert answers[5].reason.startswith("failed after 4 attempts: malformed reply")
    assert answers[6].reason.startswith("HTTP 400 from http://127.0.0.1:")
    assert answers[6].reason.endswith("/v1/chat/completions: bad image")
    assert answers[7] == FailedAnswer("reply has no text (finish_reason='content_filter')")
    expected_attempts = {
        "q0": 2,
        "q1": 3,
        "q2": 2,
        "q3": 2,
        "q4": 4,
        "q5": 4,
        "q6": 1,
        "q7": 1,
        "q8": 3,
    }
    for prompt in prompts:
        assert server.attempts[prompt] == expected_attempts.get(prompt, 1), prompt
    assert server.max_in_flight <= 4

    (tmp_path / "answers.json").write_text(
        json.dumps([a if isinstance(a, str) else {"failed": a.reason} for a in answers])
    )
    (tmp_path / "fingerprint.txt").write_text(model.fingerprint)
    log_text = log_file.read_text()
    assert "retrying" in log_text and "HTTP 500" in log_text and "HTTP 429" in log_text
    assert "Bearer [redacted]" in log_text  # the echoed header was scrubbed, not dropped
    assert_no_key_anywhere(tmp_path, KEY)


def test_request_carries_key_prompt_image_and_settings(server: ChatServer) -> None:
    model = load_model(
        "openai:vision-1",
        base_url=server.base_url + "/",
        system_prompt="Answer yes or no.",
        image_size="32",
    )
    picture = Image.new("RGB", (64, 48), (255, 0, 0))
    out = model.answer([AnswerRequest(picture, "Is it red?")], GenerationSettings(max_new_tokens=5))
    assert out == ["answer to Is it red?"]
    (payload,) = server.payloads
    assert payload["model"] == "vision-1"
    assert payload["temperature"] == 0.0
    assert payload["max_tokens"] == 5
    assert payload["messages"][0] == {"role": "system", "content": "Answer yes or no."}
    image_part, text_part = payload["messages"][1]["content"]
    assert text_part == {"type": "text", "text": "Is it red?"}
    url = image_part["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert decoded.format == "JPEG"
    assert decoded.size == (32, 24)  # image_size bounds the longer side
    r, g, b = decoded.convert("RGB").getpixel((16, 12))
    assert r > 240 and g < 15 and b < 15


def test_generation_settings_system_prompt_wins(server: ChatServer) -> None:
    model = load_model("openai:m", base_url=server.base_url, system_prompt="from options")
    model.answer(ask(["a"]), GenerationSettings(system_prompt="from settings"))
    model.answer(ask(["b"]), GenerationSettings())
    first, second = server.payloads
    assert first["messages"][0]["content"] == "from settings"
    assert second["messages"][0]["content"] == "from options"
    plain = load_model("openai:m", base_url=server.base_url)
    plain.answer(ask(["c"]), GenerationSettings())
    assert [m["role"] for m in server.payloads[-1]["messages"]] == ["user"]


def test_retry_after_is_honoured(server: ChatServer) -> None:
    server.retry_after = "1"
    server.script = {"wait": ["429"]}
    model = load_model(
        "openai:m", base_url=server.base_url, backoff_base="0.001", backoff_max="0.001"
    )
    assert model.answer(ask(["wait"]), GenerationSettings()) == ["answer to wait"]
    first, second = server.times["wait"]
    assert second - first >= 0.95


def test_retry_after_is_capped(server: ChatServer) -> None:
    server.retry_after = "3600"
    server.script = {"wait": ["429", "429"]}
    model = load_model("openai:m", base_url=server.base_url, max_retry_after="0.02")
    started = time.monotonic()
    assert model.answer(ask(["wait"]), GenerationSettings()) == ["answer to wait"]
    assert time.monotonic() - started < 2


def test_concurrency_is_bounded(server: ChatServer) -> None:
    server.delay = 0.05
    model = load_model("openai:m", base_url=server.base_url, concurrency="3")
    prompts = [f"c{i}" for i in range(12)]
    assert model.answer(ask(prompts), GenerationSettings()) == ["answer to " + p for p in prompts]
    assert 1 <= server.max_in_flight <= 3


def test_rejected_key_stops_the_batch_without_leaking_it(
    server: ChatServer, monkeypatch: pytest.MonkeyPatch, log_file: Path, tmp_path: Path
) -> None:
    monkeypatch.setenv("FGBMK_OTHER_KEY", WRONG_KEY)
    model = load_model(
        "openai:m", base_url=server.base_url, api_key_env="FGBMK_OTHER_KEY", concurrency="1"
    )
    with pytest.raises(ModelError) as info:
        model.answer(ask([f"k{i}" for i in range(5)]), GenerationSettings())
    message = str(info.value)
    assert "HTTP 401" in message and "set FGBMK_OTHER_KEY to a valid key" in message
    assert "Bearer [redacted]" in message
    assert sum(server.attempts.values()) == 1  # the first rejection stopped the batch
    with pytest.raises(ModelError, match="HTTP 401"):
        model.answer(ask(["again"]), GenerationSettings())
    assert sum(server.attempts.values()) == 1  # and later batches send nothing
    (tmp_path / "error.txt").write_text(
        f"{info.value!r}\n{info.value.__cause__!r}\n{model.fingerprint}"
    )
    assert_no_key_anywhere(tmp_path, WRONG_KEY, KEY)


def test_unknown_route_is_a_model_error(server: ChatServer) -> None:
    model = load_model("openai:m", base_url=server.base_url + "/wrong")
    with pytest.raises(ModelUnusable) as info:
        model.answer(ask(["x"]), GenerationSettings())
    assert str(info.value) == (
        f"openai:m at {server.base_url}/wrong/chat/completions: HTTP 404: no such route; the "
        f"endpoint has no model 'm' or no such URL: check the model name (GET "
        f"{server.base_url}/wrong/models lists them) and base_url; the run stops (no retry "
        "can succeed)"
    )


WHERE = "{base}/chat/completions"


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (
            "quota",
            "openai:gpt-x at {where}: HTTP 429 insufficient_quota: You exceeded your quota; the "
            "account of the key in OPENAI_API_KEY has no quota left (waiting cannot help): add "
            "credit or billing to that account, or use another key (api_key_env=OTHER_VARIABLE)"
            "; the run stops (no retry can succeed)",
        ),
        (
            "403",
            "openai:gpt-x at {where}: HTTP 403: no access to this model; the endpoint rejected "
            "the credentials: set OPENAI_API_KEY to a valid key (or api_key_env=OTHER_VARIABLE)"
            "; the run stops (no retry can succeed)",
        ),
        (
            "404model",
            "openai:gpt-x at {where}: HTTP 404: The model does not exist; the endpoint has no "
            "model 'gpt-x' or no such URL: check the model name (GET {base}/models lists them) "
            "and base_url; the run stops (no retry can succeed)",
        ),
        (
            "400",
            "openai:gpt-x at {where}: HTTP 400 invalid_request_error: Invalid 'max_tokens'; the "
            "endpoint refuses the requests as invalid: check that 'gpt-x' takes images and the "
            "model args (max_new_tokens, system_prompt, image_size); the run stops (no retry "
            "can succeed)",
        ),
    ],
)
def test_errors_no_retry_can_fix_stop_the_batch_with_one_message(
    server: ChatServer, action: str, expected: str
) -> None:
    server.script = {"first": [action] * 10}
    model = load_model("openai:gpt-x", base_url=server.base_url, concurrency="1", **FAST)
    prompts = ["first", *(f"later{i}" for i in range(5))]
    with pytest.raises(ModelUnusable) as info:
        model.answer(ask(prompts), GenerationSettings())
    where = WHERE.format(base=server.base_url)
    assert str(info.value) == expected.format(where=where, base=server.base_url)
    assert server.attempts["first"] == 1  # never retried
    assert sum(server.attempts.values()) == 1  # and the batch stopped at it
    with pytest.raises(ModelUnusable):
        model.answer(ask(["again"]), GenerationSettings())
    assert sum(server.attempts.values()) == 1  # later batches send nothing


def test_x_should_retry_false_is_not_retried_and_true_is(server: ChatServer) -> None:
    server.script = {
        "no": ["503-no-retry", "ok"],
        "yes": ["400img-retry", "400img-retry", "ok"],
        "plain-503": ["500"],
    }
    model = load_model("openai:m", base_url=server.base_url, max_retries="3", **FAST)
    out = model.answer(ask(["no", "yes", "plain-503"]), GenerationSettings())
    assert out[0] == FailedAnswer(f"HTTP 503 from {server.base_url}/chat/completions: overloaded")
    assert out[1:] == ["answer to yes", "answer to plain-503"]
    assert server.attempts == Counter({"no": 1, "yes": 3, "plain-503": 2})


def test_retry_after_ms_wins_over_retry_after(server: ChatServer) -> None:
    server.script = {"wait": ["429ms"]}
    model = load_model("openai:m", base_url=server.base_url, max_retry_after="5", **FAST)
    started = time.monotonic()
    assert model.answer(ask(["wait"]), GenerationSettings()) == ["answer to wait"]
    first, second = server.times["wait"]
    assert second - first >= 0.55  # 600 ms, not the backoff's 10-50 ms
    assert time.monotonic() - started < 5  # and not Retry-After's 30 s (capped at 5)


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ("emptystr", "reply has empty text (finish_reason='stop')"),
        ("blank", "reply has empty text (finish_reason='stop')"),
        ("nocontent", "reply has no text (finish_reason='stop')"),
        ("empty", "reply has no text (finish_reason='content_filter')"),
    ],
)
def test_empty_or_missing_content_is_a_failed_answer_never_cached(
    server: ChatServer, tmp_path: Path, action: str, reason: str
) -> None:
    from pytest_fgbmk.cache import AnswerCache
    from pytest_fgbmk.engine import Engine, jobs_for
    from tests.plugin.plugin_helpers import make_dataset, make_questions

    ds = make_dataset(tmp_path / "data", n_images=2)
    questions = make_questions(ds, per_image=1)
    server.script = {questions[0].prompt: [action] * 10}
    model = load_model("openai:m", base_url=server.base_url, **FAST)
    cache = AnswerCache(tmp_path / "cache")
    engine = Engine(model, cache=cache, batch_size=4)
    answers = engine.run(jobs_for(ds, questions))
    assert answers[questions[0].id].error == reason
    assert answers[questions[1].id].text == "answer to " + questions[1].prompt
    assert (engine.stats.errors, engine.stats.computed) == (1, 2)
    again = Engine(model, cache=cache, batch_size=4).run(jobs_for(ds, questions))
    cache.close()
    assert not again[questions[0].id].cached and again[questions[1].id].cached
    assert server.attempts[questions[0].prompt] == 2  # asked again: nothing was cached


def test_an_unusable_endpoint_stops_the_engine_after_one_request(
    server: ChatServer, tmp_path: Path
) -> None:
    from pytest_fgbmk.engine import Engine, jobs_for
    from tests.plugin.plugin_helpers import make_dataset, make_questions

    ds = make_dataset(tmp_path / "data", n_images=6)
    questions = make_questions(ds, per_image=3)
    server.script = {q.prompt: ["quota"] for q in questions}
    model = load_model("openai:m", base_url=server.base_url, concurrency="1", **FAST)
    with pytest.raises(ModelUnusable, match="HTTP 429 insufficient_quota"):
        Engine(model, batch_size=4).run(jobs_for(ds, questions))
    assert sum(server.attempts.values()) == 1  # not split, not retried, not continued


def test_unreachable_endpoint_fails_each_request_after_retries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    model = load_model("openai:m", base_url=f"http://127.0.0.1:{port}/v1", max_retries="1", **FAST)
    answers = model.answer(ask(["a", "b"]), GenerationSettings())
    assert all(isinstance(a, FailedAnswer) for a in answers)
    assert answers[0].reason.startswith(
        f"failed after 2 attempts: cannot reach http://127.0.0.1:{port}/v1"
    )
    assert KEY not in answers[0].reason


def test_empty_batch_sends_nothing(server: ChatServer) -> None:
    assert load_model("openai:m", base_url=server.base_url).answer([], GenerationSettings()) == []
    assert not server.payloads


def test_fingerprint_names_endpoint_model_and_settings_never_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    base = "https://user:pw@gateway.example.com:8443/v1/?token=abc"
    a = load_model("openai:gpt-4o", base_url=base, concurrency="2", image_size="512")
    b = load_model("openai:gpt-4o", base_url=base, concurrency="16", timeout="5", image_size="512")
    c = load_model("openai:gpt-4o", base_url=base, image_size="256")
    assert a.fingerprint == (
        "openai:gateway.example.com:8443/v1:gpt-4o;image_size=512;jpeg_quality=90;sys="
    )
    assert a.fingerprint == b.fingerprint != c.fingerprint
    assert display_url(base) == "https://gateway.example.com:8443/v1"
    assert KEY not in a.fingerprint


def test_base_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://10.0.0.5:8000/v1")
    assert load_model("openai:qwen").config.base_url == "http://10.0.0.5:8000/v1"
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="needs a key: export OPENAI_API_KEY"):
        load_model("openai:gpt-4o")


@pytest.mark.parametrize("arg", ["api_key", "key", "token", "openai_api_key"])
def test_a_key_given_as_an_option_is_refused_without_echo(
    arg: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with pytest.raises(ConfigError) as info:
        load_model("openai:gpt-4o", **{arg: WRONG_KEY})
    assert f"model arg {arg!r} is refused" in str(info.value)
    assert WRONG_KEY not in str(info.value)


def test_bad_endpoint_args_are_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with pytest.raises(ConfigError) as info:
        load_model("openai:m", api_key_env=WRONG_KEY)
    assert "must name an environment variable" in str(info.value)
    assert WRONG_KEY not in str(info.value)
    with pytest.raises(ConfigError, match="FGBMK_UNSET_VARIABLE, which is not set"):
        load_model("openai:m", base_url="http://127.0.0.1:1/v1", api_key_env="FGBMK_UNSET_VARIABLE")
    with pytest.raises(ConfigError, match="concurency='4' is not known to openai: .did you mean"):
        load_model("openai:m", concurency="4")
    with pytest.raises(ConfigError, match="concurrency must be at least 1"):
        load_model("openai:m", concurrency="0")
    with pytest.raises(ConfigError, match=r"timeout must be a number \(float\), got 'soon'"):
        load_model("openai:m", timeout="soon")
    with pytest.raises(ConfigError, match="base_url='ftp://host/v1' is not an http.s. URL .scheme"):
        load_model("openai:m", base_url="ftp://host/v1")


def test_retry_after_parsing() -> None:
    assert parse_retry_after({"retry-after-ms": "250", "Retry-After": "9"}) == 0.25
    assert parse_retry_after({"Retry-After-Ms": "1500"}) == 1.5
    assert parse_retry_after({"retry-after-ms": "soon", "retry-after": "3"}) == 3.0
    assert parse_retry_after({"Retry-After": "2"}) == 2.0
    assert parse_retry_after({"Retry-After": "0.5"}) == 0.5
    assert parse_retry_after({"Retry-After": "-3"}) == 0.0
    assert parse_retry_after({}) is None
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 100))
    assert 90 < parse_retry_after({"Retry-After": future}) <= 100


def test_no_quota_stops_a_pytest_run_with_one_line_once(server: ChatServer, run) -> None:
    server.script = {}
    server.default = "quota"
    result = run(
        "-m",
        "fgbmk_human",
        "--fgbmk-no-cache",
        "-k",
        "synth_birds",
        "--fgbmk-model=openai:gpt-x",
        "--fgbmk-model-arg",
        f"base_url={server.base_url}",
        "--fgbmk-model-arg",
        "concurrency=1",
    )
    text = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in text and "Traceback" not in text
    full = (
        f"openai:gpt-x at {server.base_url}/chat/completions: HTTP 429 insufficient_quota: You "
        "exceeded your quota; the account of the key in OPENAI_API_KEY has no quota left "
        "(waiting cannot help): add credit or billing to that account, or use another key "
        "(api_key_env=OTHER_VARIABLE); the run stops (no retry can succeed)"
    )
    assert text.count(full) == 1  # shown in full once, under the run errors
    assert result.ret == 1
    assert sum(server.attempts.values()) == 1  # one request, then the whole run stopped
