"""Where batches of model-ready uint8 squares come from: image files, or squares in memory.

Every source gives the same typed :class:`Batch` — uint8 (B, S, S) squares, labels, the rows
of the source they are, and the rows that failed — so the training loop neither knows nor
cares where they came from. Augmentation and normalisation happen later, on the device.

A file that breaks after the up-front check (changed on disk, a decoder failure) is never
dropped silently: its row stays in the batch, black, and is listed in ``Batch.failures`` with
the reason, so predictions keep lining up with the split and the caller decides (training
leaves the row out and reports it; evaluation marks it failed).
"""

from __future__ import annotations

import functools
import multiprocessing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from trainer.data.discovery import Sample
from trainer.preprocess import to_model_square


@dataclass(frozen=True)
class Batch:
    squares: torch.Tensor  # uint8 (N, S, S); a failed row is black
    labels: torch.Tensor  # int64 (N,)
    rows: tuple[int, ...]  # the source's rows, in order
    failures: tuple[tuple[int, str], ...] = ()  # (source row, reason)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def ok(self) -> torch.Tensor:
        """Boolean (N,) mask of the rows that were read."""
        failed = {row for row, _ in self.failures}
        return torch.tensor([r not in failed for r in self.rows], dtype=torch.bool)

    def valid(self) -> Batch:
        """The rows that were read, alone."""
        if not self.failures:
            return self
        keep = self.ok
        rows = tuple(r for r, k in zip(self.rows, keep.tolist(), strict=True) if k)
        return Batch(self.squares[keep.to(self.squares.device)], self.labels[keep], rows)


class BatchSource(Protocol):
    """What the engine, finalize and evaluation need of a split's data."""

    samples: list[Sample]
    labels: np.ndarray
    size: int

    def __len__(self) -> int: ...

    def batches(self, index_batches: Sequence[Sequence[int]]) -> Iterator[Batch]: ...

    def close(self) -> None: ...


class _SquareFiles(Dataset):
    """Decodes one file into the model's uint8 square, or says why it could not."""

    def __init__(self, samples: Sequence[Sample], size: int) -> None:
        self.samples = list(samples)
        self.size = size

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor | None, int, str | None]:
        from trainer.errors import UnreadableInputError
        from trainer.io import read_grey

        s = self.samples[i]
        try:
            square = to_model_square(read_grey(s.path), self.size)
            return i, torch.from_numpy(square), s.label, None
        except UnreadableInputError as exc:
            return i, None, s.label, exc.reason


def _collate(size: int, items: list[tuple[int, torch.Tensor | None, int, str | None]]) -> Batch:
    squares = torch.zeros(len(items), size, size, dtype=torch.uint8)
    failures = []
    for j, (row, x, _, reason) in enumerate(items):
        if x is None:
            failures.append((row, reason or "unreadable"))
        else:
            squares[j] = x
    labels = torch.tensor([y for _, _, y, _ in items], dtype=torch.long)
    return Batch(squares, labels, tuple(row for row, _, _, _ in items), tuple(failures))


