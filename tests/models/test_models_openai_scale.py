"""``openai:`` at scale: the order requests go out in, and the concurrency really reached.

A local chat-completions server on 127.0.0.1 records the order requests arrive in and how
many it holds at once. Its gate holds every request until ``hold`` are in flight together
(or 10 s pass), so "the configured concurrency is reached" is an exact count, not a
timing: a client that never has ``hold`` requests out at once leaves the gate shut and
the count below it.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pytest_fgbmk.cache import open_cache
from pytest_fgbmk.engine import DEFAULT_BATCH_SIZE, Engine, Job, jobs_for
from pytest_fgbmk.errors import ModelUnusable
from pytest_fgbmk.models.base import AnswerRequest, GenerationSettings, ModelAdapter
from pytest_fgbmk.models.openai_compat import (
    BATCH_PER_SLOT,
    HOSTED_CONCURRENCY,
    SELF_HOSTED_CONCURRENCY,
    _OrderedSlots,
    default_concurrency,
)
from pytest_fgbmk.models.registry import load_model
from tests.plugin.plugin_helpers import make_dataset, make_questions

GATE_TIMEOUT_S = 10.0


class GateServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, hold: int, delay: float = 0.0) -> None:
        super().__init__(("127.0.0.1", 0), GateHandler)
        self.cond = threading.Condition()
        self.hold = hold
        self.delay = delay
        self.opened = False
        self.in_flight = 0
        self.max_in_flight = 0
        #: (prompt, image data URL) of each request, in arrival order
        self.arrivals: list[tuple[str, str]] = []
        #: prompts to answer with a 500 on their first attempt (a retry follows)
        self.fail_once: set[str] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class GateHandler(BaseHTTPRequestHandler):
    server: GateServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        srv = self.server
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        content = payload["messages"][-1]["content"]
        prompt, url = content[1]["text"], content[0]["image_url"]["url"]
        with srv.cond:
            srv.arrivals.append((prompt, url))
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
            if srv.in_flight >= srv.hold:
                srv.opened = True
                srv.cond.notify_all()
            srv.cond.wait_for(lambda: srv.opened, timeout=GATE_TIMEOUT_S)
            failing = prompt in srv.fail_once
            srv.fail_once.discard(prompt)
        if srv.delay:
            time.sleep(srv.delay)
        with srv.cond:
            srv.in_flight -= 1
        if failing:
            self.reply(500, b'{"error": {"message": "try again"}}')
        else:
            body = {"choices": [{"message": {"content": "answer to " + prompt}}]}
            self.reply(200, json.dumps(body).encode())

    def reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy for loopback requests; no key or base URL from the developer's shell."""
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture
def gate() -> Iterator[list[GateServer]]:
    """Start servers with ``start(hold, delay)``; all are stopped after the test."""
    servers: list[GateServer] = []
    yield servers
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def start(servers: list[GateServer], hold: int, delay: float = 0.0) -> GateServer:
    srv = GateServer(hold, delay)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    servers.append(srv)
    return srv


class Recorder(ModelAdapter):
    """Answers each prompt with itself and records the order prompts were asked in."""

    name = "recorder"
    can_answer = True

    def __init__(self) -> None:
        self.asked: list[str] = []

    @property
    def fingerprint(self) -> str:
        return "recorder"

    def answer(self, requests, settings):
        self.asked.extend(r.prompt for r in requests)
        return ["echo " + r.prompt for r in requests]


def scrambled_jobs(tmp_path: Path, n_images: int = 9, per_image: int = 4) -> list[Job]:
    ds = make_dataset(tmp_path / "data", n_images=n_images)
    questions = [
        replace(q, prompt=f"{q.prompt} [{q.id}]")  # a prompt names its question
        for q in make_questions(ds, per_image=per_image)
    ]
    jobs = jobs_for(ds, questions)
    random.Random(7).shuffle(jobs)
    return jobs


def image_order(jobs: list[Job]) -> list[str]:
    """The prompts in the order the engine must ask them: dataset, image file, id."""
    ordered = sorted(jobs, key=lambda j: (j.dataset.name, j.sample.path, j.question.id))
    return [j.question.prompt for j in ordered]


# -- the order ------------------------------------------------------------------------


def test_engine_asks_the_questions_about_one_image_one_after_another(tmp_path: Path) -> None:
    jobs = scrambled_jobs(tmp_path)
    model = Recorder()
    answers = Engine(model, batch_size=5).run(jobs)
    assert model.asked == image_order(jobs)
    assert answers == Engine(Recorder(), batch_size=5).run(list(reversed(jobs)))
    assert {qid: a.text for qid, a in answers.items()} == {
        j.question.id: "echo " + j.question.prompt for j in jobs
    }


