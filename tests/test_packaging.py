"""The installable bundle (packaging/): build it with PyInstaller, then check it as a user meets it.

Slow and big (a CUDA torch build: ~7 min and 4.6 GB on a 2-core machine; see
packaging/README.md), so it runs only when asked::

    BRAINMRI_TEST_PACKAGING=1 .venv/bin/python -m pytest -m packaging tests/test_packaging.py

``packaging/check_bundle.sh`` does the checks: ``brainmri-app --self-test`` and ``brainmri predict``
with overlays, from a relocated copy, with no virtual environment on PATH, a temporary HOME and
offscreen Qt. Here it also predicts compressed DICOM files, one per decoding plugin, so that a
plugin missing from the bundle shows. The bundle is built from the repository's assets when they
hold a default model, else from a copy whose default model is a tiny one trained on the spot
(``BRAINMRI_BUNDLE_ASSETS`` names another folder). The bundle is deleted afterwards unless
``BRAINMRI_KEEP_BUNDLE=1``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dicom_factory import pydicom_sample

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.packaging,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("BRAINMRI_TEST_PACKAGING") != "1",
        reason="builds a multi-GB bundle in 7-9 min: set BRAINMRI_TEST_PACKAGING=1 to run it",
    ),
    pytest.mark.skipif(sys.platform == "win32", reason="the build and check scripts are bash"),
]

# One compressed DICOM file per decoding plugin that trainer.io.dicom allows (PERMISSIVE_PLUGINS).
DICOM_BY_PLUGIN = {
    "pylibjpeg-rle (RLE Lossless)": "MR_small_RLE.dcm",
    "pyjpegls (JPEG-LS Lossless)": "MR_small_jpeg_ls_lossless.dcm",
    "pylibjpeg-openjpeg (JPEG 2000 Lossless)": "MR_small_jp2klossless.dcm",
    "python-gdcm (JPEG Lossless SV1, gdcm only)": "SC_rgb_jpeg_gdcm.dcm",
    "pillow (JPEG Baseline)": "SC_rgb_jpeg_dcmtk.dcm",
}


def _assets(tmp: Path) -> Path:
    """Assets with a default model: the repository's, BRAINMRI_BUNDLE_ASSETS, or a tiny model."""
    chosen = os.environ.get("BRAINMRI_BUNDLE_ASSETS")
    if chosen:
        return Path(chosen)
    if (ROOT / "assets" / "models" / "default.safetensors").is_file():
        return ROOT / "assets"
    assets = tmp / "assets"
    shutil.copytree(ROOT / "assets", assets, ignore=shutil.ignore_patterns("models"))
    run = tmp / "tinyrun"
    subprocess.run(
        [sys.executable, "-m", "trainer", "train", "--data", str(ROOT / "tests/data/mini"),
         "--backbone", "test_efficientnet", "--pretrained", "none", "--img-size", "48",
         "--epochs", "1", "--workers", "0", "--quiet", "--out", str(run)],
        check=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    (assets / "models").mkdir()
    shutil.copy2(run / "model.safetensors", assets / "models" / "default.safetensors")
    return assets


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    pytest.importorskip("PyInstaller", reason="pip install -e '.[dev]' brings PyInstaller")
    tmp = tmp_path_factory.mktemp("packaging")
    assets = _assets(tmp)
    started = time.monotonic()
    result = subprocess.run(
        ["bash", str(ROOT / "packaging/build.sh"), "--python", sys.executable,
         "--assets", str(assets), "--dist", str(tmp / "dist"), "--work", str(tmp / "work")],
        cwd=ROOT, capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    print(result.stdout[-3000:])
    assert result.returncode == 0, (
        f"build failed:\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
    )
    print(f"build took {time.monotonic() - started:.0f} s")
    shutil.rmtree(tmp / "work", ignore_errors=True)
    yield tmp / "dist" / "brainmri"
    if os.environ.get("BRAINMRI_KEEP_BUNDLE") != "1":
        shutil.rmtree(tmp / "dist", ignore_errors=True)


def test_bundle_passes_self_test_and_predicts_from_a_clean_environment(bundle: Path) -> None:
    scans = [str(pydicom_sample(name)) for name in DICOM_BY_PLUGIN.values()]
    result = subprocess.run(
        ["bash", str(ROOT / "packaging/check_bundle.sh"), str(bundle), *scans],
        capture_output=True, text=True, timeout=1500,
        env={**os.environ, "BRAINMRI_CHECK_TRAIN_DATA": str(ROOT / "tests/data/mini")},
    )  # fmt: skip
    print(result.stdout)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "self-test passed" in result.stdout
    assert "showed its prediction and overlay" in result.stdout
    assert f"{1 + len(scans)} predictions, {1 + len(scans)} overlays" in result.stdout
    assert "one epoch with a decoding worker process" in result.stdout
    assert "all checks passed" in result.stdout


def test_bundle_holds_what_the_app_needs_and_leaves_out_the_rest(bundle: Path) -> None:
    internal = bundle / "_internal"
    for program in ("brainmri-app", "brainmri"):
        assert os.access(bundle / program, os.X_OK), program
    assert (internal / "assets/models/default.safetensors").is_file()
    assert any((internal / "assets/samples").glob("*.jpg"))
    assert (bundle / "brainmri.desktop").is_file()
    # the DICOM decoders and the metadata they are found by (entry points, versions)
    for pattern in (
        "pylibjpeg-*.dist-info", "pylibjpeg_openjpeg-*.dist-info/entry_points.txt",
        "pylibjpeg_rle-*.dist-info/entry_points.txt", "pyjpegls-*.dist-info",
        "_openjpeg*", "rle/rle*", "_CharLS*", "_gdcm/_gdcmswig*", "_gdcm/XML/Part3.xml",
    ):  # fmt: skip
        assert list(internal.glob(pattern)), f"missing from the bundle: {pattern}"
    # Qt: a display plugin for every kind of session, and the image formats
    plugins = internal / "PySide6/Qt/plugins"
    for plugin in ("platforms/*offscreen*", "platforms/*xcb*", "platforms/*wayland*",
                   "imageformats/*jpeg*"):  # fmt: skip
        assert list(plugins.glob(plugin)), f"missing Qt plugin: {plugin}"
    # what must stay out (packaging/README.md says why)
    for unwanted in ("triton", "tkinter", "_tkinter*", "onnx", "onnxruntime", "PySide6/Qt/qml",
                     "PySide6/Qt/translations", "torch/include", "_gdcm/gdcmconv"):  # fmt: skip
        assert not list(internal.glob(unwanted)), f"should not be bundled: {unwanted}"
    assert not list(internal.glob("**/libQt6WebEngine*")), "WebEngine must not be bundled"
    gpl = [*internal.glob("pylibjpeg_libjpeg-*.dist-info"), *internal.glob("libjpeg/_libjpeg*")]
    assert not gpl, f"pylibjpeg-libjpeg (GPL-3.0) must not be bundled: {gpl}"
