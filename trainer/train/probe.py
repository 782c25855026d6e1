"""How long will it take? A short, real measurement before a long run.

The probe times the engine's own training step (:class:`trainer.train.step.TrainStep`, with the
recipe's frozen stages, BatchNorm policy, optimiser, memory format and autocast), so a
recipe that freezes half the network is timed as the cheaper step it is.

An estimate from a table of "typical speeds" would be wrong on most machines; a few real
training steps of the chosen backbone, image size and batch size on the chosen device are not.
The probe times:

* decoding and squaring a batch of the data set's own files (the data loader's work, or a
  one-off cost at the start when the recipe decodes everything into memory);
* training steps (forward, backward, optimizer) on that batch, on a GPU after one warm-up
  step that pays for cuDNN autotuning and allocator growth;
* one inference pass (validation, calibration and test are forward-only).

The estimate adds these up the way :func:`trainer.train.engine.fit` spends time: every epoch trains
on all training batches and validates once; at the end the model predicts validation, train
(for the out-of-distribution check) and test once more. Decoding runs in ``workers`` data
loader processes beside the training step, so a batch costs the slower of the two.

A GPU out-of-memory error is an answer too: the probe halves the batch size until a step fits
and reports the largest batch that did.
"""

from __future__ import annotations

import math
import time
from collections.abc import Generator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from trainer.config import TrainConfig

if TYPE_CHECKING:  # torch loads when a probe runs: the app imports this module at start
    import torch

WARMUP_STEPS = 1  # on a GPU only: cuDNN autotuning and allocator growth; a CPU has neither
MAX_TIMED_STEPS = 3
TIME_BUDGET_S = 6.0  # stop timing after this long (a B3 step on a laptop CPU takes seconds)
MIN_BATCH = 2  # BatchNorm cannot train on one image


@dataclass(frozen=True)
class ProbeProgress:
    message: str


@dataclass(frozen=True)
class ProbeResult:
    """Seconds per batch on the device, and what that means for the whole run."""

    device: str  # as asked ("auto", "cpu", ...): part of the key
    device_name: str  # what it resolved to, for people
    backbone: str
    img_size: int
    batch_size: int  # the batch size measured (lower than asked when the asked one did not fit)
    requested_batch_size: int
    step_s: float  # one training step on the device
    decode_s_per_image: float
    infer_s_per_image: float
    seconds_per_batch: float  # step and decoding together, as the loop will see them
    train_images: int
    val_images: int
    test_images: int
    epochs: int
    batches_per_epoch: int
    epoch_s: float
    total_s: float
    out_of_memory: bool = False  # the requested batch size did not fit

    @property
    def images_per_s(self) -> float:
        return self.batch_size / self.seconds_per_batch if self.seconds_per_batch > 0 else 0.0

    def total_for(self, epochs: int) -> float:
        """The whole run's estimate for another number of epochs (the per-epoch cost and the
        fixed start and end costs do not change with it)."""
        return self.total_s + (epochs - self.epochs) * self.epoch_s


def probe_key(cfg: TrainConfig) -> tuple[Any, ...]:
    """What a cached :class:`ProbeResult` must match to be reused for ``cfg``: everything that
    changes the speed or the number of images, but not the number of epochs."""
    return (
        cfg.backbone,
        cfg.img_size,
        cfg.batch_size,
        cfg.device,
        cfg.amp,
        cfg.channels_last,
        cfg.workers,
        cfg.freeze_backbone,
        cfg.freeze_stages,
        cfg.batchnorm,
        cfg.bn_recalibration_images,
        cfg.in_memory,
        cfg.optimizer,
        cfg.data,
        cfg.split,
        cfg.val_fraction,
        tuple(sorted(cfg.split_files.items())),
        cfg.limit_per_class,
    )


def _split_sizes(cfg: TrainConfig) -> tuple[list[Any], int, int, int]:
    from trainer.data.discovery import discover
    from trainer.train.run_data import split_for

    index = discover(cfg.data)
    split = split_for(cfg, index)
    return list(split.train), len(split.val), len(split.test), len(index.classes)


