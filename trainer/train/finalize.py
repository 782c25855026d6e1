"""After the last epoch: calibrate, fit the out-of-distribution check, test, write the run.

Order matters and is the honest one: the temperature and the OOD threshold are fitted on
validation data only; the test split is touched once, at the very end, with everything fixed.
The test accuracy is also reported on the de-duplicated test list (test images with no
near-twin in training or validation), because in the public data set over half of the test
images have one and a high test accuracy alone proves little.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainer import NOT_FOR_CLINICAL_USE
from trainer.config import TrainConfig
from trainer.data.discovery import Sample
from trainer.data.sources import BatchSource
from trainer.evaluation import EvalResult, evaluate
from trainer.inference import Inference, predict_rows
from trainer.metrics import classification_report_text
from trainer.model import BrainTumorClassifier, default_ood_layer
from trainer.modelfile import base_metadata, save_model_file
from trainer.ood import OODModel, fit_ood
from trainer.train.events import Event, FileSkipped, LogMessage, PhaseChanged
from trainer.train.history import write_history
from trainer.train.run_data import RunData
from trainer.train.run_folder import RunFolder


@dataclass(frozen=True)
class FinishedRun:
    """A finished run, fully built: its recipe, data, best weights and history. Finalizing
    reads nothing else, so it never sees a training loop half-way through anything."""

    run_dir: Path
    cfg: TrainConfig
    data: RunData
    model: BrainTumorClassifier  # holding the best epoch's weights
    best_epoch: int
    history: tuple[dict[str, float], ...]
    device: torch.device
    amp_dtype: torch.dtype | None
    channels_last: bool

    @property
    def classes(self) -> tuple[str, ...]:
        return self.data.classes

    @property
    def folder(self) -> RunFolder:
        return RunFolder(self.run_dir)

    def evaluate(
        self,
        part: str,
        temperature: float | None,
        ood: OODModel | None = None,
        on_dedup_error: Callable[[Exception], None] | None = None,
    ) -> EvalResult:
        """A split of the run through the one evaluation pipeline (:mod:`trainer.evaluation`),
        with the model as it stands; the test split with its de-duplicated list."""
        source: BatchSource = getattr(self.data, part)
        return evaluate(
            self.model,
            source,
            self.classes,
            device=self.device,
            mean=self.data.mean,
            std=self.data.std,
            split=part,
            batch_size=max(self.cfg.batch_size, 32),
            temperature=temperature,
            ood=ood,
            dedup=self._dedup_rows if part == "test" else None,
            on_dedup_error=on_dedup_error,
            amp_dtype=self.amp_dtype,
            channels_last=self.channels_last,
        )

    def _dedup_rows(self, samples: Sequence[Sample], ok: np.ndarray) -> list[int]:
        return [i for i in dedup_indices(self) if ok[i]]

    def infer(self, part: str, indices: list[int] | None = None) -> Inference:
        return predict_rows(
            self.model,
            getattr(self.data, part),
            indices,
            max(self.cfg.batch_size, 32),
            self.device,
            self.data.mean,
            self.data.std,
            self.amp_dtype,
            self.channels_last,
        )


OOD_TRAIN_LIMIT = 2000  # plenty for a shrunk 256-d Gaussian; bounds CPU time at the end of a run
DEDUP_DISTANCE = 4


def dedup_indices(run: FinishedRun) -> list[int]:
    """Indices into the test split of images with no pHash ≤ 4 match in train or val."""
    from trainer.data.duplicates import dedup_split_indices

    return dedup_split_indices(run.data.split, run.data.phash_of, DEDUP_DISTANCE)


def report_failures(
    source: BatchSource, failures: tuple[tuple[int, str], ...], where: str
) -> Iterator[Event]:
    """Files that broke after the up-front check (during training or the final evaluation):
    a typed event for the faces and a warning naming the file; the run goes on."""
    for row, reason in failures:
        rel = source.samples[row].rel
        yield FileSkipped(rel, reason)
        yield LogMessage(f"left out {rel} in {where}: {reason}", "warning")


def finalize_run(run: FinishedRun) -> Generator[Event, None, dict[str, Any]]:
    """Calibrate on validation, fit the OOD check, evaluate the test split once, write the
    model file and the reports; returns ``{"test", "val", "test_dedup", "model_path"}``."""
    cfg, classes, out = run.cfg, list(run.classes), run.folder
    run.model.set_ood_layer(default_ood_layer(run.model.backbone))
    yield PhaseChanged("calibrating", "temperature scaling and OOD threshold on validation")
    val_result = run.evaluate("val", temperature=None)  # the temperature is fitted here
    yield from report_failures(run.data.val, val_result.inference.failures, "the validation split")
    temperature, val = val_result.temperature, val_result.metrics
    val_emb = val_result.inference.valid()[1]
    n_train = len(run.data.train)
    pick = None  # a random subset: the split is sorted by class, its head is one class
    if n_train > OOD_TRAIN_LIMIT:
        chosen = np.random.default_rng(0).choice(n_train, OOD_TRAIN_LIMIT, replace=False)
        pick = sorted(int(i) for i in chosen)
    _, train_emb, train_y = run.infer("train", pick).valid()
    ood = fit_ood(train_emb, train_y, len(classes), val_emb)

    yield PhaseChanged("evaluating", "test split")
    dedup_errors: list[Exception] = []  # a report extra: never lose a finished run over it
    test_result = run.evaluate("test", temperature, ood, dedup_errors.append)
    yield from report_failures(run.data.test, test_result.inference.failures, "the test split")
    for exc in dedup_errors:
        yield LogMessage(f"could not compute the de-duplicated test list: {exc}", "warning")
    test = {
        **test_result.metrics,
        "failed_files": [rel for rel, _ in test_result.failures],
        "ood_flagged": test_result.ood_flagged or 0,
    }
    dedup = test_result.dedup

    meta = base_metadata(cfg.backbone, classes, cfg.img_size, cfg.head, run.data.mean, run.data.std)
    meta.update(
        temperature=temperature,
        name=out.name,
        not_for_clinical_use=NOT_FOR_CLINICAL_USE,
        metrics=_summary(val, test, dedup, run.best_epoch),
        data={
            "fingerprint": run.data.fingerprint,
            "source_name": run.data.index.root.name,
            "split": run.data.split.method,
            "split_details": run.data.split.details,
            "counts": run.data.counts,
            "skipped_files": len(run.data.skipped),
        },
        training={
            k: v for k, v in cfg.to_dict().items() if k not in ("data", "cache", "split_files")
        },
        history=list(run.history),
    )
    yield PhaseChanged("saving", "model file and reports")
    model_path = save_model_file(out.model_path, run.model, meta, ood)
    _write_reports(run, val, test, dedup)
    out.write_predictions(test_result.prediction_rows(), classes)
    return {"test": test, "val": val, "test_dedup": dedup, "model_path": model_path}


def _summary(
    val: dict[str, Any], test: dict[str, Any], dedup: dict[str, Any] | None, best_epoch: int
) -> dict[str, Any]:
    def brief(m: dict[str, Any] | None) -> dict[str, Any] | None:
        if m is None:
            return None
        keys = (
            "n",
            "accuracy",
            "accuracy_ci95",
            "loss",
            "ece",
            "loss_calibrated",
            "ece_calibrated",
            "macro_avg",
        )
        return {k: m[k] for k in keys if k in m}

    return {
        "best_epoch": best_epoch,
        "val": brief(val),
        "test": brief(test),
        "test_dedup": brief(dedup),
    }


def _write_reports(
    run: FinishedRun, val: dict[str, Any], test: dict[str, Any], dedup: dict[str, Any] | None
) -> None:
    from trainer.train.plots import save_confusion_matrix

    out, classes = run.folder, list(run.classes)
    out.write_metrics("val", val)
    out.write_metrics("test", {**test, "dedup": dedup})
    report = classification_report_text(test)
    text = [
        f"Test split: {test['n']} images. {NOT_FOR_CLINICAL_USE}",
        "",
        report,
        f"accuracy {test['accuracy']:.4f} "
        f"(95 % CI {test['accuracy_ci95'][0]:.4f}–{test['accuracy_ci95'][1]:.4f}), "
        f"loss {test['loss']:.4f}",
    ]
    if dedup is not None:
        text += [
            "",
            f"De-duplicated test list ({dedup['n']} images without a pHash ≤ {DEDUP_DISTANCE} "
            "near-twin in training or validation):",
            "",
            classification_report_text(dedup),
        ]
    out.write_report("\n".join(text) + "\n")
    save_confusion_matrix(test["confusion_matrix"], classes, out.confusion_path)
    if run.history:
        write_history(out, run.history)
