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


class FileSource:
    """Decode image files in data-loader worker processes, batch by batch."""

    def __init__(self, samples: Sequence[Sample], size: int, workers: int = 2) -> None:
        self.samples = list(samples)
        self.labels = np.array([s.label for s in self.samples], dtype=np.int64)
        self.size = size
        self.workers = workers

    def __len__(self) -> int:
        return len(self.samples)

    def batches(self, index_batches: Sequence[Sequence[int]]) -> Iterator[Batch]:
        if not index_batches:
            return iter(())
        loader = DataLoader(
            _SquareFiles(self.samples, self.size),
            batch_sampler=[list(b) for b in index_batches],
            num_workers=self.workers,
            collate_fn=functools.partial(_collate, self.size),
            persistent_workers=False,
            prefetch_factor=4 if self.workers else None,
        )
        return iter(loader)


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

    def batches(self, index_batches: Sequence[Sequence[int]]) -> Iterator[Batch]:
        for b in index_batches:
            rows = tuple(int(i) for i in b)
            idx = torch.as_tensor(rows, dtype=torch.long)
            yield Batch(self.squares[idx.to(self.squares.device)], self._labels_t[idx], rows)


def decode_into_memory(
    samples: Sequence[Sample], size: int, workers: int = 1
) -> tuple[torch.Tensor, dict[int, str]]:
    """Decode every sample once into one uint8 (N, size, size) tensor, exactly as the file
    path would (same reader, same square, no lossy cache in between). Returns the squares and
    ``{row: reason}`` for files that could not be read (their rows stay black).

    7,023 images at 224 px are 336 MiB and decode in about 20 s on two cores; every later
    epoch then costs one indexing operation per batch instead of JPEG decoding.
    """
    squares = torch.zeros(len(samples), size, size, dtype=torch.uint8)
    failed: dict[int, str] = {}
    source = FileSource(samples, size, workers)
    for batch in source.batches(sequential_batches(len(samples), 64)):
        failed.update(batch.failures)
        squares[list(batch.rows)] = batch.squares
    return squares, failed


def sequential_batches(n: int, batch_size: int) -> list[list[int]]:
    return [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]
