"""``openai:MODEL``: any OpenAI-compatible chat-completions endpoint (standard library only).

GPT-4o, Gemini's OpenAI-compatible endpoint, a vLLM or SGLang server. The base URL comes
from the ``base_url`` model arg or ``OPENAI_BASE_URL``; the key only from an environment
variable (``OPENAI_API_KEY``, or the one ``api_key_env`` names). The key is never an
option value and never appears in a fingerprint, log line, error or failed answer.

Requests go out in the order given (the engine's: the questions about one image one after
another, so a server's prefix cache reuses the image), at most ``concurrency`` at a time:
by default 64 for a self-hosted server (vLLM, SGLang: enough to keep one busy) and 8 for a
hosted API (api.openai.com, Azure OpenAI, Gemini: their rate limits); see
:data:`SELF_HOSTED_CONCURRENCY`. The engine's batches are at least
:data:`BATCH_PER_SLOT` times the concurrency (:attr:`OpenAICompatModel.min_batch_size`),
and the engine answers two batches at once (:attr:`OpenAICompatModel.concurrent_calls`;
the slots are shared), since a batch waits for its slowest request and would otherwise
leave slots idle. Each
image is encoded once per batch, by the first request that needs it, while the other
requests are already in flight.

Each request is sent with bounded concurrency, a socket timeout, and retries with
exponential backoff on 408, 409, 425, 429, 5xx, connection errors, timeouts and malformed
replies. The server's word wins, as in OpenAI's own client: ``x-should-retry: false`` is
never retried and ``x-should-retry: true`` always is (within ``max_retries``); the wait is
``retry-after-ms`` (milliseconds), else ``Retry-After`` (seconds or an HTTP date), else
the backoff, capped at ``max_retry_after``. A request that still fails becomes a
:class:`FailedAnswer`, and so does a reply whose content is empty, null or missing (never
an answer, so never cached).

Errors no retry can fix stop the run with one :class:`ModelUnusable` naming the model and
the endpoint and what to do: a 429 whose error type or code is ``insufficient_quota``, a
rejected key (401/403), an unknown model or URL (404), and a request refused as invalid
(400, except a refusal of one request's content: ``content_policy_violation``,
``invalid_image``...). The batch stops at the first one, and every later batch raises it
again without a request. Error bodies are read as OpenAI's
``{"error": {"message", "type", "code"}}``.

An endpoint that has answered nothing stops the run too (:class:`_Liveness`): when none of
the first :func:`dead_after` requests of a run got a reply that reads as a chat completion
(connection refused, 5xx, an HTML page, malformed JSON, each after its retries), the run
stops with one :class:`ModelUnusable` naming ``base_url`` and the last reason. Once the
endpoint has answered a request, failures stay per request, as above.
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import io
import json
import logging
import os
import random
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from PIL import Image

from pytest_fgbmk.errors import ConfigError, ModelUnusable
from pytest_fgbmk.models.base import (
    AnswerRequest,
    FailedAnswer,
    GenerationSettings,
    ModelAdapter,
)
from pytest_fgbmk.models.options import ModelOptions

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
BASE_URL_ENV = "OPENAI_BASE_URL"
REDACTED = "[redacted]"

#: Model args this adapter reads from ``ModelOptions.extra``, with their defaults.
ENDPOINT_DEFAULTS: dict[str, Any] = {
    "base_url": None,
    "api_key_env": DEFAULT_KEY_ENV,
    "concurrency": None,  # by endpoint: SELF_HOSTED_CONCURRENCY or HOSTED_CONCURRENCY
    "timeout": 60.0,
    "max_retries": 5,
    "backoff_base": 1.0,
    "backoff_max": 30.0,
    "max_retry_after": 120.0,
    "jpeg_quality": 90,
}
#: Requests in flight at once to a self-hosted server (vLLM, SGLang...) by default. Measured
#: with ``benchmarks/bench_openai_concurrency.py``: requests/s grows as min(concurrency,
#: server slots) / latency, so the client must keep at least as many requests in flight as
#: the server batches; a 7B vision-language model on one GPU should saturate its prefill
#: with a few dozen (an estimate, not measured on a server: Little's law with ~110
#: questions/s, LLaVA-1.5-7B's prefill bound on an H200, x ~0.3 s per request), so 64
#: leaves a margin without queueing hundreds of requests behind a slow one. Raise it for a server with several
#: GPUs or a smaller model (README: "OpenAI-compatible servers").
SELF_HOSTED_CONCURRENCY = 64
#: The default for a hosted API, whose per-minute rate limits a higher one would only hit.
HOSTED_CONCURRENCY = 8
#: Hosts (or host suffixes) of hosted APIs, which get :data:`HOSTED_CONCURRENCY`.
HOSTED_API_HOSTS = (
    "api.openai.com",
    ".openai.azure.com",
    "generativelanguage.googleapis.com",
    "api.anthropic.com",
    "api.mistral.ai",
    "api.together.xyz",
    "api.groq.com",
    "openrouter.ai",
)
#: The engine's batches hold at least this many requests per concurrency slot. A batch
#: waits for its slowest request; the engine answers two batches at once
#: (:attr:`OpenAICompatModel.concurrent_calls`) so the next one fills the slots its last
#: requests leave idle, which needs a next batch of a few requests per slot. Measured
#: (benchmarks/bench_openai_concurrency.py; 64 slots, 1 s per request varying uniformly
#: within +-50%, 1,024 requests at concurrency 64, load average 7 on 2 CPUs): requests/s
#: against the ideal at 1, 2, 4, 8 requests per slot: 87, 90, 93, 92% (one batch at a
#: time: 62, 69, 82, 88%). Larger batches gain nothing and hold more decoded images.
BATCH_PER_SLOT = 4
#: Consecutive failed requests, with no request answered yet, that stop the run as a dead
#: endpoint (see :func:`dead_after`).
DEAD_AFTER_MAX = 8
#: Arg names that would carry a secret: refused, so a key is never stored with options.
SECRET_ARGS = frozenset(
    {
        "api_key",
        "key",
        "openai_api_key",
        "token",
        "api_token",
        "authorization",
        "secret",
        "password",
    }
)

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BEARER = re.compile(r"(?i)bearer\s+\S+")
_RETRY_STATUSES = frozenset({408, 409, 425, 429})
#: Error types/codes of a 429 that no wait can fix (the account has no quota left).
QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached"})
#: Error codes of a 400 that refuse one request's content, not every request: per answer.
PER_REQUEST_CODES = frozenset(
    {
        "content_policy_violation",
        "content_filter",
        "invalid_image",
        "invalid_image_format",
        "invalid_image_url",
        "image_parse_error",
        "image_too_large",
        "context_length_exceeded",
    }
)


@dataclass(frozen=True)
class EndpointConfig:
    """Where and how requests are sent (none of it changes the answers, except the URL)."""

    base_url: str
    api_key_env: str
    concurrency: int
    timeout: float
    max_retries: int
    backoff_base: float
    backoff_max: float
    max_retry_after: float
    jpeg_quality: int

    @classmethod
    def from_options(cls, options: ModelOptions) -> EndpointConfig:
        extra = options.extra
        secret = sorted(SECRET_ARGS & set(extra))
        if secret:
            raise ConfigError(
                f"model arg {secret[0]!r} is refused: an API key is read from an environment "
                f"variable only; export {DEFAULT_KEY_ENV}=... or name another variable with "
                "api_key_env=MY_KEY_VARIABLE"
            )
        options.check_extra("openai:", ENDPOINT_DEFAULTS)
        values = {**ENDPOINT_DEFAULTS, **extra}
        base_url = str(values["base_url"] or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL)
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(bad_base_url(base_url))
        key_env = str(values["api_key_env"])
        if not _ENV_NAME.match(key_env):
            raise ConfigError(
                "model arg api_key_env must name an environment variable (e.g. MY_API_KEY), "
                "not hold the key itself"
            )
        if values["concurrency"] is None:
            values["concurrency"] = default_concurrency(base_url)
        config = cls(
            base_url=base_url.rstrip("/"),
            api_key_env=key_env,
            concurrency=_number("concurrency", values, int, 1),
            timeout=_number("timeout", values, float, 0.001),
            max_retries=_number("max_retries", values, int, 0),
            backoff_base=_number("backoff_base", values, float, 0.0),
            backoff_max=_number("backoff_max", values, float, 0.0),
            max_retry_after=_number("max_retry_after", values, float, 0.0),
            jpeg_quality=_number("jpeg_quality", values, int, 1),
        )
        if config.jpeg_quality > 100:
            raise ConfigError(f"model arg jpeg_quality must be 1..100, got {config.jpeg_quality}")
        return config


def bad_base_url(typed: str) -> str:
    """The one-line error for a ``base_url`` that is not an http(s) URL: what the user typed
    (credentials hidden) and what is expected, with a corrected guess when the scheme is
    missing (``localhost:8000`` -> ``http://localhost:8000/v1``)."""
    shown = re.sub(r"^([^/@]*://)?[^/@]*@", r"\1[redacted]@", typed.strip())
    example = "http://localhost:8000/v1"
    if "://" in shown:
        why = f"scheme {shown.split('://', 1)[0]!r}"
    else:
        why = "no scheme"
        host = shown.rstrip("/").rsplit("@", 1)[-1]  # credentials: not in the example
        if host:
            example = f"http://{host}" if "/" in host else f"http://{host}/v1"
    return (
        f"model arg base_url={shown!r} is not an http(s) URL ({why}); write a URL with "
        f"http:// or https://, e.g. base_url={example}"
    )


def dead_after(concurrency: int) -> int:
    """How many consecutive failed requests, before any request was answered, stop a run
    as a dead endpoint: ``min(DEAD_AFTER_MAX, concurrency)``.

    At most ``concurrency`` so the first wave of requests in flight together decides (a dead
    endpoint costs one request's retries, not one per request); each of them already failed
    every one of its ``max_retries + 1`` attempts, so one wave without a single reply is the
    endpoint, not the requests. At most :data:`DEAD_AFTER_MAX` so a high concurrency (64 for
    a self-hosted server) does not wait for 64 failures; and more than one where the
    concurrency allows, so one request that times out alone on a server still warming up
    does not stop a run that would go on.
    """
    return max(1, min(DEAD_AFTER_MAX, concurrency))


def default_concurrency(base_url: str) -> int:
    """The default ``concurrency`` for an endpoint: :data:`HOSTED_CONCURRENCY` for a hosted
    API (:data:`HOSTED_API_HOSTS`), :data:`SELF_HOSTED_CONCURRENCY` for any other host."""
    host = (urllib.parse.urlsplit(base_url).hostname or "").lower()
    hosted = any(
        host == h.lstrip(".") or (h.startswith(".") and host.endswith(h)) for h in HOSTED_API_HOSTS
    )
    return HOSTED_CONCURRENCY if hosted else SELF_HOSTED_CONCURRENCY


class OpenAICompatModel(ModelAdapter):
    """Answers through ``POST {base_url}/chat/completions``; one request per question."""

    can_answer = True
    can_encode = False
    #: The engine may have two batches in flight: the next batch's requests take the slots
    #: that the current batch's last requests leave idle (all within ``concurrency``).
    concurrent_calls = 2
    #: The images are sent as JPEG at this quality (the rest says where and how it asks).
    recorded_args = ("jpeg_quality",)

    def __init__(self, model: str, options: ModelOptions, config: EndpointConfig) -> None:
        self.model = model
        self.name = f"openai:{model}"
        self.options = options
        self.config = config
        self._key = os.environ.get(config.api_key_env, "")
        self._url = f"{config.base_url}/chat/completions"
        #: Set by a rejected key or unknown model/URL: every later request fails unsent.
        self._abort = _Abort()
        #: The concurrency slots, shared by overlapping calls of :meth:`answer`, granted in
        #: the order the requests were given (so the server sees the engine's order).
        self._slots = _OrderedSlots(config.concurrency)
        #: Whether the endpoint has answered yet in this run (else a dead one stops it).
        self._liveness = _Liveness(dead_after(config.concurrency))

    @property
    def min_batch_size(self) -> int:  # type: ignore[override]
        """:data:`BATCH_PER_SLOT` requests per concurrency slot (the engine's batch floor)."""
        return BATCH_PER_SLOT * self.config.concurrency

    @property
    def fingerprint(self) -> str:
        return (
            f"openai:{display_url(self.config.base_url, with_scheme=False)}:{self.model};"
            f"image_size={self.options.image_size};jpeg_quality={self.config.jpeg_quality};"
            f"sys={self.options.system_prompt or ''}"
        )

    def redact(self, text: str) -> str:
        """``text`` with the key and any bearer token replaced (safe to log or raise)."""
        if self._key:
            text = text.replace(self._key, REDACTED)
        return _BEARER.sub(f"Bearer {REDACTED}", text)

    def answer(
        self, requests: Sequence[AnswerRequest], settings: GenerationSettings
    ) -> list[str | FailedAnswer]:
        abort = self._abort
        if abort.reason:
            raise ModelUnusable(abort.reason)
        if not requests:
            return []
        workers = min(self.config.concurrency, len(requests))
        system = settings.system_prompt or self.options.system_prompt
        urls = _OncePerImage(self._data_url)
        tickets = [self._slots.ticket() for _ in requests]  # the order requests go out in

        def one(index: int) -> str | FailedAnswer:
            request = requests[index]
            try:
                body = self._body(urls.get(request.image), request.prompt, system, settings)
            except Exception as exc:  # noqa: BLE001 - one image's failure is its answers'
                self._slots.skip(tickets[index])
                return FailedAnswer(f"cannot encode the image as JPEG: {type(exc).__name__}: {exc}")
            return self._ask(index, body, abort, tickets[index])

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fgbmk-openai") as pool:
            # map submits in order, and the workers take requests in that order
            results = list(pool.map(one, range(len(requests))))
        if abort.reason:
            raise ModelUnusable(abort.reason)
        return results

    def _data_url(self, image: Image.Image) -> str:
        picture = image.convert("RGB")
        size = self.options.image_size
        if size and max(picture.size) > size:
            picture = picture.copy()
            picture.thumbnail((size, size), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=self.config.jpeg_quality)
        return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")

    def _body(
        self, data_url: str, prompt: str, system: str | None, settings: GenerationSettings
    ) -> bytes:
        messages: list[dict[str, Any]] = []
        if system:
            messages.append({"role": "system", "content": system})
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": data_url}},
                    {"type": "text", "text": prompt},
                ],
            }
        )
        payload = {
            "model": self.model,
            "messages": messages,
            "temperature": settings.temperature,
            "max_tokens": settings.max_new_tokens,
        }
        return json.dumps(payload).encode("utf-8")

    def _ask(self, index: int, body: bytes, abort: _Abort, ticket: int) -> str | FailedAnswer:
        """One request, with its retries; ``ticket``: its first attempt's turn for a slot
        (a retry takes the next free slot, before the requests waiting for their turn)."""
        attempts = self.config.max_retries + 1
        reason = ""
        replied = False
        for attempt in range(attempts):
            # at most `concurrency` requests in flight, all calls together, in order
            self._slots.acquire(ticket if attempt == 0 else None)
            try:
                if abort.reason:
                    return FailedAnswer("batch stopped: " + abort.reason)
                outcome = self._post(body)
            finally:
                self._slots.release()
            if isinstance(outcome, str):
                self._liveness.answered()
                return outcome
            reason = self.redact(outcome.reason)
            replied = outcome.replied
            if outcome.fatal and not (outcome.retry and attempt + 1 < attempts):
                abort.set(reason)
                return FailedAnswer(reason)
            if not outcome.retry:
                if outcome.replied:
                    self._liveness.answered()
                else:
                    self._check_dead(reason, attempt + 1, abort)
                self._liveness.warn(f"request {index} failed: {reason}")
                return FailedAnswer(reason)
            if attempt + 1 < attempts:
                delay = self._delay(attempt, outcome.retry_after)
                log.info(
                    "request %d attempt %d: %s; retrying in %.2fs",
                    index,
                    attempt + 1,
                    reason,
                    delay,
                )
                abort.wait(delay)
        if replied:
            self._liveness.answered()
        else:
            self._check_dead(reason, attempts, abort)
        self._liveness.warn(f"request {index} failed after {attempts} attempts: {reason}")
        return FailedAnswer(f"failed after {attempts} attempts: {reason}")

    def _check_dead(self, reason: str, attempts: int, abort: _Abort) -> None:
        """Count a failed request; stop the run (``abort``) when it is the
        :func:`dead_after`-th in a row and the endpoint has answered nothing yet."""
        count = self._liveness.failed()
        if not count:
            return
        where = display_url(self.config.base_url)
        abort.set(
            f"openai:{self.model} at {where} answered none of the first {count} requests "
            f"(each tried {attempts} time{'s' if attempts != 1 else ''}); last: {reason}; "
            f"is the server running at {where}? check base_url and the model name; "
            "the run stops"
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.config.max_retry_after)
        backoff = min(self.config.backoff_base * 2**attempt, self.config.backoff_max)
        return backoff * random.uniform(0.5, 1.0)

    def _post(self, body: bytes) -> str | _Failure:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        request = urllib.request.Request(self._url, data=body, headers=headers, method="POST")
        where = display_url(self._url)
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            return self._http_failure(err, where)
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
            detail = getattr(err, "reason", None) or err
            return _Failure(f"cannot reach {where}: {type(err).__name__}: {detail}", retry=True)
        return _parse_reply(raw)

    def _http_failure(self, err: urllib.error.HTTPError, where: str) -> _Failure:
        status = err.code
        try:
            raw = err.read()
        except (OSError, http.client.HTTPException):
            raw = b""
        finally:
            err.close()
        kind, code, message = _error_fields(raw)
        detail = message or _snippet(raw)
        said = f": {detail}" if detail else ""
        who = f"openai:{self.model} at {where}"
        text = f"HTTP {status} from {where}{said}"
        should = _should_retry(err.headers)
        retry_after = parse_retry_after(err.headers)
        fatal = ""
        if status == 429 and (kind in QUOTA_CODES or code in QUOTA_CODES):
            fatal = (
                f"{who}: HTTP 429 {code or kind}{said}; the account of the key in "
                f"{self.config.api_key_env} has no quota left (waiting cannot help): add "
                "credit or billing to that account, or use another key "
                "(api_key_env=OTHER_VARIABLE)"
            )
        elif status in (401, 403):
            fatal = (
                f"{who}: HTTP {status}{said}; the endpoint rejected the credentials: set "
                f"{self.config.api_key_env} to a valid key (or api_key_env=OTHER_VARIABLE)"
            )
        elif status == 404:
            fatal = (
                f"{who}: HTTP 404{said}; the endpoint has no model {self.model!r} or no "
                f"such URL: check the model name (GET {display_url(self.config.base_url)}"
                "/models lists them) and base_url"
            )
        elif status == 400 and code not in PER_REQUEST_CODES:
            fatal = (
                f"{who}: HTTP 400 {code or kind or 'invalid request'}{said}; the endpoint "
                f"refuses the requests as invalid: check that {self.model!r} takes images and "
                "the model args (max_new_tokens, system_prompt, image_size)"
            )
        if fatal:
            fatal += "; the run stops (no retry can succeed)"
        retry = not fatal and (status in _RETRY_STATUSES or status >= 500)
        if should is not None:  # the server's word wins (as in OpenAI's own client)
            retry = should
        replied = status == 400 and code in PER_REQUEST_CODES  # read, one request refused
        return _Failure(
            fatal or text,
            retry=retry,
            fatal=bool(fatal),
            retry_after=retry_after,
            replied=replied,
        )