def test_order_follows_the_sample_file_not_the_questions_spelling(tmp_path: Path) -> None:
    """An imported question may name its image otherwise (found by sample_id)."""
    jobs = scrambled_jobs(tmp_path, n_images=4, per_image=3)
    respelled = [
        Job(replace(j.question, image="./" + j.question.image), j.dataset, j.sample)
        if j.question.id.endswith("-1")
        else j
        for j in jobs
    ]
    model = Recorder()
    Engine(model, batch_size=4).run(respelled)
    assert model.asked == image_order(jobs)


def test_the_order_changes_no_cache_key(tmp_path: Path) -> None:
    jobs = scrambled_jobs(tmp_path)
    with closing(open_cache(tmp_path / "cache")) as cache:
        first = Engine(Recorder(), cache=cache, batch_size=5).run(jobs)
        again = Engine(Recorder(), cache=cache, batch_size=7).run(list(reversed(jobs)))
    assert all(a.cached for a in again.values())
    assert {q: a.text for q, a in again.items()} == {q: a.text for q, a in first.items()}


def test_requests_reach_the_server_in_the_engines_order_with_one_image_encoding(
    tmp_path: Path, gate: list[GateServer]
) -> None:
    srv = start(gate, hold=1)
    jobs = scrambled_jobs(tmp_path)
    model = load_model("openai:m", base_url=srv.base_url, concurrency="1")
    engine = Engine(model)
    engine.batch_size = 5  # groups of 4 questions cut across batches
    answers = engine.run(jobs)
    assert [p for p, _ in srv.arrivals] == image_order(jobs)
    assert all(
        a.text == "answer to " + j.question.prompt for j in jobs for a in [answers[j.question.id]]
    )
    urls: dict[str, set[str]] = {}
    for job in jobs:
        url = next(u for p, u in srv.arrivals if p == job.question.prompt)
        urls.setdefault(job.sample.path, set()).add(url)
    assert all(len(u) == 1 for u in urls.values())  # byte-identical: the prefix can be reused
    assert len({next(iter(u)) for u in urls.values()}) == 2  # the dataset's two colours


# -- the concurrency --------------------------------------------------------------------


