"""Batch inference, in one place: the forward pass that evaluation, the end of a training
run, the engine's validation and the Predictor share.

:func:`forward` is the model call itself (eval mode, no autograd, the device's autocast and
memory format); :func:`predict_source` runs it over a data source and keeps every row in
order, marking the ones whose file could not be read instead of dropping them, so logits,
labels and the split's file list always line up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from trainer.data.sources import BatchSource
from trainer.model import BrainTumorClassifier, ood_feature_width
from trainer.preprocess import normalize_batch


@dataclass(frozen=True)
class Inference:
    """Per-row results of a source, in the order of the requested rows."""

    logits: np.ndarray  # (N, C); NaN where the row failed
    embeddings: np.ndarray  # (N, hidden); NaN where the row failed
    labels: np.ndarray  # (N,)
    ok: np.ndarray  # bool (N,)
    failures: tuple[tuple[int, str], ...] = ()  # (source row, reason)

    def valid(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(logits, embeddings, labels) of the rows that were read."""
        return self.logits[self.ok], self.embeddings[self.ok], self.labels[self.ok]


def forward(
    model: BrainTumorClassifier,
    inputs: torch.Tensor,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, out-of-distribution features) as float32 of a normalised (N, 3, S, S) batch
    (:meth:`trainer.model.BrainTumorClassifier.set_ood_layer` says which features)."""
    model.eval()
    if channels_last:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    with (
        torch.inference_mode(),
        torch.autocast(inputs.device.type, dtype=amp_dtype, enabled=amp_dtype is not None),
    ):
        logits, features = model.logits_and_ood_features(inputs)
    return logits.float(), features.float()


def predict_source(
    model: BrainTumorClassifier,
    source: BatchSource,
    batches: Sequence[Sequence[int]],
    device: torch.device,
    mean: Sequence[float],
    std: Sequence[float],
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> Inference:
    n_classes = model.head.out.out_features
    hidden = ood_feature_width(model, model.ood_layer)
    logits_all, emb_all, labels_all, ok_all = [], [], [], []
    failures: list[tuple[int, str]] = []
    for batch in source.batches(batches):
        ok = batch.ok
        logits = np.full((len(batch), n_classes), np.nan, np.float32)
        emb = np.full((len(batch), hidden), np.nan, np.float32)
        good = batch.valid()
        if len(good):
            inputs = normalize_batch(good.squares.to(device), mean, std)
            lg, em = forward(model, inputs, amp_dtype, channels_last)
            logits[ok.numpy()] = lg.cpu().numpy()
            emb[ok.numpy()] = em.cpu().numpy()
        logits_all.append(logits)
        emb_all.append(emb)
        labels_all.append(batch.labels.numpy())
        ok_all.append(ok.numpy())
        failures.extend(batch.failures)
    if not logits_all:
        return Inference(
            np.zeros((0, n_classes), np.float32),
            np.zeros((0, hidden), np.float32),
            np.zeros(0, np.int64),
            np.zeros(0, bool),
        )
    return Inference(
        np.concatenate(logits_all),
        np.concatenate(emb_all),
        np.concatenate(labels_all),
        np.concatenate(ok_all),
        tuple(failures),
    )


def predict_rows(
    model: BrainTumorClassifier,
    source: BatchSource,
    rows: Sequence[int] | None,
    batch_size: int,
    device: torch.device,
    mean: Sequence[float],
    std: Sequence[float],
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> Inference:
    """:func:`predict_source` over ``rows`` of ``source`` (all of them when ``None``), in
    batches of ``batch_size``, in order."""
    order = list(range(len(source))) if rows is None else list(rows)
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return predict_source(model, source, batches, device, mean, std, amp_dtype, channels_last)


__all__ = ["Inference", "forward", "predict_rows", "predict_source"]