@dataclass(frozen=True)
class _Failure:
    reason: str
    retry: bool = False
    fatal: bool = False
    retry_after: float | None = None
    #: The endpoint read the request and answered it as a chat endpoint does (an empty
    #: completion, one request's content refused): it is alive.
    replied: bool = False


class _Liveness:
    """Whether an endpoint has answered yet in this run, and the failed requests in a row
    before it did (shared by an adapter's workers)."""

    def __init__(self, limit: int) -> None:
        self._lock = threading.Lock()
        self._limit = limit
        self._answered = False
        self._streak = 0
        #: Warnings of requests that failed before the endpoint answered anything: shown
        #: once it answers (each failure then stands alone), dropped when the run stops as
        #: a dead endpoint (its one message names the last reason).
        self._held: list[str] = []

    def answered(self) -> None:
        """A request was answered: from now on failures stay per request (the warnings
        held until now are logged)."""
        with self._lock:
            held, self._held = self._held, []
            self._answered = True
            self._streak = 0
        for message in held:
            log.warning("%s", message)

    def warn(self, message: str) -> None:
        """Log a failed request's warning, or hold it while nothing has been answered."""
        with self._lock:
            if not self._answered:
                self._held.append(message)
                return
        log.warning("%s", message)

    def failed(self) -> int:
        """Count a failed request; the streak's length when it reaches the limit with no
        request answered yet (the endpoint is dead), else 0."""
        with self._lock:
            if self._answered:
                return 0
            self._streak += 1
            return self._streak if self._streak >= self._limit else 0