def _decode_batch(
    samples: list[Any], size: int, n: int
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Up to ``n`` real squares (uint8) and labels, and the seconds per image it took."""
    import torch

    from trainer.errors import UnreadableInputError
    from trainer.io import read_grey
    from trainer.preprocess import to_model_square

    squares, labels = [], []
    t0 = time.perf_counter()
    tried = 0
    for s in samples[: n * 2]:  # a few unreadable files must not leave us without a batch
        tried += 1
        try:
            # torch.tensor copies: to_model_square may hand out a read-only view of a PIL image
            squares.append(torch.tensor(to_model_square(read_grey(s.path), size)))
            labels.append(s.label)
        except UnreadableInputError:
            continue
        if len(squares) == n:
            break
    per_image = (time.perf_counter() - t0) / max(tried, 1)
    if not squares:
        raise ValueError("no readable training image to measure with")
    while len(squares) < n:  # a tiny data set: repeat images so the batch has the asked size
        squares.append(squares[len(squares) % max(len(labels), 1)])
        labels.append(labels[len(labels) % max(len(labels), 1)])
    return torch.stack(squares), torch.tensor(labels), per_image


def _sync(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _is_oom(exc: BaseException) -> bool:
    import torch

    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    return (oom is not None and isinstance(exc, oom)) or "out of memory" in str(exc).lower()


class _Bench:
    """The engine's training step on random-initialised weights: speed does not depend on
    the weights' values, and nothing is downloaded."""

    def __init__(self, cfg: TrainConfig, n_classes: int, device: torch.device) -> None:
        import torch

        from trainer.model import build_model
        from trainer.train.run_data import backbone_normalization
        from trainer.train.step import TrainStep, configure_for_training

        self.cfg = cfg
        self.device = device
        self.model = build_model(cfg.backbone, n_classes, cfg.head)
        configure_for_training(self.model, cfg, device)
        mean, std = backbone_normalization(cfg.backbone)
        self.step = TrainStep(self.model, cfg, device, mean, std)
        self.generator = torch.Generator().manual_seed(0)

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        from trainer.train.step import prepare_train_mode

        t0 = time.perf_counter()
        prepare_train_mode(self.model, self.cfg)
        self.step(x, y, self.generator)
        _sync(self.device)
        return time.perf_counter() - t0

    def infer(self, x: torch.Tensor) -> float:
        from trainer.inference import forward

        t0 = time.perf_counter()
        step = self.step
        inputs = step.model_inputs(x.to(self.device).unsqueeze(1).float().div_(255.0))
        forward(self.model, inputs, step.amp_dtype, step.channels_last)
        _sync(self.device)
        return time.perf_counter() - t0

    def release(self) -> None:
        del self.model, self.step
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def time_training_steps(
    cfg: TrainConfig, x: torch.Tensor, y: torch.Tensor, n_classes: int, steps: int = 3
) -> list[float]:
    """Seconds of each of ``steps`` training steps of ``cfg`` on the batch (``x`` uint8
    squares, ``y`` labels), after one untimed warm-up step (benchmarks/cpu_recipe.py)."""
    from trainer.device import resolve_device

    bench = _Bench(cfg, n_classes, resolve_device(cfg.device))
    try:
        bench.train_step(x, y)
        return [bench.train_step(x, y) for _ in range(steps)]
    finally:
        bench.release()


def _loader_workers(cfg: TrainConfig) -> int:
    import os

    if cfg.workers is not None:
        return cfg.workers
    return max(0, min(4, (os.cpu_count() or 1) - 1))  # as trainer.train.run_data's default


def estimate(
    step_s: float,
    decode_s: float,
    infer_s: float,
    workers: int,
    batch: int,
    train: int,
    val: int,
    test: int,
    epochs: int,
    in_memory: bool = False,
    recalibration_images: int = 0,
) -> tuple[float, float, float, int]:
    """(seconds per batch, per epoch, whole run, batches per epoch) from measured costs."""
    parallel = max(workers, 1)
    decode_batch = 0.0 if in_memory else decode_s * batch
    per_batch = max(step_s, decode_batch / parallel) if workers else step_s + decode_batch
    batches = math.ceil(train / batch)
    if batches and train - (batches - 1) * batch < 2:
        batches -= 1  # the engine drops a last batch of one image (BatchNorm needs two)
    batches = max(batches, 1)
    per_image_eval = infer_s + (0.0 if in_memory else decode_s / parallel)
    epoch = batches * per_batch + val * per_image_eval
    # startup: every file checked once, or decoded once into memory; the BatchNorm re-estimate
    startup = (train + val + test) * decode_s / max(min(8, parallel * 2), 1)
    if in_memory:
        startup += (train + val + test) * decode_s / parallel
    startup += min(recalibration_images, train) * infer_s
    # + epochs + calibration/OOD (at most 2,000 training images)/test at the end
    total = startup + epochs * epoch + (val + min(train, 2000) + test) * per_image_eval
    return per_batch, epoch, total, batches


def probe_speed(cfg: TrainConfig) -> Generator[ProbeProgress, None, ProbeResult]:
    """Measure ``cfg`` on its device; yields progress messages, returns a :class:`ProbeResult`."""
    from trainer.device import describe_device, resolve_device

    device = resolve_device(cfg.device)
    yield ProbeProgress("reading a batch of images")
    train, n_val, n_test, n_classes = _split_sizes(cfg)
    if not train:
        raise ValueError("the training split is empty")
    x, y, decode_s = _decode_batch(train, cfg.img_size, cfg.batch_size)
    yield ProbeProgress(f"building {cfg.backbone} on {describe_device(device)}")
    batch = cfg.batch_size
    out_of_memory = False
    while True:
        bench = _Bench(replace(cfg, batch_size=batch), n_classes, device)
        try:
            yield ProbeProgress(f"timing training steps (batch size {batch})")
            xb, yb = x[:batch], y[:batch]
            for _ in range(WARMUP_STEPS if device.type != "cpu" else 0):
                bench.train_step(xb, yb)
                yield ProbeProgress("warm-up step done")
            times: list[float] = []
            t_start = time.perf_counter()
            while len(times) < MAX_TIMED_STEPS and (
                not times or time.perf_counter() - t_start < TIME_BUDGET_S
            ):
                times.append(bench.train_step(xb, yb))
                yield ProbeProgress(f"step {len(times)}: {times[-1]:.2f} s")
            infer_s = bench.infer(xb) / batch
            break
        except Exception as exc:
            if not _is_oom(exc) or batch // 2 < MIN_BATCH:
                raise
            out_of_memory = True
            batch //= 2
            yield ProbeProgress(f"out of memory; trying batch size {batch}")
        finally:
            bench.release()
    step_s = sorted(times)[len(times) // 2]
    per_batch, epoch_s, total_s, batches = estimate(
        step_s,
        decode_s,
        infer_s,
        _loader_workers(cfg),
        batch,
        len(train),
        n_val,
        n_test,
        cfg.epochs,
        cfg.in_memory,
        cfg.bn_recalibration_images if cfg.batchnorm == "frozen" else 0,
    )
    return ProbeResult(
        device=cfg.device,
        device_name=describe_device(device),
        backbone=cfg.backbone,
        img_size=cfg.img_size,
        batch_size=batch,
        requested_batch_size=cfg.batch_size,
        step_s=step_s,
        decode_s_per_image=decode_s,
        infer_s_per_image=infer_s,
        seconds_per_batch=per_batch,
        train_images=len(train),
        val_images=n_val,
        test_images=n_test,
        epochs=cfg.epochs,
        batches_per_epoch=batches,
        epoch_s=epoch_s,
        total_s=total_s if math.isfinite(total_s) else math.nan,
        out_of_memory=out_of_memory,
    )
