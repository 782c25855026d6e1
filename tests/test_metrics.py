"""Metrics, calibration and the out-of-distribution score on numbers worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.calibration import fit_temperature
from trainer.metrics import (
    classification_report_text,
    confusion_matrix,
    evaluate_logits,
    expected_calibration_error,
    softmax,
    wilson_interval,
)
from trainer.ood import auroc, fit_ood


def test_confusion_and_report_by_hand():
    labels = np.array([0, 0, 1, 1, 1, 2])
    preds = np.array([0, 1, 1, 1, 2, 2])
    cm = confusion_matrix(labels, preds, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 1], [0, 0, 1]]
    logits = np.eye(3)[preds] * 5
    r = evaluate_logits(logits, labels, ["a", "b", "c"])
    assert r["accuracy"] == pytest.approx(4 / 6)
    assert r["per_class"]["b"] == {
        "precision": pytest.approx(2 / 3),
        "recall": pytest.approx(2 / 3),
        "f1": pytest.approx(2 / 3),
        "support": 3,
    }
    assert r["per_class"]["c"]["precision"] == pytest.approx(0.5)
    text = classification_report_text(r)
    assert "precision" in text and "macro avg" in text and "weighted avg" in text
    assert text.splitlines()[2].split() == ["a", "1.00", "0.50", "0.67", "2"]


def test_wilson_interval_is_inside_0_1_and_covers_p():
    lo, hi = wilson_interval(650, 656)
    assert 0.98 < lo < 650 / 656 < hi <= 1.0
    assert wilson_interval(10, 10)[1] == 1.0


def test_temperature_scaling_fixes_overconfidence():
    rng = np.random.default_rng(0)
    n = 2000
    labels = rng.integers(0, 4, n)
    clean = np.eye(4)[labels] * 2.0 + rng.normal(0, 1.0, (n, 4))
    overconfident = clean * 4
    t = fit_temperature(overconfident, labels)
    assert t > 1.5  # overconfident logits are softened
    before = expected_calibration_error(softmax(overconfident), labels)
    after = expected_calibration_error(softmax(overconfident, t), labels)
    assert after < before / 2


def test_ood_score_separates_far_points():
    rng = np.random.default_rng(1)
    train = np.concatenate([rng.normal(m, 1, (200, 16)) for m in (-3, 0, 3)])
    labels = np.repeat([0, 1, 2], 200)
    val = np.concatenate([rng.normal(m, 1, (50, 16)) for m in (-3, 0, 3)])
    ood = fit_ood(train, labels, 3, val)
    far = rng.normal(12, 1, (100, 16))
    assert auroc(ood.score(val), ood.score(far)) > 0.99
    assert ood.is_ood(val).mean() <= 0.05
    assert ood.is_ood(far).all()
    assert auroc(np.array([1, 2]), np.array([1, 2])) == pytest.approx(0.5)
