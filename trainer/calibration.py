"""Temperature scaling (Guo et al., 2017), fitted on the validation split.

One scalar T divides the logits: accuracy is unchanged, probabilities become honest. The
viewer shows calibrated probabilities, so "97 %" means something.
"""

from __future__ import annotations

import numpy as np
import torch


def fit_temperature(logits: np.ndarray, labels: np.ndarray, max_iter: int = 200) -> float:
    """Minimise the validation NLL over log T (so T stays positive). Returns 1.0 for an empty
    or single-class validation set, where there is nothing to fit."""
    if len(labels) < 2:
        return 1.0
    z = torch.as_tensor(logits, dtype=torch.float64)
    y = torch.as_tensor(labels, dtype=torch.long)
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    t = float(log_t.detach().exp().clamp(0.05, 20.0))
    return t if np.isfinite(t) else 1.0
