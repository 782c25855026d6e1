"""An epoch's running loss and accuracy, summed where the training step computes them.

Why not a float per step: reading a number the GPU computed makes the host wait until the
device has run everything queued before it, so a step that read its loss every batch would
drain the device's queue once per batch. Here the sums stay on the device; the host reads
them for the progress display at most every :data:`GPU_READ_INTERVAL_S` on an accelerator
(every batch on the CPU, where reading costs nothing), and exactly at the end of an epoch and
when the run's state is saved.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

#: How stale the progress display's loss may be on an accelerator: a read twice a second
#: costs nothing measurable, one per batch stalls the device's queue at every batch.
GPU_READ_INTERVAL_S = 0.5


@dataclass(frozen=True)
class Totals:
    """Sums over the images of an epoch so far (so epochs average exactly)."""

    loss_sum: float = 0.0  # cross-entropy × images
    reg_sum: float = 0.0  # penalty × images
    correct: float = 0.0
    count: float = 0.0

    def as_list(self) -> list[float]:
        return [self.loss_sum, self.reg_sum, self.correct, self.count]

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.count, 1)

    @property
    def accuracy(self) -> float:
        return self.correct / max(self.count, 1)


class EpochSums:
    """Device-side running sums of (loss × n, penalty × n, correct) plus a host-side count."""

    def __init__(self, device: torch.device, start: Totals | None = None) -> None:
        start = start or Totals()
        # float64 keeps long epochs exact; MPS has no float64
        dtype = torch.float32 if device.type == "mps" else torch.float64
        self._sums = torch.tensor(
            [start.loss_sum, start.reg_sum, start.correct], dtype=dtype, device=device
        )
        self._count = start.count
        self._interval = 0.0 if device.type == "cpu" else GPU_READ_INTERVAL_S
        self._seen = start
        self._read_at = -float("inf")

    def add(self, sums: torch.Tensor, count: int) -> None:
        """Add one step's (loss × n, penalty × n, correct), still on the device; no sync."""
        self._sums += sums.to(self._sums.dtype)
        self._count += count

    def latest(self) -> Totals:
        """Totals for a progress display: exact on the CPU, at most
        :data:`GPU_READ_INTERVAL_S` old elsewhere (they and their count always agree)."""
        if time.monotonic() - self._read_at >= self._interval:
            return self.exact()
        return self._seen

    def exact(self) -> Totals:
        """The totals now (waits for the device)."""
        loss_sum, reg_sum, correct = self._sums.tolist()
        self._seen = Totals(loss_sum, reg_sum, correct, self._count)
        self._read_at = time.monotonic()
        return self._seen
