"""Issue 22, the app's start: building the window imports nothing heavy (torch, timm,
matplotlib, pyqtgraph load on first use), the Training tab asks torch about a GPU only later and
in a worker, and the default heat map reuses the prediction's own forward pass."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fresh_interpreter import modules_after

from trainer import backend
from trainer.predict import Predictor

# Heavy imports that building and showing the main window must not pay for (onnxruntime is
# not here: the viewer classifies with it on its first image; pydicom loads with the first
# DICOM file only, tests/test_io_images.py)
NOT_AT_START = (
    "pydicom",
    "torch",
    "timm",
    "torchvision",
    "matplotlib",
    "pyqtgraph",
    "pytorch_grad_cam",
    "cv2",
    "scipy",
    "sklearn",
)

WINDOW_PROBE = """
import json, sys
import desktop_app.main as m
from desktop_app.main_window import QtMainWindow
from desktop_app.models import QtModelRegistry
from desktop_app.settings import AppSettings
app = m._application()
settings = AppSettings.in_file(sys.argv[1])
window = QtMainWindow(QtModelRegistry(settings, device="cpu"), settings)
window.show()
for _ in range(5):
    app.processEvents()
"""


def test_building_and_showing_the_main_window_imports_nothing_heavy(tmp_path: Path) -> None:
    loaded = modules_after(
        WINDOW_PROBE, {"QT_QPA_PLATFORM": "offscreen"}, [str(tmp_path / "settings.ini")]
    )
    assert "desktop_app.training.recipe_page" in loaded  # the Training tab was built
    assert not set(NOT_AT_START) & loaded


def test_an_onnx_runtime_predictor_names_its_device_without_torch(
    tiny_model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The status bar asks on the GUI thread when the model has loaded: no torch import."""
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("BRAINMRI_BACKEND", backend.ONNXRUNTIME)
    Predictor(tiny_model_file, device="cpu")  # exports the graph into the session's cache
    code = (
        "import sys\nfrom trainer.api import Predictor\n"
        f"p = Predictor({str(tiny_model_file)!r}, device='cpu')\n"
        "print(p.describe_device(), 'torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "BRAINMRI_BACKEND": backend.ONNXRUNTIME},
    )
    assert out.stdout.strip().splitlines()[-1] == "CPU (ONNX Runtime) False"


def test_may_have_gpu_needs_no_torch() -> None:
    code = "import sys\nfrom trainer.api import may_have_gpu\nmay_have_gpu()\n"
    code += "print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_no_visible_gpu_driver_means_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from trainer import device

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    if sys.platform != "darwin":
        assert device.may_have_gpu() is False


# ------------------------------------------------------------------ the recipe's GPU check


def _gpu_page(qtbot: Any, monkeypatch: pytest.MonkeyPatch, gpu: bool) -> Any:
    """A recipe page on a machine where a GPU may exist; torch's answer is ``gpu``."""
    from desktop_app.training import recipe_page

    def check() -> Any:
        yield
        return gpu, recipe_page._unchecked_device_choices(gpu)

    monkeypatch.setattr(recipe_page, "may_have_gpu", lambda: True)
    monkeypatch.setattr(recipe_page, "_check_gpu", check)
    page = recipe_page.QtRecipePage()
    qtbot.addWidget(page)
    assert page.gpu is None and page.preset() == recipe_page.default_preset(gpu=False)
    return page


def _checked(qtbot: Any, page: Any) -> None:
    worker = page.check_gpu()
    assert worker is not None
    with qtbot.waitSignal(worker.finished, timeout=10_000):
        pass
    qtbot.waitUntil(lambda: page.gpu is not None, timeout=5_000)


def test_the_gpu_check_chooses_the_gpu_recipe_when_nothing_was_touched(
    qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop_app.training import recipe_page

    if "paper" not in recipe_page.PRESETS:
        pytest.skip("no GPU preset")
    page = _gpu_page(qtbot, monkeypatch, gpu=True)
    _checked(qtbot, page)
    assert page.gpu is True and page.choice() == "paper"
    device = page.fields["device"]
    assert device.model().item(device.findData("cuda")).isEnabled()


def test_the_gpu_check_leaves_a_changed_recipe_alone(
    qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = _gpu_page(qtbot, monkeypatch, gpu=True)
    before = page.choice()
    page.set_value("epochs", int(page.value("epochs")) + 1)  # the user changed a value
    _checked(qtbot, page)
    assert page.gpu is True and page.choice() == before


def test_no_gpu_found_keeps_the_cpu_recipe_and_greys_out_cuda(
    qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = _gpu_page(qtbot, monkeypatch, gpu=False)
    before = page.choice()
    _checked(qtbot, page)
    assert page.gpu is False and page.choice() == before
    device = page.fields["device"]
    assert not device.model().item(device.findData("cuda")).isEnabled()


# ------------------------------------------------------------------ the map reuses the pass


def _greys() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    out = [np.zeros((64, 64), np.float32), np.full((50, 90), 0.7, np.float32)]
    out += [rng.random((60 + 11 * k, 90 - 7 * k)).astype(np.float32) for k in range(5)]
    return out


def test_the_map_reuses_the_predictions_feature_map_with_identical_answers(
    tiny_model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("BRAINMRI_BACKEND", backend.ONNXRUNTIME)
    fresh = Predictor(tiny_model_file, device="cpu")  # maps without a prediction before
    reuse = Predictor(tiny_model_file, device="cpu")
    assert reuse._graph is not None and reuse._graph.has_map_features
    greys = _greys()
    expected = {
        (i, method, target): fresh.explain(grey, method, target)
        for i, grey in enumerate(greys)
        for method in ("gradcam", "gradcam++")
        for target in (None, 0, 1)
    }
    fresh._map_features.clear()
    probs_fresh, _ = fresh.predict_arrays(greys[:1])

    runs: list[int] = []
    real = reuse._graph.map_features

    def counted(x: np.ndarray) -> np.ndarray:
        runs.append(len(x))
        return real(x)

    monkeypatch.setattr(reuse._graph, "map_features", counted)
    probs, _ = reuse.predict_arrays(greys)  # one batch: every square's features kept
    assert np.array_equal(probs[:1], probs_fresh)  # the prediction itself is unchanged
    for (i, method, target), cam in expected.items():
        assert np.array_equal(reuse.explain(greys[i], method, target), cam), (i, method)
    assert runs == []  # no second pass through the graph
    # a square not classified lately still gets its map, from a pass of its own
    other = np.random.default_rng(99).random((70, 64)).astype(np.float32)
    np.testing.assert_array_equal(reuse.explain(other), fresh.explain(other))
    assert runs == [1]


def test_the_kept_feature_maps_are_few_and_read_only(
    tiny_model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("BRAINMRI_BACKEND", backend.ONNXRUNTIME)
    p = Predictor(tiny_model_file, device="cpu")
    rng = np.random.default_rng(1)
    p.predict_arrays([rng.random((40, 40)) for _ in range(Predictor.MAP_FEATURES_KEPT + 5)])
    assert len(p._map_features) == Predictor.MAP_FEATURES_KEPT
    assert not any(f.flags.writeable for f in p._map_features.values())
