"""Where batches of model-ready uint8 squares come from: image files, or a prepared cache.

Both give the same thing — uint8 (B, S, S) plus labels — so the training loop neither knows
nor cares. Augmentation and normalisation happen later, on the training device.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from trainer.data.discovery import Sample
from trainer.preprocess import to_model_square

Batch = tuple[torch.Tensor, torch.Tensor]


class _SquareFiles(Dataset):
    """Decodes one file into the model's uint8 square. Files were validated up front; one
    that breaks afterwards (changed on disk) becomes a black square flagged invalid, so a
    single file cannot kill a long run."""

    def __init__(self, samples: Sequence[Sample], size: int) -> None:
        self.samples = list(samples)
        self.size = size

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, bool]:
        from trainer.errors import UnreadableInputError
        from trainer.io import read_grey

        s = self.samples[i]
        try:
            square = to_model_square(read_grey(s.path), self.size)
            return torch.from_numpy(square), s.label, True
        except UnreadableInputError:
            return torch.zeros(self.size, self.size, dtype=torch.uint8), s.label, False


def _collate(items: list[tuple[torch.Tensor, int, bool]]) -> Batch:
    kept = [(x, y) for x, y, ok in items if ok]
    if not kept:
        size = items[0][0].shape[-1]
        return torch.zeros(0, size, size, dtype=torch.uint8), torch.zeros(0, dtype=torch.long)
    xs, ys = zip(*kept, strict=True)
    return torch.stack(xs), torch.tensor(ys, dtype=torch.long)


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
            collate_fn=_collate,
            persistent_workers=False,
            prefetch_factor=4 if self.workers else None,
        )
        return iter(loader)


class TensorSource:
    """Squares already decoded in memory (from a cache), optionally on the GPU: a batch is
    one indexing operation, so the GPU is never waiting for JPEG decoding."""

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
            idx = torch.as_tensor(list(b), dtype=torch.long)
            yield self.squares[idx.to(self.squares.device)], self._labels_t[idx]


class _SquareOrReason(Dataset):
    """Like :class:`_SquareFiles`, but keeps the reason a file could not be read."""

    def __init__(self, samples: Sequence[Sample], size: int) -> None:
        self.samples = list(samples)
        self.size = size

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor | None, str | None]:
        from trainer.errors import UnreadableInputError
        from trainer.io import read_grey

        try:
            return (
                i,
                torch.from_numpy(to_model_square(read_grey(self.samples[i].path), self.size)),
                None,
            )
        except UnreadableInputError as exc:
            return i, None, str(exc)


def _as_list(items: list) -> list:
    return items


def decode_into_memory(
    samples: Sequence[Sample], size: int, workers: int = 1
) -> tuple[torch.Tensor, dict[int, str]]:
    """Decode every sample once into one uint8 (N, size, size) tensor, exactly as the file
    path would (same reader, same square, no lossy cache in between). Returns the squares and
    ``{index: reason}`` for files that could not be read (their rows stay black).

    7,023 images at 224 px are 352 MB and decode in about half a minute on two cores; every
    later epoch then costs one indexing operation per batch instead of JPEG decoding.
    """
    squares = torch.zeros(len(samples), size, size, dtype=torch.uint8)
    failed: dict[int, str] = {}
    if not samples:
        return squares, failed
    loader = DataLoader(
        _SquareOrReason(samples, size),
        batch_size=64,
        num_workers=workers,
        collate_fn=_as_list,
        prefetch_factor=4 if workers else None,
    )
    for items in loader:
        for i, square, reason in items:
            if square is None:
                failed[i] = reason or "unreadable"
            else:
                squares[i] = square
    return squares, failed


def sequential_batches(n: int, batch_size: int) -> list[list[int]]:
    return [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]
