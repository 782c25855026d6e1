"""The training loop: ``fit()`` is a generator of events (see :mod:`trainer.train.events`).

Determinism is by construction rather than by luck: the data order of epoch ``e`` and the
augmentation and dropout of batch ``b`` are drawn from generators seeded by
``(seed, e, b)``, which the run owns: it neither reads nor reseeds torch's process-wide
generator while it trains, so other threads of an app cannot change it. Nothing depends on
how many batches ran before in this process, so a run stopped after any batch and resumed
from its saved state ends exactly where an uninterrupted run ends (bit for bit on the CPU; on
a GPU up to non-deterministic kernels).

Under ``torchrun`` every rank takes its share of each global batch (``batch[rank::world]``),
so the effective batch and learning rate are those of a single-process run; rank 0 alone
evaluates, writes files and reports.
"""

from __future__ import annotations

import contextlib
import math
import time
import traceback
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from trainer.config import TrainConfig
from trainer.device import describe_device, resolve_device
from trainer.errors import (
    BrainMRIError,
    RunExistsError,
    RunFolderError,
    TrainingOutOfMemory,
    os_error_text,
)
from trainer.inference import Inference
from trainer.model import build_model, parameter_table
from trainer.train import distributed as dist
from trainer.train.augment import augment_batch
from trainer.train.bn import recalibrate_batchnorm
from trainer.train.epoch_sums import EpochSums, Totals
from trainer.train.events import (
    BatchEnded,
    BatchSizeChanged,
    CancelToken,
    EpochEnded,
    EpochStarted,
    Event,
    FitFailed,
    FitFinished,
    LogMessage,
    PhaseChanged,
    RunStarted,
)
from trainer.train.finalize import FinishedRun, finalize_run, report_failures
from trainer.train.history import write_history
from trainer.train.pretrained import apply_pretrained, is_model_file, start_from_model_file
from trainer.train.run_folder import Checkpoint, RunFolder
from trainer.train.step import (
    TrainStep,
    configure_for_training,
    lr_factor,
    prepare_train_mode,
    set_lr,
)

#: How an epoch ended: all batches done, stopped by the user, out of time, early stopping,
#: or to be run again with a smaller batch (out of memory).
Outcome = Literal["ok", "cancelled", "timebox", "early-stop", "retry"]


def batch_seed(seed: int, epoch: int, batch: int) -> int:
    return (seed * 1_000_003 + epoch * 10_007 + batch) % (2**62)


def epoch_batches(
    n: int, batch_size: int, seed: int, epoch: int, world: int = 1
) -> list[list[int]]:
    """Global batches of epoch ``epoch``. A last batch too small to split over the ranks with
    at least two images each is dropped: BatchNorm cannot train on a single image."""
    g = torch.Generator().manual_seed(seed * 7_919 + epoch)
    perm = torch.randperm(n, generator=g).tolist()
    batches = [perm[i : i + batch_size] for i in range(0, n, batch_size)]
    if batches and len(batches[-1]) < 2 * world:
        batches.pop()
    return batches


@dataclass
class _Best:
    epoch: int = 0
    val_accuracy: float = -1.0
    val_loss: float = math.inf

    def beats(self, acc: float, loss: float) -> bool:
        if not math.isfinite(acc):
            return True  # no validation data: the latest epoch is the best we know
        return acc > self.val_accuracy or (acc == self.val_accuracy and loss < self.val_loss)


@dataclass
class _State:
    epoch: int = 1  # the epoch in progress (1-based)
    next_batch: int = 0
    progress: EpochSums | None = None  # the epoch's running sums, once it has begun
    history: list[dict[str, float]] = field(default_factory=list)
    best: _Best = field(default_factory=_Best)
    elapsed_s: float = 0.0
    stale_epochs: int = 0