class _Plan:
    """The batch sampler of a :class:`DecodePool`'s one DataLoader: the batches of the pass in
    progress. DataLoader reads its batch sampler afresh at the start of every pass, so one
    loader (and one set of workers) serves passes with different batches."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def worker_context() -> multiprocessing.context.BaseContext | None:
    """How decoding worker processes start: from a clean server process, never by forking us.

    Why: a fork copies the locks of every thread of this process as they are at that moment.
    The app always runs other threads (a data check opening files, the viewer reading scans),
    and a lock one of them holds (Pillow's pixel-limit lock in :mod:`trainer.io.images`,
    a logging or import lock) stays held in the child forever: the worker hangs at its first
    file and the training thread waits on it without end (seen in CI; reproduced by
    ``tests/test_sources.py``). A ``forkserver`` is started once from a fresh interpreter
    that imports this module, so each worker is forked from a single-threaded process that
    already has torch and the decoders loaded. Where there is no forkserver (Windows) the
    platform's ``spawn`` is used, as it always was there. Frozen builds call
    ``multiprocessing.freeze_support()`` at start for both (PyInstaller's runtime hook).
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return None
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


class DecodePool:
    """Worker processes that decode image files, started on the first pass and kept.

    Why: a DataLoader built per pass starts its workers, re-imports the decoders and refills its
    prefetch queue every time, and a run makes a training pass and a validation pass every
    epoch. Here one DataLoader with ``persistent_workers`` lives as long as the pool, and the
    splits of a run share it (each :class:`FileSource` is a window onto the pool's samples), so a
    run holds ``workers`` decoding processes, not one set per split and per epoch.

    Passes run one at a time: starting a pass ends the one before it (its prefetched batches
    are discarded by DataLoader), and reading on from the ended pass raises rather than
    returning the new pass's batches. :meth:`close` stops the workers; a later pass starts
    them again.
    """

    def __init__(self, size: int, workers: int = 2) -> None:
        self.size = size
        self.workers = max(0, int(workers))
        self._samples: list[Sample] = []
        self._plan = _Plan()
        self._loader: DataLoader | None = None
        self._pass = 0

    def add(self, samples: Sequence[Sample]) -> int:
        """Append samples; returns the pool row of the first. Workers already running hold the
        old list, so they are stopped and the next pass starts fresh ones."""
        self.close()
        offset = len(self._samples)
        self._samples.extend(samples)
        return offset

    def source(self, samples: Sequence[Sample]) -> FileSource:
        return FileSource(samples, self.size, pool=self)

    def run(self, index_batches: Sequence[Sequence[int]]) -> Iterator[Batch]:
        """One pass over ``index_batches`` (pool rows), in order."""
        self._pass += 1
        mine = self._pass
        self._plan.batches = [[int(i) for i in b] for b in index_batches]
        iterator = iter(self._dataloader())  # now, not lazily: this call ends the last pass
        return self._read(iterator, mine)

    def _read(self, iterator: Iterator[Batch], mine: int) -> Iterator[Batch]:
        while True:
            if self._pass != mine:
                raise RuntimeError("a newer pass over the same image files has started")
            try:
                batch = next(iterator)
            except StopIteration:
                return
            yield batch

    def _dataloader(self) -> DataLoader:
        if self._loader is None:
            self._loader = DataLoader(
                _SquareFiles(self._samples, self.size),
                batch_sampler=self._plan,
                num_workers=self.workers,
                collate_fn=functools.partial(_collate, self.size),
                persistent_workers=self.workers > 0,
                prefetch_factor=4 if self.workers else None,
                multiprocessing_context=worker_context() if self.workers else None,
            )
        return self._loader

    def close(self) -> None:
        """Stop the workers now (a pass in progress ends)."""
        loader, self._loader = self._loader, None
        self._pass += 1
        if loader is None:
            return
        # DataLoader stops persistent workers when its iterator is garbage-collected; a pass
        # abandoned by a caller may still hold that iterator, so stop them explicitly.
        shutdown = getattr(getattr(loader, "_iterator", None), "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()

    def __enter__(self) -> DecodePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FileSource:
    """Image files decoded by a :class:`DecodePool` (its own, or one shared with the other
    splits of a run); rows are this source's, whatever the pool's numbering."""

    def __init__(
        self,
        samples: Sequence[Sample],
        size: int,
        workers: int = 2,
        *,
        pool: DecodePool | None = None,
    ) -> None:
        self.samples = list(samples)
        self.labels = np.array([s.label for s in self.samples], dtype=np.int64)
        self.size = size
        self.pool = pool if pool is not None else DecodePool(size, workers)
        if self.pool.size != size:
            raise ValueError(f"the pool decodes {self.pool.size} px squares, not {size} px")
        self._offset = self.pool.add(self.samples)

    def __len__(self) -> int:
        return len(self.samples)

    def batches(self, index_batches: Sequence[Sequence[int]]) -> Iterator[Batch]:
        if not index_batches:
            return iter(())
        off = self._offset
        shifted = [[off + int(i) for i in b] for b in index_batches]
        return (
            Batch(
                b.squares,
                b.labels,
                tuple(r - off for r in b.rows),
                tuple((r - off, why) for r, why in b.failures),
            )
            for b in self.pool.run(shifted)
        )

    def close(self) -> None:
        """Stop the decoding workers (those of a shared pool too: a run closes its splits
        together)."""
        self.pool.close()

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TensorSource:
    """Squares already decoded in memory (from a cache or :func:`decode_into_memory`),
    optionally on the GPU: a batch is one indexing operation."""

    def __init__(self, samples: Sequence[Sample], squares: torch.Tensor) -> None:
        if len(samples) != len(squares):
            raise ValueError("samples and squares differ in length")
        self.samples = list(samples)
        self.labels = np.array([s.label for s in self.samples], dtype=np.int64)
        self.squares = squares
        self.size = int(squares.shape[-1])
        self._labels_t = torch.from_numpy(self.labels)

    def __len__(self) -> int:
        return len(self.samples)

    def to(self, device: torch.device) -> TensorSource:
        return TensorSource(self.samples, self.squares.to(device))

    def close(self) -> None:
        """Nothing to stop: the squares are plain tensors."""

    def batches(self, index_batches: Sequence[Sequence[int]]) -> Iterator[Batch]:
        for b in index_batches:
            rows = tuple(int(i) for i in b)
            idx = torch.as_tensor(rows, dtype=torch.long)
            yield Batch(self.squares[idx.to(self.squares.device)], self._labels_t[idx], rows)


def decode_into_memory(source: FileSource) -> tuple[torch.Tensor, dict[int, str]]:
    """Decode every file of ``source`` once into one uint8 (N, size, size) tensor, exactly as
    the file path would (same reader, same square, no lossy cache in between). Returns the
    squares and ``{row: reason}`` for files that could not be read (their rows stay black).

    7,023 images at 224 px are 336 MiB and decode in about 20 s on two cores; every later
    epoch then costs one indexing operation per batch instead of JPEG decoding.
    """
    squares = torch.zeros(len(source), source.size, source.size, dtype=torch.uint8)
    failed: dict[int, str] = {}
    for batch in source.batches(sequential_batches(len(source), 64)):
        failed.update(batch.failures)
        squares[list(batch.rows)] = batch.squares
    return squares, failed


def sequential_batches(n: int, batch_size: int) -> list[list[int]]:
    return [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]