class _OrderedSlots:
    """A semaphore of ``limit`` slots granted strictly in ticket order (first come, first
    served, by the order tickets were issued, not the order threads happen to wake in).

    Every ticket must be either acquired or skipped, or the tickets after it wait forever.
    An acquire without a ticket (a retry) takes the next free slot before any ticket: a
    retry waiting behind tickets whose requests wait for its thread would never run. A
    waiter is woken alone (its own event), never all of them at each release.
    """

    def __init__(self, limit: int) -> None:
        self._lock = threading.Lock()
        self._free = limit
        self._issued = 0
        self._turn = 0
        self._waiting: dict[int, threading.Event] = {}
        self._skipped: set[int] = set()
        self._first: deque[threading.Event] = deque()

    def ticket(self) -> int:
        with self._lock:
            self._issued += 1
            return self._issued - 1

    def acquire(self, ticket: int | None) -> None:
        """Wait for a slot: at ``ticket``'s turn, or the next free one (None)."""
        event = threading.Event()
        with self._lock:
            if ticket is None:
                self._first.append(event)
            else:
                self._waiting[ticket] = event
            self._advance()
        event.wait()  # set once a slot was taken for this ticket

    def skip(self, ticket: int) -> None:
        """Give up a ticket's turn without taking a slot."""
        with self._lock:
            self._skipped.add(ticket)
            self._advance()

    def release(self) -> None:
        with self._lock:
            self._free += 1
            self._advance()

    def _advance(self) -> None:
        """Grant free slots to the waiting tickets whose turn it is (lock held)."""
        while self._free > 0 and self._first:
            self._free -= 1
            self._first.popleft().set()
        while True:
            if self._turn in self._skipped:
                self._skipped.discard(self._turn)
            elif self._free > 0 and self._turn in self._waiting:
                self._free -= 1
                self._waiting.pop(self._turn).set()
            else:
                return
            self._turn += 1


