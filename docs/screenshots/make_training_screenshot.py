"""Make ``docs/screenshots/training.png``: the Training tab's training step, curves drawn.

The picture is taken when the last epoch has ended and the run is evaluating: every curve is
complete and the progress, speed and log are still those of a run in progress.

Reproducible and private: it trains timm's tiny ``test_efficientnet`` from random weights on
the shipped mini data set (CPU, a minute or two), in a temporary user folder, so nothing of
the user's runs, models or settings is read or written. The numbers on it therefore mean
nothing; the screenshot shows the tab, not a model.

    .venv/bin/python docs/screenshots/make_training_screenshot.py            # offscreen
    xvfb-run -a .venv/bin/python docs/screenshots/make_training_screenshot.py  # real X fonts

Options: ``--data DIR`` (default ``tests/data/mini``), ``--epochs N`` (8), ``--out PNG``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "tests" / "data" / "mini")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots" / "training.png")
    parser.add_argument("--size", default="1280x800", help="window size, WIDTHxHEIGHT")
    args = parser.parse_args(argv)

    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    home = tempfile.mkdtemp(prefix="brainmri-screenshot-")
    os.environ["BRAINMRI_HOME"] = home  # runs go here, never to the user's folder

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtGui import QPixmap
    from PySide6.QtWidgets import QApplication

    from trainer.events import EpochEnded

    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("brainmri-app")
    from desktop_app.training import QtTrainingTab

    def wait_for(signal: object, timeout_s: float) -> None:
        """Run the event loop until ``signal`` fires (a local loop: the screenshot must show
        exactly what a user sees, painted by Qt, not a half-updated widget)."""
        loop = QEventLoop()
        signal.connect(loop.quit)  # type: ignore[attr-defined]
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        loop.exec()

    width, height = (int(v) for v in args.size.lower().split("x"))
    tab = QtTrainingTab(registry=None)
    tab.setWindowTitle("brainmri — Training")
    tab.resize(width, height)
    tab.show()

    tab.data_page.set_folder(args.data)
    wait_for(tab.controller.scan_finished, 120)
    tab.go_to(1)
    recipe = tab.recipe_page
    recipe.apply_preset("quick")
    for key, value in {"backbone": "test_efficientnet", "pretrained": "none", "img_size": 64,
                       "batch_size": 8, "epochs": args.epochs, "limit_per_class": 0,
                       "workers": 0, "device": "cpu"}.items():
        recipe.set_value(key, value)
    shot: list[QPixmap] = []

    def on_event(event: object) -> None:
        # connected after the page's own slot, so the page already shows this event
        if isinstance(event, EpochEnded) and event.epoch == event.epochs and not shot:
            shot.append(tab.grab())

    tab.controller.event_received.connect(on_event)
    recipe.start_button.click()
    wait_for(tab.controller.training_ended, 1800)
    tab.shutdown()
    progress = tab.controller.progress
    if progress.failed is not None or not shot:
        error = progress.failed.error if progress.failed else "no epoch ended"
        print(f"training failed: {error}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not shot[0].save(str(args.out), "PNG"):
        print(f"could not write {args.out}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({width}×{height}; runs in {home})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
