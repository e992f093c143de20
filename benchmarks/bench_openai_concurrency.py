"""``openai:`` against a queueing OpenAI-compatible server: requests/s against concurrency.

A local stub chat-completions server (stdlib ``http.server``, one thread per connection,
run in its own process so it does not share the client's interpreter) serves at most
``--slots`` K requests at a time, each for a fixed ``--latency`` L seconds; the others
wait for a slot (first come, first served), as requests queue at a vLLM or SGLang server whose batch is
full. Its ideal throughput is therefore min(concurrency, K) / L requests per second.

Every request goes through the real adapter (``load_model("openai:...")``: JPEG and base64
encoding, JSON, urllib, retries) and the engine (image decode on prefetch threads, batches,
the order by image), at concurrency 1, 2, 4, ..., 256. Printed per concurrency: requests/s
against the ideal, the most requests the stub saw in flight at once (it must equal
min(concurrency, requests) and never exceed the concurrency), the engine's batch size, the
client's CPU per request, and the prefix-grouping hit rate the stub counted in the order it
served requests:

* consecutive: a request whose image is the one served just before it (a server's prefix
  cache holding only the last prefix would hit);
* window: a request whose image is among the last K served (a cache of K prefixes);

each as a share of the requests that can hit at all (every request but the first of each
image). The same questions sent in a shuffled order show what the grouping buys, and the
engine as it was (a fixed batch of 32, one batch at a time) at concurrency 64 shows what
the batch floor (``min_batch_size`` = 4 x concurrency) and two batches at once buy.
``--jitter 0.5`` varies each latency uniformly within +-50%.

The data: ``--images`` images (JPEG, 336 px, noise over a gradient so that they do not
compress to nothing) with 3 or 4 questions each (3.6 on average, as FG-BMK asks).

    python benchmarks/bench_openai_concurrency.py [--slots 64] [--latency 0.25] [--jitter 0]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zlib
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from _loadavg import reported  # noqa: E402  (benchmarks/ is the script's folder)

MAIN = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(MAIN))

CONCURRENCIES = (1, 2, 4, 8, 16, 32, 64, 128, 256)


# -- the stub server (its own process: python bench_openai_concurrency.py --serve K L) ------


class QueueingServer(ThreadingHTTPServer):
    """At most ``slots`` requests served at a time, each for ``latency`` seconds."""

    daemon_threads = True
    request_queue_size = 1024  # the listen backlog: 256 clients connect at once

    def __init__(self, slots: int, latency: float, jitter: float) -> None:
        super().__init__(("127.0.0.1", 0), QueueingHandler)
        self.slots = slots
        self.latency = latency
        self.jitter = jitter
        self.random = random.Random(0)
        self.slots_lock = threading.Lock()
        self.free = slots
        self.queue: deque[threading.Event] = deque()
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.arrived = 0
        self.served = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.consecutive = 0
        self.window_hits = 0
        self.images: set[int] = set()
        self.recent: deque[int] = deque(maxlen=self.slots)
        self.last: int | None = None

    def acquire(self) -> None:
        """A slot, first come first served (as vLLM and SGLang schedule by default)."""
        with self.slots_lock:
            if self.free > 0 and not self.queue:
                self.free -= 1
                return
            event = threading.Event()
            self.queue.append(event)
        event.wait()

    def release(self) -> None:
        with self.slots_lock:
            if self.queue:
                self.queue.popleft().set()  # the slot passes to the first waiter
            else:
                self.free += 1

    def stats(self) -> dict[str, int]:
        return {
            "arrived": self.arrived,
            "served": self.served,
            "max_in_flight": self.max_in_flight,
            "consecutive": self.consecutive,
            "window_hits": self.window_hits,
            "distinct_images": len(self.images),
        }


class QueueingHandler(BaseHTTPRequestHandler):
    server: QueueingServer
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # /stats
        with self.server.lock:
            body = json.dumps(self.server.stats()).encode()
        self.reply(body)

    def do_DELETE(self) -> None:  # /stats: reset the counters
        with self.server.lock:
            self.server.reset()
        self.reply(b"{}")

    def do_POST(self) -> None:
        srv = self.server
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        url = payload["messages"][-1]["content"][0]["image_url"]["url"]
        image = zlib.crc32(url.encode("ascii"))
        with srv.lock:
            srv.arrived += 1
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
        srv.acquire()
        try:
            with srv.lock:  # service starts: the order a server would prefill in
                srv.served += 1
                srv.consecutive += image == srv.last
                srv.window_hits += image in srv.recent
                srv.last = image
                srv.recent.append(image)
                srv.images.add(image)
                spread = srv.random.uniform(-srv.jitter, srv.jitter)
            time.sleep(srv.latency * (1.0 + spread))
        finally:
            srv.release()
        with srv.lock:
            srv.in_flight -= 1
        reply = {
            "id": "cmpl-stub",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "yes"}}],
        }
        self.reply(json.dumps(reply).encode())

    def reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(slots: int, latency: float, jitter: float) -> None:
    server = QueueingServer(slots, latency, jitter)
    print(server.server_address[1], flush=True)
    server.serve_forever(poll_interval=0.05)


class Stub:
    """The stub server in a child process; ``stats()`` and ``reset()`` over HTTP."""

    def __init__(self, slots: int, latency: float, jitter: float = 0.0) -> None:
        self.slots = slots
        self.latency = latency
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(slots), str(latency), str(jitter)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        port = int(self.process.stdout.readline())
        self.base_url = f"http://127.0.0.1:{port}/v1"

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(self.base_url + "/stats", timeout=10) as r:
            return json.loads(r.read())

    def reset(self) -> None:
        req = urllib.request.Request(self.base_url + "/stats", method="DELETE")
        urllib.request.urlopen(req, timeout=10).close()

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


# -- the client side -------------------------------------------------------------------


def make_jobs(root: Path, n_images: int) -> list:
    """``n_images`` 336 px JPEGs with 3 or 4 true/false questions each (3.6 on average)."""
    import numpy as np
    from PIL import Image

    from pytest_fgbmk.data.records import Category, Dataset, Sample
    from pytest_fgbmk.engine import jobs_for
    from pytest_fgbmk.questions.records import Question

    rng = np.random.default_rng(0)
    (root / "img").mkdir(parents=True, exist_ok=True)
    cats = (Category(0, "red finch", ("finch", "red finch")),)
    ramp = np.linspace(0, 255, 336, dtype=np.float32)
    samples, questions = [], []
    for i in range(n_images):
        rel = f"img/{i:05d}.jpg"
        noise = rng.normal(0, 24, (336, 336, 3)).astype(np.float32)
        pixels = np.clip(ramp[None, :, None] * 0.6 + (i * 37 % 100) + noise, 0, 255)
        Image.fromarray(pixels.astype(np.uint8)).save(root / rel, quality=90)
        samples.append(Sample(f"s{i}", rel, 0, cats[0].name, "test", cats[0].taxonomy))
        for k in range(4 if i % 5 < 3 else 3):
            questions.append(
                Question(
                    id=f"q{i:05d}-{k}",
                    dataset="bench",
                    image=rel,
                    prompt=f"Is this a red finch? ({k})",
                    qtype="tf",
                    task="granularity",
                    facet="species",
                    category=cats[0].name,
                    truth="yes",
                    template_id="t0",
                    sample_id=f"s{i}",
                )
            )
    ds = Dataset("bench", root, "bird", ("genus", "species"), cats, tuple(samples))
    return jobs_for(ds, questions)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def through_engine(stub: Stub, jobs: list, concurrency: int, *, floor: bool = True) -> dict:
    """The jobs through the engine and the adapter at ``concurrency``; the stub's counts."""
    from pytest_fgbmk.engine import Engine
    from pytest_fgbmk.models.registry import load_model

    model = load_model("openai:stub", base_url=stub.base_url, concurrency=str(concurrency))
    engine = Engine(model)
    if not floor:  # the engine before: its default batch of 32, one batch at a time
        engine.batch_size, engine.overlap = 32, 1
    stub.reset()
    t, cpu = time.perf_counter(), _cpu()
    answers = engine.run(jobs)
    wall, cpu = time.perf_counter() - t, _cpu() - cpu
    assert all(a.text == "yes" for a in answers.values()), "a request failed"
    return {**stub.stats(), "wall": wall, "cpu": cpu, "batch": engine.batch_size}