def fit(
    cfg: TrainConfig | None,
    run_dir: str | Path,
    cancel: CancelToken | None = None,
    resume: bool = False,
    overrides: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Iterator[Event]:
    """Train, evaluate and write a run folder, yielding events. Never raises for a failed run:
    it yields :class:`FitFailed` (and writes ``error.txt``) so every face can show it.

    The run folder is locked for the whole run (:mod:`trainer.train.run_lock`): a second training
    or resume of it fails at once. A new run refuses a folder that holds a run already unless
    ``overwrite`` (the old state and model are removed first); a resume reads the folder only
    through :mod:`trainer.train.run_folder`'s checks. Neither failure touches the folder."""
    run_dir = Path(run_dir)
    folder = RunFolder(run_dir)
    run: TrainingRun | None = None
    try:
        with folder.lock() if dist.is_main() else contextlib.nullcontext():
            if not resume and folder.is_run():
                if not overwrite:
                    raise RunExistsError(f"{run_dir}: this folder holds a training run already")
                if dist.is_main():
                    folder.clear_for_overwrite()
            run = TrainingRun(cfg, run_dir, cancel or CancelToken(), resume, overrides or {})
            yield from run.events()
    except RunFolderError as exc:  # about the folder itself: nothing is written into it
        yield FitFailed(str(run_dir), str(exc), traceback.format_exc(), failure_kind(exc))
    except Exception as exc:
        tb = traceback.format_exc()
        if dist.is_main():
            with contextlib.suppress(OSError):
                folder.write_error(tb)
        yield FitFailed(str(run_dir), failure_text(exc), tb, failure_kind(exc))
    finally:
        if run is not None:
            run.close()
        dist.cleanup()


class TrainingRun:
    def __init__(
        self,
        cfg: TrainConfig | None,
        run_dir: Path,
        cancel: CancelToken,
        resume: bool,
        overrides: dict[str, Any],
    ) -> None:
        self.run_dir = run_dir
        self.folder = RunFolder(run_dir)
        self.cancel = cancel
        self.resume = resume
        if resume:
            cfg = self.folder.config()  # checked: the folder is untrusted input
            # only the machinery may change on resume, never the recipe
            for key in ("device", "workers", "max_minutes", "amp", "checkpoint_minutes"):
                if overrides.get(key) is not None:
                    setattr(cfg, key, overrides[key])
        if cfg is None:
            raise ValueError("a TrainConfig is needed unless resuming")
        self.cfg = cfg
        self.main = dist.is_main()
        self.world = dist.world_size()
        self.rank = dist.rank()
        self.state = _State()
        self.started = time.monotonic()
        self.resources = contextlib.ExitStack()  # what close() releases (decoding workers)

    def close(self) -> None:
        """Release what the run holds beyond memory (its decoding worker processes)."""
        self.resources.close()

    # ------------------------------------------------------------------ setup
    def _setup(self) -> Iterator[Event]:
        cfg = self.cfg
        self.device = dist.init(resolve_device(cfg.device))
        self.cuda = self.device.type == "cuda"
        yield PhaseChanged("preparing", f"device: {describe_device(self.device)}")
        from trainer.train.run_data import load_run_data

        self.data = yield from load_run_data(cfg, self.device, self.main)
        self.resources.callback(self.data.close)
        self.classes = self.data.classes
        # The run draws from generators it owns, never from torch's process-wide one (which
        # other threads of an app share): the head from one seeded here, a backbone trained
        # from scratch under a forked, seeded global state, dropout per batch (_train_step).
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            self.model = build_model(cfg.backbone, len(self.classes), cfg.head)
        self.model.head.reset_parameters(torch.Generator().manual_seed(cfg.seed))
        fresh = not (self.resume and self.folder.has_state())
        if self.resume and fresh and self.main:
            yield LogMessage("no saved state in this run folder yet: starting from the beginning")
        if fresh:
            if is_model_file(cfg.pretrained):
                msg = start_from_model_file(
                    self.model, cfg.backbone, cfg.pretrained, list(self.classes)
                )
            else:
                msg = apply_pretrained(self.model.backbone, cfg.backbone, cfg.pretrained)
            if self.main:
                yield LogMessage(f"backbone weights: {msg}")
        frozen = configure_for_training(self.model, cfg, self.device)
        if self.main and cfg.freeze_stages and not cfg.freeze_backbone:
            yield LogMessage(
                f"stem and stages 0-{cfg.freeze_stages - 1} frozen ({frozen:,} parameters)"
            )
        self.step = TrainStep(self.model, cfg, self.device, self.data.mean, self.data.std)
        self.train_model: torch.nn.Module = self.model
        if dist.active():
            self.train_model = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.cuda else None
            )
            self.step.train_model = self.train_model
        self.optimizer = self.step.optimizer
        self.scheduler = _make_plateau_scheduler(self.optimizer, cfg)
        self.amp_dtype = self.step.amp_dtype
        self.scaler = self.step.scaler
        if self.main:
            self.folder.clean_leftovers()
        if not fresh:
            self._load_state()
            return
        if cfg.batchnorm == "frozen" and cfg.bn_recalibration_images > 0:
            yield from self._recalibrate_batchnorm()
        if self.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.folder.write_config(cfg)
            self._save_state()  # a run killed in its first epoch can resume from here

    def _recalibrate_batchnorm(self) -> Iterator[Event]:
        """Re-estimate BatchNorm statistics on augmented training images (seeded, so a run is
        reproducible), before they are held for the rest of training (trainer.train.bn)."""
        cfg = self.cfg
        n = min(cfg.bn_recalibration_images, len(self.data.train))
        if self.main:
            yield PhaseChanged(
                "preparing", f"measuring image statistics on {n} augmented training images"
            )
        g = torch.Generator().manual_seed(cfg.seed * 31 + 17)
        order = torch.randperm(len(self.data.train), generator=g)[:n].tolist()
        size = max(cfg.batch_size, 32)
        chunks = [order[i : i + size] for i in range(0, n, size)]

        def inputs() -> Iterator[torch.Tensor]:
            for batch in self.data.train.batches(chunks):
                good = batch.valid()
                if len(good) > 1:
                    yield self.step.augmented_inputs(good.squares, g)

        seen = recalibrate_batchnorm(self.model, inputs())
        if self.main:
            yield LogMessage(f"BatchNorm statistics re-estimated on {seen} images, then held")

    # ------------------------------------------------------------------ events
    def events(self) -> Iterator[Event]:
        yield from self._setup()
        cfg = self.cfg
        if self.main:
            yield RunStarted(
                str(self.run_dir),
                tuple(self.classes),
                self.data.counts,
                parameter_table(self.model, cfg.img_size),
                cfg.to_dict(),
                self.state.epoch if self.resume else None,
            )
            if not self.resume:
                self._save_augmented_batch()
        yield PhaseChanged("training", f"{cfg.epochs} epochs")
        stopped_early = False
        while self.state.epoch <= cfg.epochs:
            outcome = yield from self._run_epoch()
            if outcome == "cancelled":
                if self.main:
                    self._save_state()
                    yield LogMessage(
                        f"stopped during epoch {self.state.epoch}; resume with "
                        f"`brainmri train --resume {self.run_dir}`",
                        "warning",
                    )
                yield FitFinished(str(self.run_dir), True, False, list(self.state.history))
                return
            if outcome == "timebox":
                stopped_early = True
                if self.main:
                    self._save_state()
                    yield LogMessage(
                        f"time box of {cfg.max_minutes} min reached; evaluating the best epoch",
                        "warning",
                    )
                break
            if outcome == "early-stop":
                stopped_early = True
                break
        yield from self._finish(stopped_early)

    # ------------------------------------------------------------------ one epoch
    def _run_epoch(self) -> Generator[Event, None, Outcome]:
        cfg, st = self.cfg, self.state
        epoch = st.epoch
        batches = epoch_batches(len(self.data.train), cfg.batch_size, cfg.seed, epoch, self.world)
        local = [b[self.rank :: self.world] for b in batches]
        lr = self._set_lr(epoch, st.next_batch, len(batches))
        if self.main:
            yield EpochStarted(epoch, cfg.epochs, len(batches), lr)
        self.train_model.train()
        prepare_train_mode(self.model, cfg)
        t0 = last_save = time.monotonic()
        done_here = 0
        source = self.data.train.batches(local[st.next_batch :])
        for b, batch in enumerate(source, start=st.next_batch):
            lr = self._set_lr(epoch, b, len(batches))
            if batch.failures and self.main:
                yield from report_failures(self.data.train, batch.failures, "this batch")
            good = batch.valid()
            try:
                if len(good) > 1:  # BatchNorm-free or not, one image is no batch to learn from
                    self._train_step(good.squares, good.labels, epoch, b)
            except torch.OutOfMemoryError:
                yield from self._shrink_batch_after_oom()
                return "retry"
            st.next_batch = b + 1
            if self.main and time.monotonic() - last_save > cfg.checkpoint_minutes * 60:
                self._save_state()  # long epochs on a CPU: never lose more than a few minutes
                last_save = time.monotonic()
            done_here += len(good) * self.world
            if self.main:
                dt = time.monotonic() - t0
                ips = done_here / dt if dt > 0 else 0.0
                shown = self._epoch_sums().latest()
                yield BatchEnded(
                    epoch,
                    b + 1,
                    len(batches),
                    shown.loss,
                    shown.accuracy,
                    ips,
                    self._eta(len(batches), b + 1, ips),
                    lr,
                )
            stop = dist.broadcast_flag(self._should_stop(), self.device)
            if stop and st.next_batch < len(batches):
                return "timebox" if self._time_is_up() else "cancelled"
        st.elapsed_s += time.monotonic() - t0
        metrics = yield from self._end_epoch(epoch, lr, time.monotonic() - t0)
        if self.main:
            yield EpochEnded(epoch, cfg.epochs, metrics, metrics["is_best"] == 1.0)
        st.epoch, st.next_batch, st.progress = epoch + 1, 0, None
        if self.main:
            self._save_state()
        patience = cfg.early_stopping_patience
        stop_early = patience is not None and patience > 0 and st.stale_epochs >= patience
        if dist.broadcast_flag(stop_early, self.device):
            return "early-stop"
        if dist.broadcast_flag(self._should_stop(), self.device) and st.epoch <= cfg.epochs:
            return "timebox" if self._time_is_up() else "cancelled"
        return "ok"

    def _set_lr(self, epoch: int, batch: int, batches: int) -> float:
        factor = lr_factor(self.cfg, epoch, batch, batches)
        if factor is not None:
            set_lr(self.optimizer, self.cfg.lr * factor)
        return float(self.optimizer.param_groups[0]["lr"])

    def _epoch_sums(self) -> EpochSums:
        if self.state.progress is None:
            self.state.progress = EpochSums(self.device)
        return self.state.progress

    def _train_step(self, x: torch.Tensor, y: torch.Tensor, epoch: int, b: int) -> None:
        cfg = self.cfg
        seed = batch_seed(cfg.seed, epoch, b) + self.rank
        gen = torch.Generator().manual_seed(seed)  # augmentation, then dropout
        result = self.step(x, y, gen)
        self._epoch_sums().add(result.sums, result.count)

    def _end_epoch(
        self, epoch: int, lr: float, seconds: float
    ) -> Generator[Event, None, dict[str, float]]:
        st = self.state
        totals = self._epoch_sums().exact().as_list()
        loss_sum, reg_sum, correct, count = dist.all_sum(totals, self.device)
        metrics: dict[str, float] = {
            "epoch": float(epoch),
            "loss": loss_sum / max(count, 1),
            "reg_loss": reg_sum / max(count, 1),
            "accuracy": correct / max(count, 1),
            "lr": lr,
            "time_s": seconds,
            "images_per_s": count / seconds if seconds > 0 else 0.0,
        }
        if self.main:
            yield PhaseChanged("evaluating", f"validation after epoch {epoch}")
            val = self.evaluate_split("val")
            metrics["val_loss"], metrics["val_accuracy"] = val["loss"], val["accuracy"]
            is_best = st.best.beats(val["accuracy"], val["loss"])
            if is_best:
                st.best = _Best(epoch, val["accuracy"], val["loss"])
                st.stale_epochs = 0
                self.folder.save_best_weights(self.model)
            else:
                st.stale_epochs += 1
            metrics["is_best"] = 1.0 if is_best else 0.0
            st.history.append(metrics)
            self._write_history()
            yield PhaseChanged("training")
        shared = dist.all_sum(
            [metrics.get("val_loss", 0.0), float(st.stale_epochs)] if self.main else [0.0, 0.0],
            self.device,
        )
        st.stale_epochs = int(shared[1])
        self._step_scheduler(shared[0])
        return metrics

    # ------------------------------------------------------------------ helpers
    def _shrink_batch_after_oom(self) -> Iterator[Event]:
        """Out of GPU memory: halve the batch and restart this epoch from the current weights,
        rather than lose the run. Raises :class:`TrainingOutOfMemory` when halving cannot
        help."""
        cfg = self.cfg
        self.optimizer.zero_grad(set_to_none=True)
        if self.cuda:
            torch.cuda.empty_cache()
        if dist.active() or cfg.batch_size < 4:
            raise TrainingOutOfMemory(cfg.batch_size, describe_device(self.device))
        old = cfg.batch_size
        cfg.batch_size //= 2
        self.state.next_batch, self.state.progress = 0, None
        if self.main:
            self.folder.write_config(cfg)
        yield BatchSizeChanged(old, cfg.batch_size, self.state.epoch)
        yield LogMessage(
            f"out of memory at batch size {old}: continuing with batch size {cfg.batch_size}, "
            f"restarting epoch {self.state.epoch} from the current weights",
            "warning",
        )

    def _should_stop(self) -> bool:
        return self.cancel.cancelled or self._time_is_up()

    def _time_is_up(self) -> bool:
        limit = self.cfg.max_minutes
        return limit is not None and time.monotonic() - self.started > limit * 60

    def _eta(self, batches: int, done: int, ips: float) -> float:
        if ips <= 0:
            return float("nan")
        per_batch = self.cfg.batch_size / ips
        left_epochs = self.cfg.epochs - self.state.epoch
        return per_batch * ((batches - done) + left_epochs * batches)

    def _step_scheduler(self, val_loss: float) -> None:
        if self.scheduler is not None:  # "plateau"; every other schedule is set per batch
            self.scheduler.step(val_loss)

    def infer(self, part: str, indices: list[int] | None = None) -> Inference:
        """Logits, embeddings and labels of a split (or of ``indices`` into it), in order,
        with the unwrapped model; rows whose file failed are marked, not dropped."""
        return self._record().infer(part, indices)

    def _record(self) -> FinishedRun:
        """The run as it stands, as the frozen record finalizing and inference read."""
        return FinishedRun(
            self.run_dir,
            self.cfg,
            self.data,
            self.model,
            self.state.best.epoch,
            tuple(dict(h) for h in self.state.history),
            self.device,
            self.amp_dtype,
            self.step.channels_last,
        )

    def evaluate_split(self, part: str) -> dict[str, Any]:
        from trainer.metrics import evaluate_logits

        logits, _, labels = self.infer(part).valid()
        return evaluate_logits(logits, labels, self.classes)

    # ------------------------------------------------------------------ files
    def _save_state(self) -> None:
        st = self.state
        self.folder.save_checkpoint(
            Checkpoint(
                model=self.model.state_dict(),
                optimizer=self.optimizer.state_dict(),
                scheduler=self.scheduler.state_dict() if self.scheduler else {},
                scaler=self.scaler.state_dict(),
                epoch=st.epoch,
                next_batch=st.next_batch,
                progress=(st.progress.exact() if st.progress else Totals()).as_list(),
                history=st.history,
                best=(st.best.epoch, st.best.val_accuracy, st.best.val_loss),
                elapsed_s=st.elapsed_s,
                stale_epochs=st.stale_epochs,
            )
        )

    def _load_state(self) -> None:
        c = self.folder.load_checkpoint(self.device, self.cfg.epochs)
        self.model.load_state_dict(c.model)
        self.optimizer.load_state_dict(c.optimizer)
        if self.scheduler and c.scheduler:
            self.scheduler.load_state_dict(c.scheduler)
        if c.scaler:
            self.scaler.load_state_dict(c.scaler)
        self.state = _State(
            epoch=c.epoch,
            next_batch=c.next_batch,
            progress=EpochSums(self.device, Totals(*c.progress)),
            history=c.history,
            best=_Best(*c.best),
            elapsed_s=c.elapsed_s,
            stale_epochs=c.stale_epochs,
        )

    def _write_history(self) -> None:
        write_history(self.folder, self.state.history)

    def _save_augmented_batch(self) -> None:
        from trainer.train.plots import save_augmented_batch

        cfg = self.cfg
        batches = epoch_batches(len(self.data.train), 16, cfg.seed, 1)
        first = batches[0] if batches else list(range(min(16, len(self.data.train))))
        batch = next(iter(self.data.train.batches([first]))).valid()
        x, y = batch.squares, batch.labels
        x01 = x.unsqueeze(1).float().div(255.0)
        gen = torch.Generator().manual_seed(batch_seed(cfg.seed, 1, 0))
        aug, _ = augment_batch(x01, cfg.augment, gen)
        save_augmented_batch(
            aug[:, 0].cpu().numpy(), y.tolist(), self.classes, self.folder.augmented_batch_path
        )

    # ------------------------------------------------------------------ the end
    def _finish(self, stopped_early: bool) -> Iterator[Event]:
        if not self.main:
            dist.barrier()
            yield FitFinished(str(self.run_dir), False, stopped_early, [])
            return
        yield PhaseChanged("evaluating", "best epoch on validation and test")
        self.folder.load_best_weights(self.model, self.device)
        result = yield from finalize_run(self._record())
        dist.barrier()
        yield PhaseChanged("done")
        yield FitFinished(
            str(self.run_dir),
            False,
            stopped_early,
            list(self.state.history),
            result["test"],
            str(result["model_path"]),
        )


def _make_plateau_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig) -> Any:
    """The one stateful schedule: the Keras notebooks halve the learning rate when validation
    loss stops improving. Every other schedule is :func:`trainer.train.step.lr_factor`."""
    if cfg.schedule != "plateau":
        lr_factor(cfg, 1, 0, 1)  # validates the name early
        return None
    return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=1)


def failure_text(exc: BaseException) -> str:
    """One line for a failed run: a file system error in plain words ("…/state.pt: the disk
    is full"), a brainmri error as its message, anything else with its type."""
    if isinstance(exc, OSError):
        return os_error_text(exc)
    if isinstance(exc, BrainMRIError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def failure_kind(exc: BaseException) -> str:
    """What kind of failure a face should explain (typed, never read out of the message)."""
    from trainer.errors import DatasetError, PretrainedWeightsError

    if isinstance(exc, TrainingOutOfMemory | torch.OutOfMemoryError):
        return "out_of_memory"
    if isinstance(exc, PretrainedWeightsError):
        return "weights_unavailable"
    if isinstance(exc, DatasetError):
        return "data"
    if isinstance(exc, RunExistsError):
        return "run_exists"
    return "error"


__all__ = ["TrainingRun", "epoch_batches", "failure_kind", "fit"]