class _OncePerImage:
    """Each distinct image (by identity) encoded once, by the first thread that needs it;
    the others asking for the same image wait for that one. Raises what ``encode`` raised,
    to each thread that asks for that image."""

    def __init__(self, encode: Any) -> None:
        self._encode = encode
        self._lock = threading.Lock()
        self._slots: dict[int, tuple[threading.Lock, list[Any]]] = {}

    def get(self, image: Image.Image) -> str:
        with self._lock:
            lock, box = self._slots.setdefault(id(image), (threading.Lock(), []))
        with lock:
            if not box:
                try:
                    box.append((True, self._encode(image)))
                except Exception as exc:  # noqa: BLE001 - re-raised to every asker
                    box.append((False, exc))
        ok, value = box[0]
        if not ok:
            raise value
        return value


class _Abort:
    """A flag shared by an adapter's workers: set once by the first fatal failure."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._event = threading.Event()
        self.reason = ""

    def set(self, reason: str) -> None:
        with self._lock:
            self.reason = self.reason or reason
        self._event.set()

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the batch is stopped meanwhile."""
        self._event.wait(seconds)


def _parse_reply(raw: bytes) -> str | _Failure:
    try:
        data = json.loads(raw)
        message = data["choices"][0]["message"]
        content = message.get("content")
        finish = data["choices"][0].get("finish_reason")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return _Failure(f"malformed reply (not a chat completion): {_snippet(raw)}", retry=True)
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict)]
        content = "".join(p for p in parts if isinstance(p, str))
    if isinstance(content, str) and content.strip():
        return content
    what = "no text" if content is None else "empty text"
    return _Failure(f"reply has {what} (finish_reason={finish!r})", replied=True)


