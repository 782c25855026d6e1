"""Start-up and the inference engines: what loads when, and that every engine gives the same
answers (trainer.backend, trainer.graph_cache). Times live in benchmarks/startup.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from fresh_interpreter import modules_after

from trainer import backend
from trainer.cli.main import main as cli
from trainer.predict import Predictor
from trainer.preprocess import normalize_squares

MINI = Path(__file__).parent / "data" / "mini"


HEAVY = ("pytorch_grad_cam", "cv2", "scipy", "sklearn", "torch._dynamo")


def _greys(n: int = 6) -> list[np.ndarray]:
    """Generated grey images: noise, gradients, a bright disc; odd shapes included."""
    rng = np.random.default_rng(1)
    out = []
    for k in range(n):
        h, w = 50 + 37 * k, 80 + 11 * k
        yy, xx = np.mgrid[0:h, 0:w]
        disc = ((yy - h / 2) ** 2 + (xx - w / 3) ** 2 < (min(h, w) / 4) ** 2).astype(np.float32)
        out.append(np.clip(0.3 * rng.random((h, w)) + 0.5 * disc + xx / (3 * w), 0, 1))
    return out


def test_import_trainer_and_its_api_load_nothing_heavy():
    light = modules_after("import trainer")
    assert not {"torch", "numpy", *HEAVY} & light
    api = modules_after("import trainer.api")
    assert not set(HEAVY) & api


def test_a_map_loads_the_cam_stack_only_when_drawn(tiny_model_file: Path):
    code = (
        "import numpy as np\nfrom trainer.api import Predictor\n"
        f"p = Predictor({str(tiny_model_file)!r}, device='cpu')\n"
        "p.predict_arrays([np.zeros((64, 64), np.float32)])\n"
        "import sys; assert 'pytorch_grad_cam' not in sys.modules\n"
        "p.explain(np.zeros((64, 64), np.float32), 'gradcam')"
    )
    assert "pytorch_grad_cam" in modules_after(code)


def test_a_cached_graph_classifies_without_torch(tiny_model_file: Path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("BRAINMRI_BACKEND", backend.ONNXRUNTIME)
    Predictor(tiny_model_file, device="cpu")  # exports the graph into the session's cache
    code = (
        "import numpy as np\nfrom trainer.predict import Predictor\n"
        f"p = Predictor({str(tiny_model_file)!r}, device='cpu')\n"
        "assert p.backend == 'onnxruntime'\n"
        "p.predict_arrays([np.zeros((70, 64), np.float32)])"
    )
    loaded = modules_after(code, {"BRAINMRI_BACKEND": backend.ONNXRUNTIME})
    assert "onnxruntime" in loaded
    assert not {"torch", "timm", "torchvision", *HEAVY} & loaded


@pytest.mark.parametrize("tta", [False, True])
def test_onnx_runtime_and_pytorch_give_the_same_answers(tiny_model_file: Path, monkeypatch, tta):
    pytest.importorskip("onnxruntime")
    greys = _greys()
    answers = {}
    for name in backend.BACKENDS:
        monkeypatch.setenv("BRAINMRI_BACKEND", name)
        predictor = Predictor(tiny_model_file, device="cpu", tta=tta)
        assert predictor.backend == name
        answers[name] = predictor.predict_arrays(greys)
    probs, scores = answers[backend.TORCH]
    assert scores is not None
    for name, (p, s) in answers.items():
        assert np.abs(p - probs).max() < 1e-4, name
        assert s == pytest.approx(scores, rel=1e-4, abs=1e-4), name


def test_numpy_normalisation_is_the_torch_one():
    import torch

    from trainer.preprocess import normalize_batch

    squares = np.random.default_rng(2).integers(0, 256, (3, 16, 16), dtype=np.uint8)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    expected = normalize_batch(torch.from_numpy(squares), mean, std).numpy()
    assert np.array_equal(normalize_squares(squares, mean, std), expected)


def test_the_engine_is_measured_once_and_remembered(tiny_model_file: Path, monkeypatch):
    monkeypatch.delenv("BRAINMRI_BACKEND")
    first = Predictor(tiny_model_file, device="cpu")
    record = json.loads((Path(os.environ["BRAINMRI_CACHE"]) / backend.CALIBRATION_FILE).read_text())
    (entry,) = [v for k, v in record.items() if k.endswith("device cpu")]
    assert entry["backend"] == first.backend
    assert set(entry["ms_per_image"]) <= set(backend.BACKENDS)

    def fail(*args, **kwargs):
        raise AssertionError("measured again")

    monkeypatch.setattr(backend, "calibrate", fail)
    assert Predictor(tiny_model_file, device="cpu").backend == first.backend


def test_without_onnxruntime_pytorch_classifies(tiny_model_file: Path, monkeypatch):
    import trainer.predict

    monkeypatch.setenv("BRAINMRI_BACKEND", backend.ONNXRUNTIME)
    monkeypatch.setattr(trainer.predict, "onnxruntime_available", lambda: False)
    predictor = Predictor(tiny_model_file, device="cpu")
    assert predictor.backend == backend.TORCH
    probs, _ = predictor.predict_arrays(_greys(2))
    assert probs.shape == (2, 4) and np.allclose(probs.sum(axis=1), 1.0)


def test_a_bad_backend_name_is_refused(tiny_model_file: Path, monkeypatch):
    monkeypatch.setenv("BRAINMRI_BACKEND", "tensorflow")
    with pytest.raises(ValueError, match="BRAINMRI_BACKEND"):
        Predictor(tiny_model_file, device="cpu")


def test_predict_jsonl_streams_the_json_rows(tiny_model_file: Path, tmp_path: Path, capsys):
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    paths = [str(MINI / "Testing"), str(tmp_path / "broken.jpg")]
    assert cli(["predict", "--model", str(tiny_model_file), *paths, "--json"]) == 1
    rows = json.loads(capsys.readouterr().out)
    assert cli(["predict", "--model", str(tiny_model_file), *paths, "--jsonl"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in lines] == rows
    assert any(r["error"] for r in rows) and len(rows) > 2


def test_missing_paths_are_said_before_anything_heavy_loads():
    code = "from trainer.cli.main import main\nassert main(['predict', '/no/such/scan.jpg']) == 2"
    assert not {"torch", "numpy", "PIL", "pydicom"} & modules_after(code)


def test_pytorch_must_be_clearly_faster_to_pay_for_its_start():
    ort, cl = backend.ONNXRUNTIME, backend.CHANNELS_LAST
    assert backend.choose({backend.TORCH: 30.0, cl: 25.0, ort: 31.0}) == ort
    assert backend.choose({backend.TORCH: 3.0, cl: 25.0, ort: 31.0}) == backend.TORCH
    assert backend.choose({backend.TORCH: 30.0, cl: 25.0}) == cl  # no onnxruntime
