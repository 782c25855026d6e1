"""The paper's figures as PNG files: augmented batch, curves, confusion matrix.

matplotlib with the Agg backend only (no display, no Qt), written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trainer import NOT_FOR_CLINICAL_USE
from trainer.atomic import atomic_path


def _figure(*args: Any, **kwargs: Any) -> Any:
    from matplotlib.figure import Figure  # a bare Figure never touches pyplot's GUI backends

    return Figure(*args, **kwargs)


def _save(fig: Any, path: str | Path) -> Path:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    return Path(path)


def save_augmented_batch(
    images: np.ndarray, labels: Sequence[int], classes: Sequence[str], path: str | Path
) -> Path:
    """Up to 16 augmented training images (grey, [0,1]) in a 4×4 grid, like the paper's fig. 2."""
    n = min(16, len(images))
    fig = _figure(figsize=(8, 8.4))
    for i in range(n):
        ax = fig.add_subplot(4, 4, i + 1)
        ax.imshow(images[i], cmap="gray", vmin=0, vmax=1)
        ax.set_title(classes[labels[i]], fontsize=9)
        ax.axis("off")
    fig.suptitle("One augmented training batch", fontsize=11)
    return _save(fig, path)


def save_curves(history: Sequence[dict[str, float]], path: str | Path) -> Path:
    """Loss and accuracy per epoch, training and validation; the best epoch is marked."""
    fig = _figure(figsize=(11, 4.2))
    epochs = [h["epoch"] for h in history]
    for k, (metric, title) in enumerate((("loss", "Loss"), ("accuracy", "Accuracy"))):
        ax = fig.add_subplot(1, 2, k + 1)
        ax.plot(epochs, [h.get(metric, np.nan) for h in history], "o-", label="training")
        ax.plot(epochs, [h.get(f"val_{metric}", np.nan) for h in history], "s-", label="validation")
        vals = [h.get("val_accuracy", np.nan) for h in history]
        if history and np.isfinite(vals).any():
            best = int(np.nanargmax(vals))
            ax.axvline(epochs[best], color="grey", ls=":", label=f"best epoch ({epochs[best]})")
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("Training and validation", fontsize=11)
    return _save(fig, path)


def save_confusion_matrix(
    cm: np.ndarray | Sequence[Sequence[int]],
    classes: Sequence[str],
    path: str | Path,
    title: str = "Confusion matrix (test)",
) -> Path:
    cm = np.asarray(cm)
    fig = _figure(figsize=(5.6, 5))
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = cm.max() if cm.size else 0
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            colour = "white" if top and cm[i, j] > top / 2 else "black"
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", color=colour)
    ax.set_title(title)
    fig.text(0.5, 0.0, NOT_FOR_CLINICAL_USE, ha="center", fontsize=7, color="grey")
    return _save(fig, path)
