"""After the last epoch: calibrate, fit the out-of-distribution check, test, write the run.

Order matters and is the honest one: the temperature and the OOD threshold are fitted on
validation data only; the test split is touched once, at the very end, with everything fixed.
The test accuracy is also reported on the de-duplicated test list (test images with no
near-twin in training or validation), because in the public data set over half of the test
images have one and a high test accuracy alone proves little.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainer import NOT_FOR_CLINICAL_USE
from trainer.atomic import write_json, write_text
from trainer.calibration import fit_temperature
from trainer.config import TrainConfig
from trainer.data.sources import BatchSource
from trainer.events import Event, FileSkipped, LogMessage, PhaseChanged
from trainer.history import write_history
from trainer.inference import Inference, predict_rows
from trainer.metrics import classification_report_text, evaluate_logits
from trainer.model import BrainTumorClassifier, default_ood_layer
from trainer.modelfile import base_metadata, save_model_file
from trainer.ood import fit_ood
from trainer.run_data import RunData
from trainer.run_folder import MODEL_FILE


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


def finalize_run(run: FinishedRun) -> Iterator[Event]:
    cfg, classes, out = run.cfg, list(run.classes), run.run_dir
    run.model.set_ood_layer(default_ood_layer(run.model.backbone))
    yield PhaseChanged("calibrating", "temperature scaling and OOD threshold on validation")
    val_result = run.infer("val")
    yield from report_failures(run.data.val, val_result.failures, "the validation split")
    val_logits, val_emb, val_y = val_result.valid()
    temperature = fit_temperature(val_logits, val_y)
    val = evaluate_logits(val_logits, val_y, classes, temperature)
    n_train = len(run.data.train)
    pick = None  # a random subset: the split is sorted by class, its head is one class
    if n_train > OOD_TRAIN_LIMIT:
        chosen = np.random.default_rng(0).choice(n_train, OOD_TRAIN_LIMIT, replace=False)
        pick = sorted(int(i) for i in chosen)
    _, train_emb, train_y = run.infer("train", pick).valid()
    ood = fit_ood(train_emb, train_y, len(classes), val_emb)

    yield PhaseChanged("evaluating", "test split")
    test_result = run.infer("test")
    yield from report_failures(run.data.test, test_result.failures, "the test split")
    test_ok = test_result.ok
    test_logits, test_emb, test_y = test_result.valid()
    test = evaluate_logits(test_logits, test_y, classes, temperature)
    test["failed_files"] = [run.data.split.test[row].rel for row, _ in test_result.failures]
    test["ood_flagged"] = int(ood.is_ood(test_emb).sum()) if len(test_y) else 0
    dedup: dict[str, Any] | None = None
    if len(test_y):
        try:
            keep = [i for i in dedup_indices(run) if test_ok[i]]
            rows = test_result
            dedup = evaluate_logits(rows.logits[keep], rows.labels[keep], classes, temperature)
            dedup["paths"] = [run.data.split.test[i].rel for i in keep]
        except Exception as exc:  # a report extra: never lose a finished run over it
            yield LogMessage(f"could not compute the de-duplicated test list: {exc}", "warning")

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
    model_path = save_model_file(out / MODEL_FILE, run.model, meta, ood)
    _write_reports(run, val, test, dedup)
    _write_predictions(run, test_result, temperature)
    return {"test": test, "val": val, "test_dedup": dedup, "model_path": model_path}


def _write_predictions(run: FinishedRun, result: Inference, temperature: float) -> None:
    """``predictions_test.csv``: one row per test image (absolute path, true and predicted
    class, calibrated probabilities), so a viewer can show the misclassified ones; a file
    that could not be read keeps its row, marked ``failed`` with the reason."""
    from trainer.csv_cells import csv_table
    from trainer.metrics import softmax

    classes = list(run.classes)
    reasons = dict(result.failures)
    probs = np.zeros((len(result.labels), len(classes)))
    if result.ok.any():
        probs[result.ok] = softmax(result.logits[result.ok], temperature)
    rows = []
    for row, (sample, y, p) in enumerate(
        zip(run.data.split.test, result.labels, probs, strict=True)
    ):
        if row in reasons:
            rows.append(
                [str(sample.path), classes[int(y)], "failed", *[""] * len(classes), reasons[row]]
            )
            continue
        rows.append(
            [
                str(sample.path),
                classes[int(y)],
                classes[int(p.argmax())],
                *[f"{v:.6f}" for v in p],
                "",
            ]
        )
    header = ["path", "true", "predicted", *[f"p_{c}" for c in classes], "error"]
    write_text(run.run_dir / "predictions_test.csv", csv_table(header, rows))


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
    from trainer.plots import save_confusion_matrix

    out, classes = run.run_dir, list(run.classes)
    write_json(out / "eval_val.json", val)
    write_json(out / "eval_test.json", {**test, "dedup": dedup})
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
    write_text(out / "classification_report.txt", "\n".join(text) + "\n")
    save_confusion_matrix(test["confusion_matrix"], classes, out / "confusion_matrix.png")
    if run.history:
        write_history(out, run.history)
