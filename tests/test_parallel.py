"""The package's one thread map, and the cache builder that counts its progress through it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from trainer.parallel import map_in_threads


def test_results_keep_the_input_order_and_progress_comes_from_the_calling_thread() -> None:
    caller = threading.get_ident()
    seen: list[tuple[int, int, int]] = []

    def slow_square(x: int) -> tuple[int, int]:
        time.sleep(0.001 * (x % 3))  # finish out of order
        return x * x, threading.get_ident()

    results = map_in_threads(
        slow_square,
        list(range(50)),
        workers=4,
        progress=lambda done, total: seen.append((done, total, threading.get_ident())),
        chunksize=1,
    )
    assert [r for r, _ in results] == [x * x for x in range(50)]
    assert len({t for _, t in results} - {caller}) > 1, "the work ran in several threads"
    assert [(d, t) for d, t, _ in seen] == [(i, 50) for i in range(1, 51)]
    assert {ident for _, _, ident in seen} == {caller}


def test_a_progress_callback_that_raises_abandons_the_items_not_started() -> None:
    started: list[int] = []

    def work(x: int) -> int:
        started.append(x)
        time.sleep(0.01)
        return x

    def stop_after_two(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        map_in_threads(work, list(range(200)), workers=2, progress=stop_after_two, chunksize=1)
    assert len(started) < 20


def test_the_cache_reports_every_file_once_in_order_and_reads_back(mini_data: Path, tmp_path):
    from trainer.data.cache import load_cache, prepare_cache
    from trainer.data.discovery import discover

    calls: list[tuple[int, int]] = []
    out = tmp_path / "cache.safetensors"
    summary = prepare_cache(mini_data, 48, out, workers=2, progress=lambda *c: calls.append(c))
    n = len(discover(mini_data).samples)
    assert calls == [(i, n) for i in range(1, n + 1)]
    assert summary["n_images"] == n and summary["img_size"] == 48
    cache = load_cache(out, mini_data)
    assert tuple(cache.squares.shape) == (n, 48, 48)
    assert [s.rel for s in cache.index.samples] == [s.rel for s in discover(mini_data).samples]