def _error_fields(raw: bytes) -> tuple[str, str, str]:
    """``(type, code, message)`` of an OpenAI-style error body (empty strings if absent)."""
    try:
        data = json.loads(raw)
    except ValueError:
        return "", "", ""
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, str):
        return "", "", _snippet(error.encode())
    if not isinstance(error, dict):
        return "", "", ""
    fields = [error.get(k) for k in ("type", "code", "message")]
    return tuple(_snippet(str(v).encode()) if v is not None else "" for v in fields)  # type: ignore[return-value]


def _header(headers: Any, name: str) -> str | None:
    """A header's value whatever its case (an ``http.client.HTTPMessage`` or a dict)."""
    if headers is None:
        return None
    for key, value in headers.items():
        if key.lower() == name:
            return str(value)
    return None


def _should_retry(headers: Any) -> bool | None:
    """The server's ``x-should-retry`` verdict: True, False, or None when it gave none."""
    value = _header(headers, "x-should-retry")
    if value is None:
        return None
    value = value.strip().lower()
    return True if value == "true" else False if value == "false" else None


def _snippet(raw: bytes, limit: int = 200) -> str:
    text = " ".join(raw.decode("utf-8", "replace").split())
    return text if len(text) <= limit else text[:limit] + "…"


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait: ``retry-after-ms`` (milliseconds) if the server sent one, else
    ``Retry-After`` (seconds or an HTTP date); None when neither is usable."""
    millis = _header(headers, "retry-after-ms")
    if millis:
        try:
            return max(float(millis.strip()) / 1000.0, 0.0)
        except ValueError:
            pass
    value = _header(headers, "retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def display_url(url: str, *, with_scheme: bool = True) -> str:
    """A URL without credentials, query or fragment: safe to show, log or fingerprint."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{netloc}{path}" if with_scheme else f"{netloc}{path}"


def _number(name: str, values: dict[str, Any], kind: type, minimum: float) -> Any:
    raw = values[name]
    try:
        number = kind(raw)
    except (TypeError, ValueError):
        raise ConfigError(
            f"model arg {name} must be a number ({kind.__name__}), got {raw!r}"
        ) from None
    if number < minimum:
        raise ConfigError(f"model arg {name} must be at least {minimum}, got {raw!r}")
    return number


def load_openai(model: str, options: ModelOptions) -> OpenAICompatModel:
    """The ``openai:MODEL`` factory. Refuses a key given as an option; needs one for OpenAI."""
    config = EndpointConfig.from_options(options)
    needs_key = urllib.parse.urlsplit(config.base_url).hostname == "api.openai.com"
    if needs_key and not os.environ.get(config.api_key_env):
        raise ConfigError(
            f"openai:{model} at {display_url(config.base_url)} needs a key: export "
            f"{config.api_key_env}=... (keys are read from the environment only)"
        )
    if config.api_key_env != DEFAULT_KEY_ENV and not os.environ.get(config.api_key_env):
        raise ConfigError(
            f"model arg api_key_env names {config.api_key_env}, which is not set in the "
            "environment; export it"
        )
    return OpenAICompatModel(model, options, config)