def test_default_concurrency_keeps_a_self_hosted_server_busy_and_spares_hosted_apis(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert default_concurrency("http://localhost:8000/v1") == SELF_HOSTED_CONCURRENCY == 64
    assert default_concurrency("https://vllm.internal.example:443/v1") == 64
    assert default_concurrency("https://api.openai.com/v1") == HOSTED_CONCURRENCY == 8
    assert default_concurrency("https://my-res.openai.azure.com/openai") == 8
    assert default_concurrency("https://generativelanguage.googleapis.com/v1beta/openai") == 8
    assert default_concurrency("https://notopenai.azure.com.example/v1") == 64
    local = load_model("openai:m", base_url="http://127.0.0.1:9/v1")
    assert local.config.concurrency == 64
    assert local.min_batch_size == BATCH_PER_SLOT * 64 == 256
    assert Engine(local).batch_size == 256
    assert (
        load_model("openai:m", base_url="http://127.0.0.1:9/v1", concurrency="3").config.concurrency
        == 3
    )
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    hosted = load_model("openai:gpt-4o")
    assert (hosted.config.concurrency, Engine(hosted).batch_size) == (8, DEFAULT_BATCH_SIZE)


def test_the_engine_reaches_a_concurrency_above_its_default_batch(
    tmp_path: Path, gate: list[GateServer]
) -> None:
    """40 > the engine's default batch of 32: only larger batches can have 40 out at once."""
    concurrency = DEFAULT_BATCH_SIZE + 8
    srv = start(gate, hold=concurrency)
    jobs = scrambled_jobs(tmp_path, n_images=30, per_image=4)
    model = load_model("openai:m", base_url=srv.base_url, concurrency=str(concurrency))
    engine = Engine(model)
    answers = engine.run(jobs)
    assert srv.opened and srv.max_in_flight == concurrency
    assert engine.batch_size == BATCH_PER_SLOT * concurrency
    assert sorted(a.text for a in answers.values()) == sorted(
        "answer to " + j.question.prompt for j in jobs
    )


def test_overlapping_batches_never_exceed_the_concurrency_even_with_retries(
    tmp_path: Path, gate: list[GateServer]
) -> None:
    srv = start(gate, hold=5, delay=0.01)
    jobs = scrambled_jobs(tmp_path, n_images=24, per_image=4)  # 96 requests, batches of 20
    srv.fail_once = {j.question.prompt for j in jobs[::7]}
    model = load_model(
        "openai:m", base_url=srv.base_url, concurrency="5", backoff_base="0.001", backoff_max="0.01"
    )
    engine = Engine(model, batch_size=1)  # the model's floor: 4 x 5
    assert (engine.batch_size, engine.overlap) == (20, 2)
    answers = engine.run(jobs)
    assert srv.opened and srv.max_in_flight == 5
    assert len(srv.arrivals) == len(jobs) + len(jobs[::7])  # each failure retried once
    assert all(answers[j.question.id].text == "answer to " + j.question.prompt for j in jobs)
    assert engine.stats.batches == 5 and engine.stats.errors == 0
    assert 0 < engine.stats.model_s <= engine.stats.wall_s


class FailsOnCall(Recorder):
    """Overlapping calls allowed; the ``n``-th call raises what is given."""

    concurrent_calls = 2

    def __init__(self, n: int, error: Exception) -> None:
        super().__init__()
        self.n, self.error, self.calls = n, error, 0
        self.lock = threading.Lock()

    def answer(self, requests, settings):
        with self.lock:
            self.calls += 1
            call = self.calls
        if call == self.n:
            raise self.error
        time.sleep(0.05)  # the earlier call is still running when the failing one starts
        return super().answer(requests, settings)


def test_an_unusable_model_in_an_overlapped_run_keeps_the_earlier_answers_cached(
    tmp_path: Path,
) -> None:
    jobs = scrambled_jobs(tmp_path, n_images=6, per_image=4)
    with closing(open_cache(tmp_path / "cache")) as cache:
        with pytest.raises(ModelUnusable, match="no quota"):
            Engine(FailsOnCall(2, ModelUnusable("no quota")), cache=cache, batch_size=8).run(jobs)
        again = Engine(Recorder(), cache=cache, batch_size=8).run(jobs)
    cached = {j.question.prompt for j in jobs if again[j.question.id].cached}
    order = image_order(jobs)
    assert set(order[:8]) <= cached  # the batch answered before the failing one
    assert not cached & set(order[8:16])  # the failing batch: nothing


def test_overlapped_calls_answer_as_one_call_at_a_time(tmp_path: Path) -> None:
    jobs = scrambled_jobs(tmp_path, n_images=8, per_image=4)
    overlapped = Engine(FailsOnCall(0, RuntimeError("never")), batch_size=6)
    assert overlapped.overlap == 2
    one_by_one = Engine(Recorder(), batch_size=6)
    assert overlapped.run(jobs) == one_by_one.run(jobs)
    assert overlapped.stats.batches == one_by_one.stats.batches == 6
    assert overlapped.stats.model_s <= overlapped.stats.wall_s


# -- the ordered slots ------------------------------------------------------------------


def test_slots_are_granted_in_ticket_order_and_a_retry_goes_first() -> None:
    slots = _OrderedSlots(1)
    tickets = [slots.ticket() for _ in range(4)]
    granted: list[object] = []
    lock = threading.Lock()

    def take(label: object, ticket: int | None) -> None:
        slots.acquire(ticket)
        with lock:
            granted.append(label)
        time.sleep(0.01)
        slots.release()

    slots.acquire(None)  # the only slot is held while every waiter queues
    threads = [threading.Thread(target=take, args=(t, t)) for t in reversed(tickets[1:])]
    threads.append(threading.Thread(target=take, args=("retry", None)))
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while (len(slots._waiting) < 3 or not slots._first) and time.monotonic() < deadline:
        time.sleep(0.005)
    slots.skip(tickets[0])  # ticket 0 gave up (its image could not be encoded)
    slots.release()
    for thread in threads:
        thread.join(timeout=5)
    assert granted == ["retry", 1, 2, 3]


def test_an_image_that_cannot_be_encoded_fails_its_own_requests_only(
    tmp_path: Path, gate: list[GateServer]
) -> None:
    from PIL import Image

    srv = start(gate, hold=1)
    model = load_model("openai:m", base_url=srv.base_url, concurrency="1")
    good = Image.new("RGB", (8, 8), (1, 2, 3))
    broken = Image.new("RGB", (8, 8))
    broken.convert = None  # type: ignore[method-assign]  # encoding it raises TypeError
    requests = [
        AnswerRequest(im, p) for im, p in [(good, "a"), (broken, "b"), (broken, "c"), (good, "d")]
    ]
    out = model.answer(requests, GenerationSettings())
    assert out[0] == "answer to a" and out[3] == "answer to d"
    assert [type(o).__name__ for o in out[1:3]] == ["FailedAnswer", "FailedAnswer"]
    assert out[1].reason.startswith("cannot encode the image as JPEG: TypeError")
    assert [p for p, _ in srv.arrivals] == ["a", "d"]  # d's turn came: b and c gave theirs up
