"""The one prefetcher: batches prepared ahead on threads while the caller works.

Image decoding and transforms run while the model does: PIL's decoders and resamplers
release the GIL, so a few threads decode and transform in parallel; on a GPU machine that
CPU work, not the model, would otherwise set the pace. Used by the answering engine
(decoding each batch's images), feature extraction (decode + preprocess) and the encoder
adapters' ``encode``.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Threads that prepare items: one a core, at most eight.
WORKERS = max(1, min(8, os.cpu_count() or 1))


def prefetched(
    batches: Iterable[Sequence[T]],
    fn: Callable[[T], R],
    workers: int = WORKERS,
    *,
    ahead: int = 1,
) -> Iterator[list[R]]:
    """``[fn(x) for x in batch]`` for each batch in order, the next ``ahead`` computed meanwhile.

    Items of a batch are mapped in parallel on ``workers`` threads; at most ``ahead``
    batches beyond the one the caller holds are being prepared. ``batches`` is read
    lazily, one batch when it is submitted, so a generator may decide a batch's size
    from what happened before (the engine halves it after an out-of-memory error). An
    exception raised by ``fn`` reaches the caller at that batch.
    """
    source = iter(batches)
    with ThreadPoolExecutor(
        max_workers=max(1, workers), thread_name_prefix="fgbmk-prefetch"
    ) as pool:
        pending: deque[list[Future[R]]] = deque()

        def submit() -> bool:
            batch = next(source, None)
            if batch is None:
                return False
            pending.append([pool.submit(fn, x) for x in batch])
            return True

        more = submit()
        while pending:
            while more and len(pending) <= max(1, ahead):
                more = submit()
            yield [f.result() for f in pending.popleft()]
