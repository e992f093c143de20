"""Batches prepared ahead on threads: image decoding and transforms run while the model does.

PIL's decoders and resamplers release the GIL, so a few threads decode and transform in
parallel; on a GPU machine that CPU work, not the model, would otherwise set the pace.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Threads that prepare items: one a core, at most eight.
WORKERS = max(1, min(8, os.cpu_count() or 1))


def prefetched(
    batches: Sequence[Sequence[T]], fn: Callable[[T], R], workers: int = WORKERS
) -> Iterator[list[R]]:
    """``[fn(x) for x in batch]`` for each batch in order, the next one computed meanwhile.

    Items of a batch are mapped in parallel; at most one batch is prepared ahead of the
    caller. An exception raised by ``fn`` reaches the caller at that batch.
    """
    if not batches:
        return
    with ThreadPoolExecutor(
        max_workers=max(1, workers), thread_name_prefix="fgbmk-prefetch"
    ) as pool:
        pending = [pool.submit(fn, x) for x in batches[0]]
        for i in range(len(batches)):
            done = [f.result() for f in pending]
            nxt = batches[i + 1] if i + 1 < len(batches) else ()
            pending = [pool.submit(fn, x) for x in nxt]
            yield done
