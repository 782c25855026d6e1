"""Issue 22: the app's start imports nothing heavy, and the default heat map is drawn without
PyTorch (trainer.cam.fast) — equal to the PyTorch path (pytorch-grad-cam) within 1e-3."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fresh_interpreter import modules_after

import trainer.api
from trainer import backend
from trainer.assets import default_model_path, samples_dir
from trainer.cam.fast import resize_bilinear
from trainer.predict import Predictor

HEAVY = ("torch", "timm", "torchvision", "matplotlib", "pytorch_grad_cam", "cv2", "scipy")


def test_importing_the_api_loads_no_torch_matplotlib_timm_or_cam_stack():
    assert not set(HEAVY) & modules_after("import trainer.api")


def test_every_public_name_of_the_api_resolves():
    names = set(trainer.api.__all__)
    assert names == {*trainer.api._WHERE, "NOT_FOR_CLINICAL_USE", "__version__"}
    for name in sorted(names):
        assert getattr(trainer.api, name) is not None, name
    with pytest.raises(AttributeError):
        trainer.api.no_such_name  # noqa: B018


def test_the_resize_is_opencvs():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(0)
    for shape, size in (((9, 9), (260, 260)), ((2, 2), (64, 64)), ((7, 5), (33, 50))):
        image = rng.random(shape).astype(np.float32)
        ours = resize_bilinear(image, size)
        assert np.abs(ours - cv2.resize(image, size[::-1])).max() < 1e-5


def _greys() -> list[np.ndarray]:
    """Generated images, a blank and a constant one included (ties in every max)."""
    rng = np.random.default_rng(3)
    out = [np.zeros((64, 64), np.float32), np.full((50, 90), 0.7, np.float32)]
    for k in range(4):
        h, w = 60 + 23 * k, 90 - 9 * k
        yy, xx = np.mgrid[0:h, 0:w]
        disc = ((yy - h / 3) ** 2 + (xx - w / 2) ** 2 < (min(h, w) / 5) ** 2).astype(np.float32)
        out.append(np.clip(0.4 * rng.random((h, w)) + 0.5 * disc, 0, 1).astype(np.float32))
    return out


def _predictors(model: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Predictor, Predictor]:
    """(ONNX Runtime with the fast map, PyTorch); the first refuses to draw with PyTorch."""
    monkeypatch.setenv("BRAINMRI_BACKEND", backend.ONNXRUNTIME)
    fast = Predictor(model, device="cpu")
    assert fast.backend == backend.ONNXRUNTIME and fast._graph is not None
    assert fast._graph.has_map_features

    def no_pytorch_map(*args: object) -> None:
        raise AssertionError("the default map went to PyTorch")

    monkeypatch.setattr(fast, "_cam_engine", no_pytorch_map)
    monkeypatch.setenv("BRAINMRI_BACKEND", backend.TORCH)
    return fast, Predictor(model, device="cpu")


def _assert_same_maps(fast: Predictor, torch_path: Predictor, greys: list[np.ndarray]) -> None:
    worst = 0.0
    for grey in greys:
        for method in ("gradcam", "gradcam++"):
            for target in (None, *range(len(fast.classes))):
                a = fast.explain(grey, method, target)
                b = torch_path.explain(grey, method, target)
                assert a.shape == b.shape == grey.shape and a.dtype == np.float32
                worst = max(worst, float(np.abs(a - b).max()))
    assert worst < 1e-3


def test_the_fast_map_is_the_pytorch_map(tiny_model_file: Path, monkeypatch):
    pytest.importorskip("onnxruntime")
    fast, torch_path = _predictors(tiny_model_file, monkeypatch)
    _assert_same_maps(fast, torch_path, _greys())
    # not for other maps: those still go to PyTorch
    monkeypatch.undo()
    assert fast.explain(_greys()[2], "layercam").shape == _greys()[2].shape


def test_the_fast_map_is_the_pytorch_map_on_the_shipped_model(monkeypatch):
    pytest.importorskip("onnxruntime")
    model = default_model_path()
    samples = sorted(samples_dir().glob("*.jpg"))
    if not model.is_file() or not samples:
        pytest.skip("the shipped model or its sample images are not here")
    from trainer.io import read_grey

    fast, torch_path = _predictors(model, monkeypatch)
    _assert_same_maps(fast, torch_path, [read_grey(p) for p in samples])


def test_a_cached_graph_draws_the_default_map_without_torch(tiny_model_file: Path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("BRAINMRI_BACKEND", backend.ONNXRUNTIME)
    Predictor(tiny_model_file, device="cpu")  # exports the graph into the session's cache
    code = (
        "import numpy as np\nfrom trainer.api import Predictor\n"
        f"p = Predictor({str(tiny_model_file)!r}, device='cpu')\n"
        "cam = p.explain(np.random.default_rng(0).random((70, 64)))\n"
        "assert cam.shape == (70, 64) and cam.max() <= 1"
    )
    loaded = modules_after(code, {"BRAINMRI_BACKEND": backend.ONNXRUNTIME})
    assert "onnxruntime" in loaded
    assert not {"torch", "timm", "torchvision", "pytorch_grad_cam", "cv2"} & loaded
