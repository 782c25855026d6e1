""" "Is this a brain MRI at all?" — a Mahalanobis distance in the head's 256-unit space.

A softmax always sums to one, so a holiday photo still comes out "92 % glioma". Instead we
model where real training MRIs fall in the 256-unit embedding (one mean per class, one shared
covariance, Lee et al. 2018) and flag inputs far from every class. The threshold is the 99th
percentile of the validation images' scores: about 1 in 100 real scans gets a (harmless)
warning, and anything much stranger gets flagged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

VAL_QUANTILE = 0.99


@dataclass
class OODModel:
    means: np.ndarray  # (C, D) float32
    precision: np.ndarray  # (D, D) float32
    threshold: float

    def score(self, embeddings: np.ndarray) -> np.ndarray:
        """Smallest squared Mahalanobis distance to any class mean, divided by D so that
        in-distribution scores sit near 1 whatever the width of the layer."""
        x = np.asarray(embeddings, dtype=np.float64)
        d = x[:, None, :] - self.means[None, :, :].astype(np.float64)  # (N, C, D)
        m = np.einsum("ncd,de,nce->nc", d, self.precision.astype(np.float64), d)
        return (m.min(axis=1) / self.means.shape[1]).astype(np.float64)

    def is_ood(self, embeddings: np.ndarray) -> np.ndarray:
        return self.score(embeddings) > self.threshold


def fit_ood(
    train_embeddings: np.ndarray,
    train_labels: np.ndarray,
    n_classes: int,
    val_embeddings: np.ndarray | None = None,
    shrinkage: float = 0.1,
) -> OODModel:
    """Class means and a shrunk shared covariance from training embeddings; threshold from
    validation embeddings (training ones when there is no validation split)."""
    x = np.asarray(train_embeddings, dtype=np.float64)
    dim = x.shape[1]
    means = np.zeros((n_classes, dim))
    centred = []
    for c in range(n_classes):
        members = x[train_labels == c]
        if len(members):
            means[c] = members.mean(axis=0)
            centred.append(members - means[c])
    z = np.concatenate(centred) if centred else np.zeros((1, dim))
    cov = z.T @ z / max(len(z) - 1, 1)
    # shrink towards a scaled identity: few samples per dimension otherwise make it singular
    cov = (1 - shrinkage) * cov + shrinkage * np.trace(cov) / dim * np.eye(dim) + 1e-6 * np.eye(dim)
    model = OODModel(means.astype(np.float32), np.linalg.inv(cov).astype(np.float32), np.inf)
    ref = val_embeddings if val_embeddings is not None and len(val_embeddings) else x
    model.threshold = float(np.quantile(model.score(ref), VAL_QUANTILE))
    return model


def auroc(in_scores: np.ndarray, out_scores: np.ndarray) -> float:
    """Probability that an out-of-distribution input scores higher than an in-distribution
    one (ties count half): the area under the ROC curve, without scikit-learn."""
    a = np.asarray(in_scores)[:, None]
    b = np.asarray(out_scores)[None, :]
    return float(((b > a).sum() + 0.5 * (b == a).sum()) / (a.size * b.size))
