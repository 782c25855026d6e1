"""Evaluation numbers computed from logits and labels, with no framework in between.

The classification report follows scikit-learn's (and so the paper's) layout, so a reader can
put our table beside the paper's line by line.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def cross_entropy(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    if len(labels) == 0:
        return float("nan")
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(labels)), labels].mean())


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (labels, preds), 1)
    return cm


def wilson_interval(correct: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """95 % score interval for a proportion; honest at 99 %+ where the normal one is not."""
    if total == 0:
        return (float("nan"), float("nan"))
    p = correct / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def per_class_report(cm: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1).astype(float)
    predicted = cm.sum(axis=0).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    per_class = {
        c: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, c in enumerate(classes)
    }
    total = support.sum()
    weights = support / total if total else np.zeros_like(support)
    present = support > 0
    macro = {
        k: float(v[present].mean()) if present.any() else 0.0
        for k, v in (("precision", precision), ("recall", recall), ("f1", f1))
    }
    weighted = {
        k: float((v * weights).sum())
        for k, v in (("precision", precision), ("recall", recall), ("f1", f1))
    }
    return {
        "per_class": per_class,
        "macro_avg": {**macro, "support": int(total)},
        "weighted_avg": {**weighted, "support": int(total)},
    }


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Top-label ECE with equal-width confidence bins (Guo et al., 2017)."""
    if len(labels) == 0:
        return float("nan")
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in itertools.pairwise(edges):
        in_bin = (conf > lo) & (conf <= hi)
        if in_bin.any():
            ece += in_bin.mean() * abs(conf[in_bin].mean() - correct[in_bin].mean())
    return float(ece)


def evaluate_logits(
    logits: np.ndarray,
    labels: np.ndarray,
    classes: Sequence[str],
    temperature: float = 1.0,
) -> dict[str, Any]:
    """Everything ``eval_*.json`` holds, from raw logits."""
    preds = logits.argmax(axis=1) if len(labels) else np.zeros(0, dtype=int)
    cm = confusion_matrix(labels, preds, len(classes))
    correct = int((preds == labels).sum())
    n = len(labels)
    probs = softmax(logits) if n else np.zeros((0, len(classes)))
    out: dict[str, Any] = {
        "n": n,
        "accuracy": correct / n if n else float("nan"),
        "accuracy_ci95": wilson_interval(correct, n),
        "loss": cross_entropy(logits, labels),
        "ece": expected_calibration_error(probs, labels),
        "confusion_matrix": cm.tolist(),
        "classes": list(classes),
        **per_class_report(cm, classes),
    }
    if temperature != 1.0 and n:
        out["temperature"] = temperature
        out["loss_calibrated"] = cross_entropy(logits, labels, temperature)
        out["ece_calibrated"] = expected_calibration_error(softmax(logits, temperature), labels)
    return out


def classification_report_text(metrics: dict[str, Any], digits: int = 2) -> str:
    """scikit-learn's text layout: precision, recall, f1-score, support per class, then
    accuracy, macro avg and weighted avg."""
    names = [*metrics["per_class"], "weighted avg"]
    w = max(len(n) for n in names) + 2
    head = f"{'':>{w}}{'precision':>10}{'recall':>10}{'f1-score':>10}{'support':>10}"
    lines = [head, ""]
    for c, r in metrics["per_class"].items():
        lines.append(
            f"{c:>{w}}{r['precision']:>10.{digits}f}{r['recall']:>10.{digits}f}"
            f"{r['f1']:>10.{digits}f}{r['support']:>10}"
        )
    lines.append("")
    n = metrics["n"]
    lines.append(f"{'accuracy':>{w}}{'':>10}{'':>10}{metrics['accuracy']:>10.{digits}f}{n:>10}")
    for key, label in (("macro_avg", "macro avg"), ("weighted_avg", "weighted avg")):
        r = metrics[key]
        lines.append(
            f"{label:>{w}}{r['precision']:>10.{digits}f}{r['recall']:>10.{digits}f}"
            f"{r['f1']:>10.{digits}f}{r['support']:>10}"
        )
    return "\n".join(lines) + "\n"
