"""Make every screenshot of the README in one command, in a real X11 window at 1280×800.

    .venv/bin/python docs/screenshots/make_screenshots.py --run RUN_DIR [--model FILE]

Writes into ``docs/screenshots/``:

* ``viewer-image.png``: the bundled sample scans (``assets/samples``, one drawn at random from
  each class of the test half), all four in the list with their probabilities; the one shown
  large is chosen by a rule fixed before looking at any map: among the tumour samples the
  model classifies correctly (the name starts with the class), the one of the class whose map
  was measured to fall on the lesion most often on the validation lesion boxes (the model
  file's ``cam_localization``, written by ``benchmarks/cam_localization.py --record``), ties
  and models without that record broken by the highest probability; with its heat map;
* ``viewer-dicom.png``: a 5-slice MR series written with pydicom from five images of the
  shipped mini data set (public data, no patient attributes at all), with its per-slice strip
  and series summary. The five images are coronal T1 post-contrast slices of five different
  patients: the series says so in its description and claims no orientation, position,
  spacing or thickness it does not have (so no orientation markers and no ruler are drawn);
* ``wizard-2-reproduce.png``: the recipe "Reproduce the default model" with the advanced
  settings open (frozen stages, schedule, early stopping);
* ``practice-reveal.png`` and ``practice-summary.png``: the Practice tab on the shipped
  practice set, answered by a scripted "student" who is right except on every fourth slice
  (it calls those "glioma"): one slice revealed with the model's answer and heat map, then
  the summary;
* ``wizard-1-data.png`` … ``wizard-5-keep.png``: the training wizard's five steps. The data
  step checks ``--data`` (default: the data folder of ``--run`` where it exists, else
  ``tests/data/mini``); the recipe step shows the default recipe for this machine with its
  measured duration; the training, results and keep steps show the finished run folder
  ``--run`` (as ``brainmri train`` or the app writes it: ``history.json``, ``eval_test.json``,
  ``augmented_batch.png``...). Without ``--run`` a tiny throw-away run is trained from random
  weights on the mini data set (a minute or two on a CPU): it shows the screens, not a model.

The script starts its own Xvfb server (``apt-get install xvfb``) so the pictures are the xcb
platform's real rendering at a fixed size, whatever the machine's screen; ``--display`` uses
the current ``$DISPLAY`` instead. Settings, runs and models go to a temporary folder; the
user's are never read or written. ``--only NAME,...`` makes some of the pictures (the
real-window test uses that). Exit status 0 when every picture shows what it should.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
MINI = ROOT / "tests" / "data" / "mini"
SERIES_SOURCES = [MINI / "Training" / "glioma" / f"Tr-glTr_{n:04d}.jpg" for n in range(5)]
NAMES = (
    "viewer-image",
    "viewer-dicom",
    "wizard-1-data",
    "wizard-2-recipe",
    "wizard-2-reproduce",
    "wizard-3-training",
    "wizard-4-results",
    "wizard-5-keep",
    "practice-reveal",
    "practice-summary",
)
TINY_RUN = {
    "backbone": "test_efficientnet",
    "pretrained": "none",
    "img_size": 64,
    "batch_size": 8,
    "epochs": 8,
    "limit_per_class": 0,
    "workers": 0,
    "device": "cpu",
}


def write_demo_series(folder: Path, jpegs: list[Path], size: int = 256) -> Path:
    """One MR series, one file per slice (16-bit, a default window), no patient attributes.

    Honest about what the JPEGs are: coronal slices of different patients, with no geometry.
    So there is no Image Orientation/Position (Patient), Pixel Spacing, Slice Thickness or field
    strength here: a reader would take made-up values for facts (an "AX" label on coronal
    slices is noticed at once)."""
    import pydicom
    from PIL import Image
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    series_uid, study_uid, frame_uid = generate_uid(), generate_uid(), generate_uid()
    for n, jpeg in enumerate(jpegs):
        with Image.open(jpeg) as im:
            grey = np.asarray(im.convert("L").resize((size, size)), np.uint16) * 8
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "MR", 4, n + 1
        ds.SeriesDescription = "Demo: coronal T1 post-contrast, 5 patients"
        ds.BodyPartExamined = "BRAIN"
        ds.Rows, ds.Columns = grey.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.WindowCenter, ds.WindowWidth = 1000, 2000
        ds.PixelData = grey.tobytes()
        ds.save_as(folder / f"IM{n + 1:04d}.dcm", enforce_file_format=True)
    return folder


def _headline_rank(item: Any, state: Any) -> tuple[float, float]:
    """(the measured pointing rate of the predicted class's map, its probability) for a
    correctly classified tumour sample (name starts with the predicted class), else (-1, -1):
    a "notumor" image has no lesion for the map to show."""
    from trainer.api import read_localization

    prediction = state.prediction(item)
    if prediction is None or not item.name.startswith(f"{prediction.predicted_class}_"):
        return (-1.0, -1.0)
    if prediction.predicted_class == "notumor":
        return (-1.0, -1.0)
    measured = read_localization(state.model_meta).get(prediction.predicted_class)
    rate = measured.hits / measured.n if measured is not None else 0.0
    return (rate, float(prediction.probabilities[prediction.predicted_class]))


class Shooter:
    """One main window, driven step by step; each picture is ``window.grab()``."""

    def __init__(self, args: argparse.Namespace, home: Path) -> None:
        from desktop_app.main import _application, create_window
        from desktop_app.settings import AppSettings

        self.args = args
        self.app = _application()
        self.settings = AppSettings.in_file(home / "settings.ini")
        self.window = create_window(self.settings, (), args.model, "cpu")
        width, height = (int(v) for v in args.size.lower().split("x"))
        self.window.resize(width, height)
        self.window.show()
        self.problems: list[str] = []

    def wait_until(self, done: Callable[[], bool], timeout_s: float, what: str) -> bool:
        """Run the event loop until ``done()`` (polled every 50 ms); a problem if it never is."""
        from PySide6.QtCore import QEventLoop, QTimer

        deadline = time.monotonic() + timeout_s
        loop = QEventLoop()
        timer = QTimer()
        timer.setInterval(50)
        timer.timeout.connect(lambda: (done() or time.monotonic() > deadline) and loop.quit())
        timer.start()
        loop.exec()
        timer.stop()
        ok = bool(done())
        if not ok and what:
            self.problems.append(f"timed out after {timeout_s:.0f} s waiting for {what}")
        return ok

    def settle(self) -> None:
        """A few more event-loop turns, so that the last repaints have landed."""
        self.wait_until(lambda: False, 0.3, "")

    def save(self, name: str) -> None:
        from desktop_app.main import save_widget_png

        self.settle()
        path = save_widget_png(self.window, self.args.out / f"{name}.png")
        print(f"wrote {path}")

    # ------------------------------------------------------------------ the viewer
    def viewer(self, name: str, paths: list[Path], show_best: bool = False) -> None:
        viewer = self.window.viewer
        self.window.tabs.setCurrentWidget(viewer)
        viewer.clear()
        viewer.open_paths([str(p) for p in paths])
        registry = self.window.registry
        self.wait_until(
            lambda: (
                (registry.predictor is not None or not registry.is_loading)
                and bool(viewer.state.items)
                and viewer.is_view_complete()
            ),
            self.args.timeout,
            f"{name}: predictions and overlays",
        )
        readable = [i for i in viewer.state.items if i.scan is not None]
        first = readable[0] if readable else None
        if show_best:
            self.wait_until(
                lambda: all(viewer.state.prediction(i) is not None for i in readable),
                self.args.timeout,
                f"{name}: every prediction",
            )
            first = max(readable, key=lambda i: _headline_rank(i, viewer.state), default=None)
        if first is not None and viewer.state.current is not first:
            viewer.state.select(first)
            self.wait_until(viewer.is_view_complete, self.args.timeout, f"{name}: overlay")
        if viewer.state.prediction() is None:
            self.problems.append(f"{name}: no prediction ({registry.last_error or 'no model'})")
        elif viewer.state.cam() is None:
            self.problems.append(f"{name}: no heat map")
        self.save(name)

    # ------------------------------------------------------------------ the wizard
    def wizard(self, wanted: set[str], data: Path, run: Path | None) -> None:
        from desktop_app.training.tab import DATA, KEEP, RECIPE, RESULTS, TRAINING

        tab = self.window.training
        self.window.tabs.setCurrentWidget(tab)
        c = tab.controller
        tab.go_to(DATA)
        finished: list[object] = []
        c.scan_finished.connect(finished.append)
        c.scan_failed.connect(finished.append)
        tab.data_page.set_folder(data)
        self.wait_until(lambda: bool(finished), 600, "the data check")
        if "wizard-1-data" in wanted:
            self.save("wizard-1-data")
        if not wanted - {"wizard-1-data"}:
            return
        tab.go_to(RECIPE)
        if "wizard-2-recipe" in wanted:
            measured: list[object] = []
            for signal in (c.probe_finished, c.probe_failed, c.weights_unavailable):
                signal.connect(measured.append)
            tab.recipe_page.probe_button.click()
            self.wait_until(lambda: bool(measured), 300, "the speed measurement")
            self.save("wizard-2-recipe")
        if "wizard-2-reproduce" in wanted:
            recipe = tab.recipe_page
            recipe.apply_preset("default-model")
            recipe.advanced_button.setChecked(True)
            self.save("wizard-2-reproduce")
            recipe.advanced_button.setChecked(False)
        if not wanted & {"wizard-3-training", "wizard-4-results", "wizard-5-keep"}:
            return
        if run is not None:
            tab.open_finished_run(run)
        else:
            self.tiny_run(tab)
        if tab.results_page.results is None:
            self.problems.append("no results to show (the run did not finish)")
            return
        tab.go_to(TRAINING)
        if "wizard-3-training" in wanted:
            self.save("wizard-3-training")
        tab.go_to(RESULTS)
        label = tab.results_page.gallery_label  # "Looking for…" until the gallery is done
        self.wait_until(
            lambda: not label.text().startswith("Looking"), 600, "the misclassified images"
        )
        if "wizard-4-results" in wanted:
            self.save("wizard-4-results")
        tab.go_to(KEEP)
        if "wizard-5-keep" in wanted:
            self.save("wizard-5-keep")

    # ------------------------------------------------------------------ practice
    def practice(self, wanted: set[str]) -> None:
        """The shipped practice set, answered by a scripted student (right except on every
        fourth slice, where it says "glioma")."""
        tab = self.window.practice
        self.window.tabs.setCurrentWidget(tab)
        registry = self.window.registry
        self.wait_until(lambda: registry.predictor is not None, self.args.timeout, "the model")
        tab.open_practice_set()
        session = tab.session
        if session is None:
            self.problems.append("practice: the practice set did not open")
            return
        shown = False
        for k in range(session.total):
            item = tab.item
            if item is None:
                break
            self.wait_until(
                lambda: tab._model_answer is not None or bool(tab._model_note),
                self.args.timeout,
                "practice: the model's answer",
            )
            wrong = k % 4 == 3
            tab.answer(session.classes[0] if wrong else item.truth)
            model = tab._model_answer
            if not shown and "practice-reveal" in wanted and model and model.overlay is not None:
                self.save("practice-reveal")
                shown = True
            tab.next_slice()
        if "practice-reveal" in wanted and not shown:
            self.problems.append("practice: no revealed slice with a heat map")
        if "practice-summary" in wanted:
            tab.show_summary()
            self.save("practice-summary")

    def tiny_run(self, tab: Any) -> None:
        """Train the throw-away run through the wizard (Start, like a user)."""
        recipe = tab.recipe_page
        recipe.apply_preset("quick")
        for key, value in TINY_RUN.items():
            recipe.set_value(key, value)
        ended: list[object] = []
        tab.controller.training_ended.connect(ended.append)
        recipe.start_button.click()
        self.wait_until(lambda: bool(ended), 1800, "the tiny training run")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--run",
        type=Path,
        help="a finished run folder for the wizard's training, results and keep steps",
    )
    parser.add_argument("--model", help="model file for the viewer (default: the bundled one)")
    parser.add_argument("--data", type=Path, help="data folder for the data step")
    parser.add_argument("--out", type=Path, default=OUT, help="where the PNGs go")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(NAMES)}")
    parser.add_argument("--size", default="1280x800", help="window size (default 1280x800)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per wait")
    parser.add_argument(
        "--display", action="store_true", help="use the current $DISPLAY instead of starting Xvfb"
    )
    args = parser.parse_args(argv)
    wanted = set(args.only.split(",")) if args.only else set(NAMES)
    if wanted - set(NAMES):
        parser.error(f"unknown picture(s): {', '.join(sorted(wanted - set(NAMES)))}")
    if args.run is not None and not (args.run / "history.json").is_file():
        parser.error(f"{args.run}: not a finished run folder (no history.json)")
    data = args.data
    if data is None and args.run is not None:
        import json

        cfg = json.loads((args.run / "config.json").read_text(encoding="utf-8"))
        data = Path(cfg.get("data") or MINI)
    data = data if data is not None and data.is_dir() else MINI
    args.out.mkdir(parents=True, exist_ok=True)

    from contextlib import nullcontext

    from desktop_app.display import virtual_display

    width, height = (int(v) for v in args.size.lower().split("x"))
    with (
        tempfile.TemporaryDirectory(prefix="brainmri-shots-") as tmp,
        (
            nullcontext(os.environ.get("DISPLAY", ""))
            if args.display
            else virtual_display(width, height)
        ) as display,
    ):
        os.environ.update(DISPLAY=display, QT_QPA_PLATFORM="xcb", BRAINMRI_HOME=tmp)
        import desktop_app.main  # noqa: F401  (torch before Qt, see its docstring)
        from desktop_app.workers import wait_for_all

        shooter = Shooter(args, Path(tmp))
        print(f"Qt platform: {shooter.app.platformName()}, display {display}, window {args.size}")
        if "viewer-image" in wanted:
            samples = sorted((ROOT / "assets" / "samples").glob("*.jpg"))
            shooter.viewer("viewer-image", samples, show_best=True)
        if "viewer-dicom" in wanted:
            series = write_demo_series(Path(tmp) / "demo_series", SERIES_SOURCES)
            shooter.viewer("viewer-dicom", [series])
        if wanted & {n for n in NAMES if n.startswith("wizard")}:
            shooter.wizard(wanted, data, args.run)
        if wanted & {"practice-reveal", "practice-summary"}:
            shooter.practice(wanted)
        shooter.window.training.shutdown()
        shooter.window.practice.shutdown()
        shooter.window.viewer.shutdown()
        wait_for_all(30.0)
        shooter.window.close()
    for problem in shooter.problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if shooter.problems else 0


if __name__ == "__main__":
    sys.exit(main())
