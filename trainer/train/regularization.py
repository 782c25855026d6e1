"""The notebooks' Keras regularisers on the 256-unit layer, written out as loss terms.

``Dense(256, kernel_regularizer=l2(0.016), activity_regularizer=l1(0.006),
bias_regularizer=l1(0.006))``. Keras adds ``factor · Σw²`` (no ½) for L2, ``factor · Σ|b|``
for the bias, and ``factor · Σ|a| / batch`` for activities (the activity term is averaged
over the batch). These are added to the cross-entropy in the training objective; reported
``loss`` values are the cross-entropy alone, with the penalty logged beside it, so numbers
stay comparable between recipes. Setting all three to 0 gives a plain head (use
``--weight-decay`` then, if you like, which applies AdamW-style decay to the whole network).
"""

from __future__ import annotations

import torch

from trainer.config import RegularizationConfig
from trainer.model import PaperHead


def regularization_loss(
    head: PaperHead, embedding: torch.Tensor, cfg: RegularizationConfig
) -> torch.Tensor:
    """``embedding`` is the 256-unit layer's pre-activation output; Keras' activity
    regulariser sees the layer's output after its ReLU."""
    hidden = head.act(embedding)
    terms = hidden.new_zeros((), dtype=torch.float32)
    if cfg.l2_kernel:
        terms = terms + cfg.l2_kernel * head.fc.weight.pow(2).sum()
    if cfg.l1_bias:
        terms = terms + cfg.l1_bias * head.fc.bias.abs().sum()
    if cfg.l1_activity:
        terms = terms + cfg.l1_activity * hidden.abs().sum() / max(hidden.shape[0], 1)
    return terms
