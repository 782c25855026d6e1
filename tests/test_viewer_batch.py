"""The viewer's "classify all": batched across items, the same answers as one at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.viewer.analysis import BATCH, classify_all, load_items
from trainer.api import Predictor

MINI = Path(__file__).parent / "data" / "mini"


def test_batched_classification_equals_one_at_a_time(tiny_model_file: Path, tmp_path: Path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    files = sorted(p for p in MINI.rglob("*") if p.is_file())
    paths = [*files[:5], broken, *files[5:]]
    items = [item for batch in load_items(paths) for item in batch]
    predictor = Predictor(tiny_model_file, device="cpu")
    known_item = items[2]
    known = {(known_item.id, 0): predictor.predict_slices([known_item.scan.slices[0]])[0]}

    batches = list(classify_all(predictor, items, known))
    rows = [row for batch in batches for row in batch]

    assert len(batches) < len(rows)  # items were classified together, not one per call
    assert all(len(b) <= 4 * BATCH for b in batches)
    assert [r.item_id for r in rows] == [i.id for i in items]  # every item, in order
    for item, row in zip(items, rows, strict=True):
        if item.scan is None:
            assert row.prediction is None and row.error == item.error
            continue
        alone = predictor.predict_slices([item.scan.slices[0]])[0]
        assert row.error is None and row.prediction is not None
        assert row.prediction.predicted_class == alone.predicted_class
        assert row.prediction.probabilities == pytest.approx(alone.probabilities, abs=1e-6)
        assert row.prediction.warnings == alone.warnings
    assert rows[2].prediction is known[(known_item.id, 0)]  # a known prediction is reused
