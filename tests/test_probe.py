"""The speed probe: the engine's own training step, timed before a long run (no Qt)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TINY = {
    "backbone": "test_efficientnet",
    "pretrained": "none",
    "img_size": 32,
    "batch_size": 8,
    "epochs": 2,
    "limit_per_class": 0,
    "workers": 0,
    "device": "cpu",
}


def drive(gen: Iterator[Any]) -> Any:
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def test_probe_measures_seconds_per_batch_and_survives_out_of_memory(
    mini_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from trainer.config import apply_overrides, preset_config
    from trainer.train import probe

    cfg = apply_overrides(preset_config("quick"), {**TINY, "data": str(mini_data)})
    cfg.limit_per_class = None
    monkeypatch.setattr(probe, "MAX_TIMED_STEPS", 1)  # one timed step says enough here

    result = drive(probe.probe_speed(cfg))
    assert result.batch_size == 8 and not result.out_of_memory
    assert (result.train_images, result.val_images, result.test_images) == (24, 8, 8)
    assert result.batches_per_epoch == 3 and result.seconds_per_batch > 0
    assert result.total_s > 2 * result.epoch_s > 0
    assert result.total_for(4) == pytest.approx(result.total_s + 2 * result.epoch_s)

    real_step = probe._Bench.train_step

    def small_gpu(self: Any, x: torch.Tensor, y: torch.Tensor) -> float:
        if len(x) > 4:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 1 GiB")
        return real_step(self, x, y)

    monkeypatch.setattr(probe._Bench, "train_step", small_gpu)
    result = drive(probe.probe_speed(cfg))
    assert result.out_of_memory and result.batch_size == 4 and result.requested_batch_size == 8


def test_probe_times_the_recipe_it_is_given(mini_data: Path) -> None:
    """A recipe that decodes into memory and re-estimates BatchNorm pays both once, at the
    start, and no decoding per batch; its frozen stages make the step cheaper."""
    from trainer.config import apply_overrides, preset_config
    from trainer.train import probe

    cfg = apply_overrides(preset_config("lite2-cpu"), {**TINY, "data": str(mini_data)})
    cfg.limit_per_class = None
    cfg.freeze_stages = 2
    result = drive(probe.probe_speed(cfg))
    assert result.seconds_per_batch == pytest.approx(result.step_s)  # no decoding per batch
    per_batch, _, total, batches = probe.estimate(
        result.step_s, 0.01, result.infer_s_per_image, 0, 8, 24, 8, 8, 2, True, 16
    )
    _, _, total_files, _ = probe.estimate(
        result.step_s, 0.01, result.infer_s_per_image, 0, 8, 24, 8, 8, 2, False, 0
    )
    assert per_batch == pytest.approx(result.step_s) and batches == 3
    assert total > 0 and total_files > 0
