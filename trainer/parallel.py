"""The one thread map of the package: a function over many files, in order, with progress.

Why threads: decoding (Pillow), hashing (hashlib) and numpy release the GIL, so a thread per
core reads a data set about as fast as processes would, without starting any or copying the
results back. Why one helper: the data check, the near-duplicate hashes and the cache builder
each had a pool of their own, and one of them counted progress from its worker threads with a
shared counter that two threads could update at once. Here progress is counted in the calling
thread as results arrive, so ``progress`` is called in order, from one thread, once per item.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["default_workers", "map_in_threads"]

T = TypeVar("T")
R = TypeVar("R")

MAX_WORKERS = 8  # more threads than this only wait for the disk and the GIL


def default_workers() -> int:
    """A thread per core, at most :data:`MAX_WORKERS`."""
    return min(MAX_WORKERS, os.cpu_count() or 1)


def map_in_threads(
    func: Callable[[T], R],
    items: Sequence[T],
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    chunksize: int = 16,
) -> list[R]:
    """``[func(item) for item in items]``, in a thread pool; the results keep the input order.

    ``progress(done, total)`` is called in the calling thread after each result, so it may
    raise to abandon the work: the items not yet started are then never run."""
    total = len(items)
    out: list[R] = []
    pool = ThreadPoolExecutor(max_workers=workers or default_workers())
    try:
        for result in pool.map(func, items, chunksize=chunksize):
            out.append(result)
            if progress is not None:
                progress(len(out), total)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # the chunks already running finish
        raise
    pool.shutdown(wait=True)
    return out