def shuffled(stub: Stub, jobs: list, concurrency: int) -> dict:
    """The same questions in a random order, straight to the adapter (no engine order)."""
    from pytest_fgbmk.models.base import AnswerRequest, GenerationSettings
    from pytest_fgbmk.models.registry import load_model

    model = load_model("openai:stub", base_url=stub.base_url, concurrency=str(concurrency))
    order = list(jobs)
    random.Random(0).shuffle(order)
    pictures = {j.sample.path: j.dataset.open_image(j.sample) for j in order}
    requests = [AnswerRequest(pictures[j.sample.path], j.question.prompt) for j in order]
    stub.reset()
    t = time.perf_counter()
    batch = 4 * concurrency
    for start in range(0, len(requests), batch):
        model.answer(requests[start : start + batch], GenerationSettings())
    return {**stub.stats(), "wall": time.perf_counter() - t, "cpu": 0.0, "batch": batch}


def hit_rates(s: dict) -> tuple[float, float]:
    possible = max(1, s["served"] - s["distinct_images"])
    return s["consecutive"] / possible, s["window_hits"] / possible


def row(label: str, c: int, s: dict, slots: int, latency: float) -> str:
    ideal = min(c, slots, s["served"]) / latency
    rate = s["served"] / s["wall"]
    consecutive, window = hit_rates(s)
    cpu_ms = 1000 * s["cpu"] / s["served"] if s["cpu"] else float("nan")
    return (
        f"{label:>9} {c:5d} {s['served']:6d} {s['batch']:6d} {rate:9.1f} {ideal:8.1f} "
        f"{rate / ideal:6.0%} {s['max_in_flight']:7d} {cpu_ms:7.2f} {consecutive:7.0%} {window:7.0%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=64, help="requests the stub serves at once")
    parser.add_argument("--latency", type=float, default=0.25, help="seconds per request")
    parser.add_argument(
        "--jitter",
        type=float,
        default=0.0,
        help="each latency drawn uniformly within +-this fraction of --latency (0: fixed)",
    )
    parser.add_argument("--seconds", type=float, default=4.0, help="target seconds per point")
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), float(args.serve[1]), float(args.serve[2]))
        return
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        os.environ.pop(name, None)  # loopback requests must not go through a proxy
    with reported(), tempfile.TemporaryDirectory() as tmp:
        jobs = make_jobs(Path(tmp), args.images)
        n_images = len({j.sample.path for j in jobs})
        stub = Stub(args.slots, args.latency, args.jitter)
        print(
            f"stub: {args.slots} slots x {args.latency:.3f} s (+-{args.jitter:.0%}) per request (ideal "
            f"{args.slots / args.latency:.0f} requests/s once concurrency >= {args.slots}); "
            f"{len(jobs)} questions about {n_images} images ({len(jobs) / n_images:.1f} each)"
        )
        head = (
            f"{'':>9} {'conc':>5} {'reqs':>6} {'batch':>6} {'req/s':>9} {'ideal':>8} "
            f"{'ratio':>6} {'inflght':>7} {'cpu ms':>7} {'consec':>7} {'window':>7}"
        )
        print(head)
        try:
            for c in CONCURRENCIES:
                ideal = min(c, args.slots) / args.latency
                batch = max(32, 4 * c)
                n = int(min(len(jobs), max(2 * batch if c > 8 else 0, ideal * args.seconds, 4 * c)))
                print(
                    row("engine", c, through_engine(stub, jobs[:n], c), args.slots, args.latency),
                    flush=True,
                )
            c = 64
            n = min(len(jobs), max(512, int(min(c, args.slots) / args.latency * args.seconds)))
            print(
                row(
                    "batch 32",
                    c,
                    through_engine(stub, jobs[:n], c, floor=False),
                    args.slots,
                    args.latency,
                )
            )
            print(row("shuffled", c, shuffled(stub, jobs[:n], c), args.slots, args.latency))
        finally:
            stub.close()
        print(
            "columns: req/s measured and ideal = min(conc, slots, reqs) / latency; inflght = the "
            "most requests the stub held at once; cpu ms = client CPU per request (engine, "
            "adapter, urllib; the stub runs in its own process); consec / window = prefix "
            "hits when the cache holds the last 1 / the last SLOTS images served, as a share "
            "of the requests that can hit (all but the first of each image). 'batch 32': the "
            "engine as it was (a fixed batch of 32, one batch at a time); 'shuffled': the same questions in a "
            "random order, without the engine's order by image."
        )


if __name__ == "__main__":
    main()
