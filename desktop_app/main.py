"""``brainmri-app [PATH...] [--screenshot FILE] [--self-test]``: the desktop app's entry point.

Why ``import torch`` comes first on Windows: there PySide6 and PyTorch each ship their own
copies of some DLLs (the MSVC runtime, OpenMP); whichever loads first wins, and Qt first makes
``import torch`` fail with "DLL load failed". So on Windows torch is imported at the top of
this module and every Qt import happens inside functions, after it. Elsewhere torch loads only
when the model needs it (in a worker thread, after the window shows): it costs seconds, and
with ONNX Runtime classifying it may not load at all (issue 22).

``--self-test`` needs no window: the packaged app runs it to prove that Qt, the model and the
preprocessing all work on the machine it was installed on.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer import NOT_FOR_CLINICAL_USE, __version__

if sys.platform == "win32":  # before Qt, for the DLL order (see the module docstring)
    import torch  # noqa: F401

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

    from desktop_app.main_window import QtMainWindow

__all__ = ["build_parser", "main", "self_test"]

log = logging.getLogger("desktop_app")

SCREENSHOT_SIZE = (1440, 900)
SAMPLE_SUFFIXES = {".jpg", ".jpeg", ".png", ".dcm"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="brainmri-app",
        description=f"Brain MRI viewer: classify scans and see Grad-CAM overlays. "
        f"{NOT_FOR_CLINICAL_USE}",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="images, DICOM files or folders to open (as if dropped)",
    )
    parser.add_argument(
        "--model",
        metavar="FILE",
        help="model file to use (default: the last used, else the bundled one)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.add_argument(
        "--screenshot",
        metavar="FILE",
        help="open PATHs, wait for their prediction and overlay, save a PNG of "
        "the window and exit (0 on success)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=180.0,
        metavar="SECONDS",
        help="--screenshot gives up after this long (default 180)",
    )
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="load the default model, classify the bundled samples, exit 0 or 1",
    )
    parser.add_argument("--version", action="version", version=f"brainmri-app {__version__}")
    return parser


def _say(message: str, error: bool = False) -> None:
    """Print if there is a console (a windowed app on Windows has sys.stdout None)."""
    stream = sys.stderr if error else sys.stdout
    if stream is not None:
        print(message, file=stream, flush=True)


# --------------------------------------------------------------------------------------------
# --self-test
# --------------------------------------------------------------------------------------------


def self_test(model: str | None = None, device: str = "auto") -> tuple[bool, str]:
    """(passed, one-line reason). Checks, in order: Qt loads, the model loads, every bundled
    sample reads, predictions are proper probabilities, Grad-CAM works, and every sample is
    classified as the class its file name starts with (``glioma_….jpg``) and is not flagged
    as out of distribution. A sample whose name names no class of the model is a failure too:
    a check that can pass without checking is no check."""
    started = time.monotonic()
    try:
        from PySide6 import QtCore, QtGui, QtWidgets  # noqa: F401  (the DLLs must load)
    except ImportError as exc:
        return False, f"Qt (PySide6) cannot be loaded: {exc}"
    from trainer.api import BrainMRIError, Predictor, load_paths, samples_dir

    try:
        predictor = Predictor(model, device=device)
    except BrainMRIError as exc:
        return False, f"model: {exc}"
    except Exception as exc:
        return False, f"model could not be loaded: {type(exc).__name__}: {exc}"
    folder = samples_dir()
    samples = sorted(p for p in folder.glob("*") if p.suffix.lower() in SAMPLE_SUFFIXES)
    if not samples:
        return False, f"no sample scans in {folder}"
    scans, errors = load_paths(samples)
    if errors:
        return False, f"sample unreadable: {errors[0]}"
    results = []
    for scan in scans:
        slc = scan.slices[len(scan.slices) // 2]
        name = Path(slc.source).name
        try:
            pred = predictor.predict_slices([slc])[0]
            cam = predictor.explain(slc.render())  # the default map, as the viewer draws it
        except Exception as exc:
            return False, f"{name}: prediction failed ({type(exc).__name__}: {exc})"
        problem = _check_prediction(pred, cam, slc.data.shape, predictor.classes)
        if problem:
            return False, f"{name}: {problem}"
        expected = name.split("_", 1)[0]
        if expected not in predictor.classes:
            return False, (
                f"{name}: its name does not start with one of the model's classes "
                f"({', '.join(predictor.classes)})"
            )
        if pred.predicted_class != expected:
            return False, (
                f"{name}: predicted {pred.predicted_class}, expected {expected}; "
                "the model, its file or the preprocessing is wrong"
            )
        if pred.ood:
            return False, f"{name}: a real MRI sample was flagged as out of distribution"
        results.append(f"{name} → {pred.predicted_class}")
    secs = time.monotonic() - started
    return True, (
        f"self-test passed: {len(results)} samples ({', '.join(results)}) with "
        f"{predictor.describe()} on {predictor.device.type} in {secs:.1f} s"
    )


def _check_prediction(pred: Any, cam: Any, shape: tuple[int, ...], classes: list[str]) -> str:
    probs = pred.probabilities
    if list(probs) != list(classes) or pred.predicted_class not in classes:
        return f"classes {list(probs)} do not match the model's {classes}"
    values = list(probs.values())
    if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values):
        return f"probabilities out of range: {values}"
    if abs(sum(values) - 1.0) > 1e-3:
        return f"probabilities sum to {sum(values):.4f}, not 1"
    if tuple(cam.shape) != tuple(shape[:2]) or not bool((cam == cam).all()):
        return f"Grad-CAM map has shape {cam.shape} (image {shape[:2]}) or holds NaN"
    return ""


# --------------------------------------------------------------------------------------------
# The GUI
# --------------------------------------------------------------------------------------------


def _application() -> QApplication:
    from PySide6.QtWidgets import QApplication

    from desktop_app.gc_guard import install_gc_guard

    app = QApplication.instance() or QApplication(sys.argv[:1])
    install_gc_guard(app)  # Qt objects are never collected off the GUI thread
    assert isinstance(app, QApplication)
    app.setApplicationName("brainmri-app")
    app.setOrganizationName("brainmri")
    app.setApplicationVersion(__version__)
    apply_dark_theme(app)
    return app


def apply_dark_theme(app: QApplication) -> None:
    """Fusion with a dark palette: images read best on dark grey, as in radiology viewers."""
    from PySide6.QtGui import QColor, QPalette

    app.setStyle("Fusion")
    p = QPalette()
    colors = {
        QPalette.ColorRole.Window: QColor(37, 40, 45),
        QPalette.ColorRole.WindowText: QColor(222, 224, 228),
        QPalette.ColorRole.Base: QColor(27, 29, 33),
        QPalette.ColorRole.AlternateBase: QColor(44, 47, 53),
        QPalette.ColorRole.ToolTipBase: QColor(50, 53, 60),
        QPalette.ColorRole.ToolTipText: QColor(230, 230, 230),
        QPalette.ColorRole.Text: QColor(222, 224, 228),
        QPalette.ColorRole.Button: QColor(48, 52, 58),
        QPalette.ColorRole.ButtonText: QColor(222, 224, 228),
        QPalette.ColorRole.BrightText: QColor(255, 90, 90),
        QPalette.ColorRole.Highlight: QColor(47, 128, 237),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.Link: QColor(100, 160, 255),
        QPalette.ColorRole.PlaceholderText: QColor(130, 134, 140),
    }
    for role, color in colors.items():
        p.setColor(role, color)
    for role in (
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
        QPalette.ColorRole.WindowText,
    ):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 124, 130))
    app.setPalette(p)


def create_window(
    settings: Any, paths: Sequence[str] = (), model: str | None = None, device: str = "auto"
) -> QtMainWindow:
    """The main window with its registry; the model starts loading in the background."""
    from desktop_app.main_window import QtMainWindow
    from desktop_app.models import QtModelRegistry

    registry = QtModelRegistry(settings, device=device)
    window = QtMainWindow(registry, settings)
    if model:
        window.open_model(model)
    else:
        registry.load_initial()
    if paths:
        window.viewer.open_paths(list(paths))
    return window


def run_screenshot(
    app: QApplication, window: QtMainWindow, target: Path, timeout_s: float
) -> tuple[int, str]:
    """Wait until the window shows everything for its paths, then save it as a PNG."""
    from PySide6.QtCore import QEventLoop, QTimer

    viewer, registry = window.viewer, window.registry
    failures: list[str] = []
    deadline = time.monotonic() + timeout_s
    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(100)

    def poll() -> None:
        model_settled = registry.predictor is not None or not registry.is_loading
        if (model_settled and viewer.is_view_complete()) or time.monotonic() > deadline:
            loop.quit()

    timer.timeout.connect(poll)
    timer.start()
    loop.exec()
    timer.stop()
    timed_out = not viewer.is_view_complete()
    for _ in range(5):  # let the last repaints land
        app.processEvents()
        time.sleep(0.02)
    save_widget_png(window, target)
    unreadable = [f"{i.name}: {i.error}" for i in viewer.state.items if i.error]
    if registry.predictor is None:
        failures.append(f"no model: {registry.last_error or 'none loaded'}")
    if timed_out:
        failures.append(f"timed out after {timeout_s:.0f} s waiting for predictions")
    if not viewer.state.items and not failures:
        failures.append("nothing to show (no PATH given?)")
    failures += [f"unreadable: {u}" for u in unreadable]
    if failures:
        return 1, f"screenshot saved to {target}, but: " + "; ".join(failures)
    return 0, f"screenshot saved to {target}"


def save_widget_png(widget: Any, target: Path) -> Path:
    """Grab a widget (offscreen works too) and write it atomically as a PNG."""
    import numpy as np
    from PySide6.QtGui import QImage

    from desktop_app.viewer.export import save_png

    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    w, h, stride = image.width(), image.height(), image.bytesPerLine()
    rows = np.frombuffer(image.constBits(), np.uint8, stride * h).reshape(h, stride)
    return save_png(target, rows[:, : 3 * w].reshape(h, w, 3).copy())


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.self_test:
        ok, message = self_test(args.model, args.device)
        _say(
            f"brainmri-app: {message}" if ok else f"brainmri-app: self-test failed: {message}",
            error=not ok,
        )
        return 0 if ok else 1

    from desktop_app.display import display_problem

    problem = display_problem()
    if problem:  # Qt would abort (SIGABRT) with a misleading message: say it plainly
        _say(f"brainmri-app: {problem}", error=True)
        return 2

    from desktop_app.settings import AppSettings
    from desktop_app.workers import wait_for_all

    app = _application()
    if args.screenshot:
        # A fixed size and fresh settings: screenshots are reproducible and leave the
        # user's settings alone.
        tmp = tempfile.TemporaryDirectory(prefix="brainmri-shot-")
        settings = AppSettings.in_file(Path(tmp.name) / "settings.ini")
    else:
        settings = AppSettings()
    window = create_window(settings, args.paths, args.model, args.device)
    from desktop_app.main_window import app_icon

    app.setWindowIcon(app_icon())
    if args.screenshot:
        window.resize(*SCREENSHOT_SIZE)
        window.show()
        code, message = run_screenshot(app, window, Path(args.screenshot), args.timeout)
        _say(f"brainmri-app: {message}", error=code != 0)
        window.viewer.shutdown()
        wait_for_all(30.0)
        window.close()
        tmp.cleanup()
        return code
    window.show()
    code = int(app.exec())
    if not wait_for_all(10.0):
        # A worker is stuck in a long native call; destroying its QThread would abort the
        # process with a crash report, so leave without running the destructors (settings
        # were saved when the window closed).
        log.warning("exiting with background work still running")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
