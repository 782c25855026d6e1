"""The kept model's ONNX export answers as the PyTorch model does (inference only)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest


def assert_answers_alike(onnx_file: Path, model_file: Path, atol: float = 1e-4) -> None:
    """The graph's logits and features equal the PyTorch model's on random inputs."""
    ort = pytest.importorskip("onnxruntime")
    import torch

    from trainer.modelfile import load_model_file

    loaded = load_model_file(model_file)
    sidecar = json.loads(onnx_file.with_suffix(".json").read_text())
    size = sidecar["input_size"]
    x = np.random.default_rng(0).standard_normal((3, 3, size, size)).astype(np.float32)
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    logits, features = session.run(None, {sidecar["input_name"]: x})
    with torch.no_grad():
        want_logits, want_features = loaded.model.eval().logits_and_ood_features(
            torch.from_numpy(x)
        )
    np.testing.assert_allclose(logits, want_logits.numpy(), atol=atol, rtol=0)
    np.testing.assert_allclose(features, want_features.numpy(), atol=atol, rtol=0)


def test_onnx_export_equals_pytorch_within_1e4(tiny_model_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from trainer.modelfile import load_model_file
    from trainer.onnx_export import export_onnx

    dest = export_onnx(tiny_model_file, tmp_path / "out" / "tiny.onnx")
    sidecar = json.loads(dest.with_suffix(".json").read_text())
    loaded = load_model_file(tiny_model_file)
    assert sidecar["classes"] == list(loaded.classes)
    assert sidecar["input_size"] == loaded.input_size == 64
    assert "not for clinical use" in sidecar["use"].lower()

    assert_answers_alike(dest, tiny_model_file)

    # a second export reuses the cached graph and gives the same file
    again = export_onnx(tiny_model_file, tmp_path / "again.onnx")
    assert again.read_bytes() == dest.read_bytes()
