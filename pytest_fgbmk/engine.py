"""Batched, cached, resumable inference over a session's questions.

The engine takes every question a session needs, drops those already answered in the
cache, sorts the rest by image so questions about one image share a batch and go out one
after another (each image decoded once per batch; a server's prefix cache reuses the
image for the next question), cuts batches of at least the model's ``min_batch_size`` (a
remote endpoint's concurrency is reached only by batches several times larger), decodes
the next batches in background threads while the model works on the current one, and
commits each batch's answers to the cache as it finishes (:class:`CommitPolicy`: batches
the model answered in under 50 ms are committed together, at least every 2 seconds: a commit
costs milliseconds, which a free model such as ``oracle`` or a cache-warm judge would
otherwise pay per batch).

Failures are contained: a CUDA out-of-memory halves the batch size (remembered for the
rest of the run) and retries; any other error splits the batch in halves, down to single
requests; a request that fails alone becomes an error :class:`Answer` (counted, never
cached); an empty text is counted in ``empty`` and never cached either. Every split is
counted (:attr:`EngineStats.splits`, with the smallest size a split reached and the first
error that caused one), so that a model whose batched call always fails is reported, not
silently answered one request at a time. A :class:`~pytest_fgbmk.errors.ModelUnusable`
(no quota, a rejected key, an unknown model: nothing can succeed) is not contained: it
stops :meth:`Engine.run` at once (answers of earlier batches stay cached). An
image that cannot be read is not the model's failure: it raises a
:class:`~pytest_fgbmk.errors.DataFormatError` naming the file (answers of earlier batches
stay cached).
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_fgbmk.cache import CacheKey, NullCache, prompt_hash
from pytest_fgbmk.errors import DataFormatError, FgbmkError, ModelUnusable
from pytest_fgbmk.models.base import AnswerRequest, GenerationSettings, ModelAdapter
from pytest_fgbmk.prefetch import prefetched
from pytest_fgbmk.progress import Progress, ProgressOutput

if TYPE_CHECKING:
    from pytest_fgbmk.cache import AnswerCache
    from pytest_fgbmk.data.records import Dataset, Sample
    from pytest_fgbmk.questions.records import Question

DEFAULT_BATCH_SIZE = 32


@dataclass(frozen=True)
class CommitPolicy:
    """When the engine commits the answers it holds to the cache.

    After each batch: at once when the model took at least ``min_model_s`` on it (every
    real model: a killed run loses at most the batch in flight); else when ``max_rows``
    answers wait, or ``max_wait_s`` seconds passed since the last commit (a killed run
    then loses at most that second of answers, which took the model under 50 ms a batch).
    A commit of a few rows into a large table rewrites a page per row (random keys), so
    committing every 32-question batch of a free model cost 3.8 ms a batch: 42 s of a
    354,072-question run (``benchmarks/bench_full_scale.py --scale 0.1``). Each commit
    writes every page it touched to the write-ahead log again, so larger commits of a
    free model's answers cost less per row: storing those 354,072 answers in random order
    took 7.4 s wall / 5.9 CPU-s in commits of 4,096 rows, 2.4 s / 2.2 CPU-s in commits of
    65,536 with the cache's 64 MiB page cache (:data:`pytest_fgbmk.cache.PAGE_CACHE_KIB`),
    load 3-4 on 2 shared cores.
    """

    min_model_s: float = 0.05
    max_rows: int = 32768
    max_wait_s: float = 2.0

    def due(self, batch_model_s: float, pending_rows: int, since_commit_s: float) -> bool:
        """Whether to commit now, after a batch the model answered in ``batch_model_s`` s,
        with ``pending_rows`` answers uncommitted, ``since_commit_s`` s after the last commit."""
        return (
            batch_model_s >= self.min_model_s
            or pending_rows >= self.max_rows
            or since_commit_s >= self.max_wait_s
        )


@dataclass(frozen=True)
class Job:
    """One question to answer, with the dataset and sample its image is read from."""

    question: Question
    dataset: Dataset
    sample: Sample


@dataclass(frozen=True)
class Answer:
    """A model's answer to one question; ``error`` is set when the model failed on it."""

    text: str
    error: str | None = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class EngineStats:
    """What a session's inference cost: counts, and where the time went."""

    questions: int = 0
    cached: int = 0
    computed: int = 0
    errors: int = 0
    empty: int = 0
    batches: int = 0
    oom_halvings: int = 0
    #: batches split in halves after a failed call (not out-of-memory)
    splits: int = 0
    #: the smallest part a split produced (0: no split)
    split_min_size: int = 0
    #: the first error that made the engine split a batch ("" when none did)
    split_error: str = ""
    batch_size: int = DEFAULT_BATCH_SIZE
    wall_s: float = 0.0
    model_s: float = 0.0
    decode_wait_s: float = 0.0

    @property
    def questions_per_s(self) -> float:
        """Computed questions per second of engine wall time (cache hits excluded)."""
        return self.computed / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def outside_share(self) -> float:
        """The share of engine wall time not spent inside the model (0–1)."""
        if self.wall_s <= 0:
            return 0.0
        return max(0.0, self.wall_s - self.model_s) / self.wall_s

    def merge(self, other: EngineStats) -> None:
        """Add another run's figures to these (several engine runs in one session)."""
        for name in ("questions", "cached", "computed", "errors", "empty", "batches"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.oom_halvings += other.oom_halvings
        self.splits += other.splits
        if other.split_min_size:
            self.split_min_size = (
                min(self.split_min_size, other.split_min_size)
                if self.split_min_size
                else other.split_min_size
            )
        self.split_error = self.split_error or other.split_error
        self.batch_size = other.batch_size
        self.wall_s += other.wall_s
        self.model_s += other.model_s
        self.decode_wait_s += other.decode_wait_s

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "questions": self.questions,
            "cached": self.cached,
            "computed": self.computed,
            "errors": self.errors,
            "empty": self.empty,
            "batches": self.batches,
            "oom_halvings": self.oom_halvings,
            "splits": self.splits,
            "split_min_size": self.split_min_size,
            "split_error": self.split_error,
            "batch_size": self.batch_size,
            "wall_s": self.wall_s,
            "model_s": self.model_s,
            "decode_wait_s": self.decode_wait_s,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EngineStats:
        return cls(**{k: data[k] for k in cls().as_dict() if k in data})


def _is_oom(exc: BaseException) -> bool:
    return type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower()


def _free_accelerator_memory() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Engine:
    """Answers questions through a model adapter, in batches, with a cache.

    ``decode_workers`` threads decode images ahead of the model (``prefetch`` batches).
    ``progress``: where the answering progress goes (:class:`~pytest_fgbmk.progress.ProgressOutput`;
    None: silent).
    """

    def __init__(
        self,
        model: ModelAdapter,
        settings: GenerationSettings | None = None,
        cache: AnswerCache | NullCache | None = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        decode_workers: int = 2,
        prefetch: int = 2,
        progress: ProgressOutput | None = None,
        commit: CommitPolicy = CommitPolicy(),
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model = model
        self.settings = settings or GenerationSettings()
        self.cache = cache if cache is not None else NullCache()
        # a remote model's concurrency is reached only by batches several times larger
        self.batch_size = max(batch_size, int(getattr(model, "min_batch_size", 1) or 1))
        self.decode_workers = max(1, decode_workers)
        self.prefetch = max(1, prefetch)
        self.progress = progress
        #: Batches answered at once (the model's ``concurrent_calls``; 1: one after another).
        self.overlap = max(1, int(getattr(model, "concurrent_calls", 1) or 1))
        self.commit = commit
        self.stats = EngineStats(batch_size=self.batch_size)
        self.key = CacheKey(model.fingerprint, self.settings.key())

    # -- public ------------------------------------------------------------------------

    def run(self, jobs: Sequence[Job]) -> dict[str, Answer]:
        """Answer every job's question (from the cache where possible), by question id."""
        stats = EngineStats(batch_size=self.batch_size)
        t0 = time.perf_counter()
        unique: dict[str, Job] = {}
        for job in jobs:
            unique.setdefault(job.question.id, job)
        stats.questions = len(unique)
        hashes = {qid: prompt_hash(job.question.prompt) for qid, job in unique.items()}
        found = self.cache.get_many(self.key, list(hashes.items()))
        answers: dict[str, Answer] = {qid: Answer(text, cached=True) for qid, text in found.items()}
        stats.cached = len(found)
        todo = sorted((job for qid, job in unique.items() if qid not in found), key=_order)
        if todo:
            self._compute(todo, hashes, answers, stats)
        stats.wall_s = time.perf_counter() - t0
        stats.batch_size = self.batch_size
        self.stats.merge(stats)
        return answers

    # -- internals ---------------------------------------------------------------------

    def _compute(
        self,
        todo: list[Job],
        hashes: dict[str, str],
        answers: dict[str, Answer],
        stats: EngineStats,
    ) -> None:
        total = len(todo)
        shown = self.progress
        if shown is not None:
            shown.write(
                f"fgbmk: {total} questions to answer ({stats.cached} more found in the cache)"
            )
        bar = Progress(shown, "fgbmk answering:", total, "questions")
        cut: deque[list[Job]] = deque()
        decoded = prefetched(
            self._batches(todo, cut), _decode_one, self.decode_workers, ahead=self.prefetch
        )
        to_store: list[tuple[str, str, str]] = []
        committed = time.perf_counter()

        def store(batch: list[Job], results: list[str | _Failure], model_s: float) -> None:
            nonlocal to_store, committed
            stats.batches += 1
            for job, result in zip(batch, results, strict=True):
                qid = job.question.id
                if isinstance(result, str):
                    answers[qid] = Answer(result)
                    if result.strip():
                        to_store.append((qid, hashes[qid], result))
                    else:
                        stats.empty += 1
                else:
                    answers[qid] = Answer("", error=result.reason)
                    stats.errors += 1
            now = time.perf_counter()
            if self.commit.due(model_s, len(to_store), now - committed):
                self.cache.put_many(self.key, to_store)
                to_store, committed = [], now
            stats.computed += len(batch)
            bar.update(len(batch))

        calls = _Overlapped(self, stats, store) if self.overlap > 1 else None
        try:
            while True:
                t_wait = time.perf_counter()
                images_list = next(decoded, None)
                stats.decode_wait_s += time.perf_counter() - t_wait
                if images_list is None:
                    break
                batch = cut.popleft()
                images = {
                    _image_key(j): im for j, im in zip(_distinct(batch), images_list, strict=True)
                }
                requests = [
                    AnswerRequest(images[_image_key(j)], j.question.prompt, j.question)
                    for j in batch
                ]
                if calls is None:
                    before = stats.model_s
                    results = self._answer_in_chunks(requests, stats)
                    store(batch, results, stats.model_s - before)
                else:
                    calls.submit(batch, requests)
            if calls is not None:
                calls.finish()
        finally:  # answers already computed are kept, also when a later batch stops the run
            if calls is not None:
                calls.close()
            if to_store:
                self.cache.put_many(self.key, to_store)
        bar.close()

    def _batches(self, todo: list[Job], cut: deque[list[Job]]) -> Iterator[list[Job]]:
        """Each batch's distinct-image jobs, cut when the prefetcher asks for it.

        Batches are cut at the current batch size when they are submitted, so a size
        halved after an out-of-memory error applies to the batches that follow; the full
        batch is queued on ``cut`` for the consumer.
        """
        pos = 0
        while pos < len(todo):
            batch = todo[pos : pos + self.batch_size]
            pos += len(batch)
            cut.append(batch)
            yield _distinct(batch)

    def _answer_in_chunks(
        self, requests: list[AnswerRequest], stats: EngineStats
    ) -> list[str | _Failure]:
        """Answer at most the current batch size at a time (it shrinks after an OOM)."""
        results: list[str | _Failure] = []
        i = 0
        while i < len(requests):
            size = self.batch_size
            results.extend(self._answer(requests[i : i + size], stats))
            i += size
        return results

    def _answer(self, requests: list[AnswerRequest], stats: EngineStats) -> list[str | _Failure]:
        """Answer a batch; contain failures as described in the module docstring."""
        t = time.perf_counter()
        try:
            out = self.model.answer(requests, self.settings)
            if len(out) != len(requests):
                raise RuntimeError(
                    f"model returned {len(out)} answers for {len(requests)} requests"
                )
        except ModelUnusable:
            raise  # nothing can succeed: splitting the batch would only repeat it
        except Exception as exc:  # noqa: BLE001 - every model failure is contained here
            stats.model_s += time.perf_counter() - t
            if _is_oom(exc) and len(requests) > 1:
                _free_accelerator_memory()
                size = max(1, len(requests) // 2)
                if size < self.batch_size:
                    self.batch_size = size
                    stats.oom_halvings += 1
                results: list[str | _Failure] = []
                for i in range(0, len(requests), size):
                    results.extend(self._answer(requests[i : i + size], stats))
                return results
            if len(requests) == 1:
                return [_Failure(_describe(exc))]
            half = len(requests) // 2
            stats.splits += 1
            stats.split_min_size = min(stats.split_min_size or half, half)
            stats.split_error = stats.split_error or _describe(exc)
            return self._answer(requests[:half], stats) + self._answer(requests[half:], stats)
        stats.model_s += time.perf_counter() - t
        return [_normalise(x) for x in out]


@dataclass(frozen=True)
class _Failure:
    reason: str


class _Overlapped:
    """Up to ``engine.overlap`` batches answered at once, on threads, their results stored
    in order on the caller's thread (the cache, the answers and the progress are touched
    there only).

    For a model whose calls may overlap (``concurrent_calls`` > 1: a remote endpoint whose
    own concurrency limit spans its calls), so that the next batch's requests take the slots
    the current batch's last requests leave idle. Model time is the time at least one call
    was running. :meth:`close` after an error waits for the calls under way and stores what
    they answered (answers of earlier batches stay cached), then lets the error go on.
    """

    def __init__(self, engine: Engine, stats: EngineStats, store: Any) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.engine = engine
        self.stats = stats
        self.store = store
        self.pool = ThreadPoolExecutor(engine.overlap, thread_name_prefix="fgbmk-call")
        self.pending: deque[tuple[list[Job], Any]] = deque()
        self.busy_until = 0.0

    def submit(self, batch: list[Job], requests: list[AnswerRequest]) -> None:
        self.pending.append((batch, self.pool.submit(self._call, requests)))
        if len(self.pending) >= self.engine.overlap:
            self._collect()

    def finish(self) -> None:
        while self.pending:
            self._collect()

    def close(self) -> None:
        with suppress(ModelUnusable):  # the first error is already on its way
            self.finish()
        self.pool.shutdown(wait=True)

    def _call(
        self, requests: list[AnswerRequest]
    ) -> tuple[list[str | _Failure], EngineStats, float, float]:
        """One batch's results, its own split counts, and when the call started and ended."""
        own = EngineStats(batch_size=self.engine.batch_size)
        start = time.perf_counter()
        results = self.engine._answer_in_chunks(requests, own)
        return results, own, start, time.perf_counter()

    def _collect(self) -> None:
        batch, future = self.pending.popleft()
        results, own, start, end = future.result()
        stats = self.stats
        stats.model_s += max(0.0, end - max(start, self.busy_until))
        self.busy_until = max(self.busy_until, end)
        stats.oom_halvings += own.oom_halvings
        stats.splits += own.splits
        if own.split_min_size:
            stats.split_min_size = min(
                stats.split_min_size or own.split_min_size, own.split_min_size
            )
        stats.split_error = stats.split_error or own.split_error
        self.store(batch, results, end - start)


def _normalise(item: object) -> str | _Failure:
    if isinstance(item, str):
        return item
    reason = getattr(item, "reason", None)
    if reason is not None:
        return _Failure(str(reason))
    return _Failure(f"model returned a {type(item).__name__}, not text")


def _image_key(job: Job) -> tuple[str, str]:
    return (job.dataset.name, job.sample.path)


def _order(job: Job) -> tuple[str, str, str]:
    """The order questions are asked in: by dataset, then image file, then question id.

    The questions about one image are consecutive (each image is decoded once, and a
    server with prefix caching, such as vLLM or SGLang, reuses the image's prefix for the
    next ones); the order is a function of the jobs alone, never of how they were listed.
    The image is the sample's file, which a question's own ``image`` may spell otherwise
    (an imported release file matched by ``sample_id``). No answer, id or cache key
    depends on it.
    """
    return (job.dataset.name, job.sample.path, job.question.id)


def _distinct(batch: Sequence[Job]) -> list[Job]:
    """The first job of each distinct image of a batch (each image is decoded once)."""
    first: dict[tuple[str, str], Job] = {}
    for job in batch:
        first.setdefault(_image_key(job), job)
    return list(first.values())


def _decode_one(job: Job) -> Any:
    """The job's image (runs on a prefetch thread).

    An image that cannot be read is a data error naming the file (a
    :class:`~pytest_fgbmk.errors.DataFormatError` reaches the caller of :meth:`Engine.run`),
    never a wrong answer of the model. A run checks every image before answering
    (:mod:`pytest_fgbmk.data.verify`), so only a file changed since reaches this.
    """
    try:
        return job.dataset.open_image(job.sample)
    except FgbmkError:
        raise
    except Exception as exc:  # noqa: BLE001 - a custom reader's failure, named the same way
        raise DataFormatError(
            job.dataset.root / job.sample.path, f"cannot be read as an image: {_describe(exc)}"
        ) from None


def jobs_for(dataset: Dataset, questions: Sequence[Question]) -> list[Job]:
    """Pair each question with its sample (by ``sample_id``, else by image path).

    The questions' split (test) is looked up first, every sample only for a question it
    does not hold (the maps are kept on the dataset: :meth:`Dataset.sample_lookup`)."""
    return [
        Job(q, dataset, sample)
        for q, sample in zip(questions, samples_for(dataset, questions), strict=True)
    ]


def samples_for(dataset: Dataset, questions: Sequence[Question]) -> list[Sample]:
    """Each question's sample, as :func:`jobs_for` pairs them (raises the same
    :class:`~pytest_fgbmk.errors.DataFormatError` for a question whose image the dataset
    does not list)."""
    from pytest_fgbmk.questions.cases import SPLIT

    test_ids, test_paths = dataset.sample_lookup(SPLIT)
    samples = []
    for q in questions:
        sample = None
        if q.sample_id:
            sample = test_ids.get(q.sample_id) or dataset.sample_lookup(None)[0].get(q.sample_id)
        if sample is None:
            sample = test_paths.get(q.image) or dataset.sample_lookup(None)[1].get(q.image)
        if sample is None:
            raise DataFormatError(
                dataset.root,
                f"question {q.id} asks about image {q.image!r}, which dataset "
                f"{dataset.name!r} does not list",
                hint="regenerate the questions from this dataset",
            )
        samples.append(sample)
    return samples
