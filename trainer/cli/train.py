"""``brainmri train``: the paper's fine-tuning, with a progress bar.

The first Ctrl-C (or SIGTERM) asks the loop to stop after the current batch and save a
resumable state; a second one aborts at once.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import signal
import sys
import time
from pathlib import Path
from typing import Any

from trainer.config import PRESETS, TrainConfig, apply_overrides, preset_config
from trainer.names import printable
from trainer.train.run_folder import RunFolder
from trainer.vocab import BATCHNORM_MODES, DEVICES, OPTIMIZERS, SCHEDULES, SPLIT_CHOICES


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a classifier and write a run folder",
        description="Train EfficientNet with the paper's head. Every preset value can be "
        "overridden by the options below.",
    )
    data = p.add_argument_group("data")
    data.add_argument(
        "--data", help="data folder (Training/<class>/…, Testing/<class>/… or <class>/…)"
    )
    data.add_argument(
        "--cache",
        help="a cache made by `brainmri prepare` (faster; used instead of decoding files)",
    )
    data.add_argument(
        "--split",
        choices=SPLIT_CHOICES,
        default=None,
        help="paper (default): Training trains, Testing halves are val/test",
    )
    data.add_argument(
        "--split-file",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="explicit list for split NAME (train, val, test), one relative path per line",
    )
    data.add_argument(
        "--val-fraction", type=float, help="stratified validation fraction of the training folder"
    )
    data.add_argument("--test-fraction", type=float, help="stratified test fraction (flat folders)")
    data.add_argument(
        "--limit-per-class", type=int, help="first N images of each class in each split"
    )

    model = p.add_argument_group("model")
    model.add_argument("--preset", choices=sorted(PRESETS), default="paper")
    model.add_argument("--backbone", help="any timm model name (default efficientnet_b3)")
    model.add_argument("--pretrained", help="imagenet | none | PATH to a weights file")
    model.add_argument(
        "--freeze-backbone",
        action="store_true",
        default=None,
        help="train the head only (fast transfer learning on a CPU)",
    )
    model.add_argument(
        "--freeze-stages",
        type=int,
        metavar="N",
        help="freeze the stem and the first N stages (no backward pass there: CPU fine-tuning)",
    )
    model.add_argument(
        "--batchnorm",
        choices=BATCHNORM_MODES,
        help="frozen: re-estimate BatchNorm statistics once, then hold them (about 2x faster "
        "on a CPU)",
    )
    model.add_argument(
        "--bn-recalibration-images",
        type=int,
        metavar="N",
        help="augmented training images for that re-estimate",
    )
    model.add_argument("--img-size", type=int)
    model.add_argument("--dropout", type=float)
    model.add_argument("--hidden", type=int)
    model.add_argument("--l2", type=float, help="L2 factor on the 256-unit kernel (Keras style)")
    model.add_argument("--l1-activity", type=float)
    model.add_argument("--l1-bias", type=float)

    opt = p.add_argument_group("optimisation")
    opt.add_argument("--epochs", type=int)
    opt.add_argument("--batch-size", type=int)
    opt.add_argument("--optimizer", choices=OPTIMIZERS)
    opt.add_argument("--lr", type=float)
    opt.add_argument("--weight-decay", type=float)
    opt.add_argument("--schedule", choices=SCHEDULES)
    opt.add_argument("--warmup-epochs", type=int)
    opt.add_argument("--label-smoothing", type=float)
    opt.add_argument(
        "--early-stopping", type=int, dest="early_stopping_patience", metavar="PATIENCE"
    )
    opt.add_argument("--rotation", type=float, help="max rotation in degrees (5)")
    opt.add_argument("--shift", type=float, help="max shift as a fraction of width/height (0.05)")
    opt.add_argument("--no-hflip", dest="hflip", action="store_false", default=None)
    opt.add_argument(
        "--crop-scale", type=float, help="zoom into random crops at least this wide (1 = off)"
    )
    opt.add_argument("--hide-grid", type=int, help="Hide-and-Seek grid cells per side (0 = off)")
    opt.add_argument("--hide-prob", type=float, help="Hide-and-Seek: chance a cell is hidden")
    opt.add_argument("--gamma", type=float, help="random gamma exp(U(-g, g)) (0 = off)")
    opt.add_argument("--contrast", type=float, help="random contrast 1 + U(-c, c) (0 = off)")
    opt.add_argument("--cutmix", type=float, help="CutMix: chance a batch is mixed (0 = off)")

    run = p.add_argument_group("run")
    run.add_argument("--device", choices=DEVICES)
    run.add_argument("--no-amp", dest="amp", action="store_false", default=None)
    run.add_argument("--workers", type=int, help="data-loader processes")
    run.add_argument(
        "--in-memory",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="decode every image once into RAM (lossless; fastest without a GPU)",
    )
    run.add_argument(
        "--checkpoint-minutes",
        type=float,
        help="save a resumable state this often within an epoch (5)",
    )
    run.add_argument("--seed", type=int)
    run.add_argument("--max-minutes", type=float, help="time box: stop resumably, then evaluate")
    run.add_argument("--out", help="run folder (default runs/<timestamp>-<backbone>)")
    run.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    run.add_argument(
        "--overwrite",
        action="store_true",
        help="start a new run in --out even though it holds a run already (its state and "
        "model are deleted)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_command)


OVERRIDES = (
    "data",
    "cache",
    "val_fraction",
    "test_fraction",
    "limit_per_class",
    "backbone",
    "pretrained",
    "freeze_backbone",
    "freeze_stages",
    "batchnorm",
    "bn_recalibration_images",
    "img_size",
    "dropout",
    "hidden",
    "l2",
    "l1_activity",
    "l1_bias",
    "epochs",
    "batch_size",
    "optimizer",
    "lr",
    "weight_decay",
    "schedule",
    "warmup_epochs",
    "label_smoothing",
    "early_stopping_patience",
    "rotation",
    "shift",
    "hflip",
    "crop_scale",
    "hide_grid",
    "hide_prob",
    "gamma",
    "contrast",
    "cutmix",
    "device",
    "amp",
    "workers",
    "in_memory",
    "checkpoint_minutes",
    "seed",
    "max_minutes",
)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    cfg = preset_config(args.preset)
    values: dict[str, Any] = {k: getattr(args, k, None) for k in OVERRIDES}
    if args.split_file:
        pairs = dict(item.split("=", 1) for item in args.split_file if "=" in item)
        if len(pairs) != len(args.split_file):
            raise SystemExit("--split-file expects NAME=FILE, e.g. --split-file val=val.txt")
        values["split_files"] = pairs
        values["split"] = "files"
    elif args.split:
        values["split"] = args.split
    apply_overrides(cfg, values)
    if not cfg.data and not cfg.cache:
        raise SystemExit("brainmri train: give --data DIR (or --cache FILE)")
    return cfg


# what a command-line user does about a run folder that holds a run already (the engine's
# message says only that it does, for every face)
_RUN_EXISTS_ADVICE = (
    "; continue it with brainmri train --resume {run}, or add --overwrite to start a new run "
    "there (its saved state and model are deleted)"
)


def default_run_dir(cfg: TrainConfig) -> Path:
    return Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{cfg.backbone}"


def run_command(args: argparse.Namespace) -> int:
    from trainer.train.engine import fit
    from trainer.train.events import CancelToken

    cancel = CancelToken()
    before = _install_sigint(cancel)
    try:
        if args.resume:
            run_dir = Path(args.resume)
            machinery = ("device", "workers", "max_minutes", "amp", "checkpoint_minutes")
            overrides = {k: getattr(args, k, None) for k in machinery}
            events = fit(None, run_dir, cancel, resume=True, overrides=overrides)
        else:
            cfg = config_from_args(args)
            run_dir = Path(args.out) if args.out else default_run_dir(cfg)
            events = fit(cfg, run_dir, cancel, overwrite=args.overwrite)
        return ConsoleReporter(quiet=args.quiet).drive(events)
    finally:  # a caller in the same process (tests, embedding) gets its own handlers back
        for signum, previous in before.items():
            signal.signal(signum, previous)


def _install_sigint(cancel: Any) -> dict[int, Any]:
    """Ctrl-C and SIGTERM stop the run after the batch; returns the handlers they replaced."""

    def handler(signum: int, frame: Any) -> None:
        if cancel.cancelled:
            raise KeyboardInterrupt
        print(
            "\nstopping after this batch and saving a resumable state (Ctrl-C again to abort)",
            file=sys.stderr,
        )
        cancel.cancel()

    # not the main thread (embedded use): no handler, the cancel token only. SIGTERM (a
    # scheduler, a shutdown) saves the state as Ctrl-C does rather than losing the epoch.
    before: dict[int, Any] = {}
    with contextlib.suppress(ValueError):
        for signum in (signal.SIGINT, signal.SIGTERM):
            before[signum] = signal.signal(signum, handler)
    return before


def _fmt_time(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ConsoleReporter:
    """Drives ``fit()`` and prints what a person at a terminal wants to see."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.bar: Any = None

    def drive(self, events: Any) -> int:
        from trainer.train import events as ev

        code = 0
        for e in events:
            if isinstance(e, ev.RunStarted):
                self._started(e)
            elif isinstance(e, ev.PhaseChanged) and e.message:
                self._close_bar()
                print(f"[{e.phase}] {e.message}", flush=True)
            elif isinstance(e, ev.LogMessage):
                self._close_bar()
                prefix = "warning: " if e.level == "warning" else ""
                print(f"{prefix}{e.message}", flush=True)
            elif isinstance(e, ev.EpochStarted):
                self._open_bar(e)
            elif isinstance(e, ev.BatchEnded):
                self._batch(e)
            elif isinstance(e, ev.EpochEnded):
                self._close_bar()
                self._epoch(e)
            elif isinstance(e, ev.FitFailed):
                self._close_bar()
                report = RunFolder(e.run_dir).error_path
                where = f"\n(traceback in {report})" if report.is_file() else ""
                advice = _RUN_EXISTS_ADVICE if e.kind == "run_exists" else ""
                message = printable(e.error) + advice.format(run=printable(e.run_dir))
                print(f"training failed: {message}{where}", file=sys.stderr)
                code = 1
            elif isinstance(e, ev.FitFinished):
                self._close_bar()
                code = 3 if e.cancelled else 0
                self._finished(e)
        return code

    def _started(self, e: Any) -> None:
        from trainer import NOT_FOR_CLINICAL_USE

        print(f"run folder: {e.run_dir}")
        if e.resumed_from_epoch:
            print(f"resuming at epoch {e.resumed_from_epoch}")
        print(f"classes: {', '.join(e.classes)}")
        for part, per in e.counts.items():
            print(
                f"  {part:<5} {sum(per.values()):>6}  "
                + "  ".join(f"{c} {n}" for c, n in per.items())
            )
        print(e.parameter_table)
        print(NOT_FOR_CLINICAL_USE, flush=True)

    def _open_bar(self, e: Any) -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        self.bar = tqdm(
            total=e.batches,
            desc=f"epoch {e.epoch}/{e.epochs}",
            unit="batch",
            dynamic_ncols=True,
            leave=False,
            file=sys.stderr,
        )

    def _batch(self, e: Any) -> None:
        if self.bar is None:
            return
        self.bar.n = e.batch
        self.bar.set_postfix_str(
            f"loss {e.loss:.4f} acc {e.accuracy:.3f} {e.images_per_s:.1f} img/s "
            f"ETA {_fmt_time(e.eta_s)}",
            refresh=False,
        )
        self.bar.refresh()

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _epoch(self, e: Any) -> None:
        m = e.metrics
        best = "  *best*" if e.is_best else ""
        print(
            f"epoch {e.epoch:>3}/{e.epochs}  loss {m['loss']:.4f}  acc {m['accuracy']:.4f}  "
            f"val_loss {m.get('val_loss', float('nan')):.4f}  "
            f"val_acc {m.get('val_accuracy', float('nan')):.4f}  lr {m['lr']:.2e}  "
            f"reg {m['reg_loss']:.4f}  {m['images_per_s']:.1f} img/s  "
            f"{_fmt_time(m['time_s'])}{best}",
            flush=True,
        )

    def _finished(self, e: Any) -> None:
        if e.cancelled:
            print(f"stopped; resume with: brainmri train --resume {e.run_dir}")
            return
        t = e.test_metrics or {}
        if t.get("n"):
            lo, hi = t["accuracy_ci95"]
            print(
                f"test: accuracy {t['accuracy']:.4f} (95 % CI {lo:.4f}–{hi:.4f}), "
                f"loss {t['loss']:.4f}, n={t['n']}"
            )
        print(f"model: {e.model_path}")
