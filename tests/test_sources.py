"""Data sources: one set of decoding workers per run, kept across passes, rows per split."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
import torch

from tests.test_train_e2e import tiny_config
from trainer.data.discovery import discover
from trainer.data.sources import DecodePool, FileSource, decode_into_memory, sequential_batches
from trainer.train.engine import fit
from trainer.train.epoch_sums import EpochSums, Totals
from trainer.train.events import EpochEnded, FitFinished


def _children() -> set[int]:
    return {p.pid for p in multiprocessing.active_children()}


def _parts(data: Path):
    samples = discover(data).samples
    return list(samples[:10]), list(samples[10:16])


def test_splits_share_one_pool_whose_workers_outlive_a_pass(mini_data: Path):
    first, second = _parts(mini_data)
    before = _children()
    with DecodePool(32, workers=2) as pool:
        a, b = pool.source(first), pool.source(second)
        rows_a = [r for batch in a.batches(sequential_batches(len(a), 4)) for r in batch.rows]
        workers = _children() - before
        assert len(workers) == 2
        rows_b = [r for batch in b.batches([[5, 0], [3]]) for r in batch.rows]
        again = [r for batch in a.batches([[9, 1]]) for r in batch.rows]
        assert _children() - before == workers  # the same processes served all three passes
    assert rows_a == list(range(10)) and rows_b == [5, 0, 3] and again == [9, 1]
    assert _children() - before == set()  # closing the pool stopped them


def test_a_pass_gives_the_same_squares_as_decoding_alone(mini_data: Path):
    first, second = _parts(mini_data)
    with DecodePool(32, workers=1) as pool:
        pool.source(first)
        shared = pool.source(second)  # a window that does not start at the pool's first row
        squares, failed = decode_into_memory(shared)
    with FileSource(second, 32, workers=0) as alone:
        reference, _ = decode_into_memory(alone)
    assert failed == {} and torch.equal(squares, reference)


def test_a_failure_is_reported_in_the_rows_of_its_own_split(mini_data: Path):
    first, second = _parts(mini_data)
    second[2].path.write_bytes(b"not an image")
    with DecodePool(32, workers=1) as pool:
        pool.source(first)
        source = pool.source(second)
        (batch,) = list(source.batches([[1, 2, 3]]))
    assert batch.rows == (1, 2, 3)
    assert [row for row, _ in batch.failures] == [2]
    assert batch.squares[1].sum() == 0 and len(batch.valid()) == 2


def test_reading_on_from_an_ended_pass_raises_instead_of_mixing_passes(mini_data: Path):
    first, _ = _parts(mini_data)
    with FileSource(first, 32, workers=1) as source:
        old = source.batches([[0, 1], [2, 3], [4, 5]])
        next(old)
        new = source.batches([[7], [8]])
        with pytest.raises(RuntimeError, match="newer pass"):
            next(old)
        assert [b.rows for b in new] == [(7,), (8,)]  # the new pass lost nothing to the old


def test_a_run_keeps_one_set_of_decoding_workers_and_stops_them(mini_data: Path, tmp_path):
    """Two epochs from the files with two workers: the same two processes decode every
    training and validation pass, and none is left once the run has finished."""
    cfg = tiny_config(mini_data, epochs=2)
    cfg.workers = 2
    before = _children()
    seen = []
    for event in fit(cfg, tmp_path / "run"):
        if isinstance(event, EpochEnded):
            seen.append(_children() - before)
        last = event
    assert isinstance(last, FitFinished) and not last.cancelled, last
    assert len(seen) == 2 and len(seen[0]) == 2 and seen[0] == seen[1]
    assert _children() - before == set()


def test_epoch_sums_continue_from_saved_totals_exactly():
    sums = EpochSums(torch.device("cpu"), Totals(1.5, 0.25, 3.0, 4.0))
    sums.add(torch.tensor([0.1 * 8, 0.0, 6.0], dtype=torch.float32), 8)
    t = sums.latest()  # exact on the CPU: reading costs nothing there
    assert t == sums.exact()
    assert t.count == 12 and t.correct == 9.0
    assert t.loss_sum == 1.5 + float(torch.tensor(0.1 * 8, dtype=torch.float32))
    assert t.accuracy == 9 / 12 and t.loss == t.loss_sum / 12


def test_workers_start_while_another_thread_holds_a_reader_lock(mini_data: Path):
    """A forked worker inherits every lock as it was at the fork: a lock another thread held
    then (here Pillow's pixel-limit lock, as a data check holds it while it opens a file) would
    stay held in the worker forever, and training would wait for it without end. Workers start
    from a clean process instead, so the pass finishes while the lock is still held here."""
    import threading

    from trainer.io import images

    samples = discover(mini_data).samples[:8]
    result: dict[str, object] = {}

    def decode() -> None:
        with DecodePool(32, workers=1) as pool:
            result["squares"], result["failed"] = decode_into_memory(pool.source(samples))

    with images._PILLOW_LIMIT_LOCK:
        decoding = threading.Thread(target=decode, daemon=True)
        decoding.start()
        decoding.join(120)  # a hung worker never returns: the join's timeout ends the test
        finished_while_held = not decoding.is_alive()
    decoding.join(120)
    assert finished_while_held, "a decoding worker waited on a lock copied from another thread"
    squares = result["squares"]
    assert isinstance(squares, torch.Tensor) and squares.shape == (8, 32, 32)
    assert squares.flatten(1).amax(1).min() > 0 and result["failed"] == {}
