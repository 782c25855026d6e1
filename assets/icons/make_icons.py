"""Render brainmri.svg into the PNG sizes and the Windows .ico the app and packagers use.

Run from the repository root: ``.venv/bin/python assets/icons/make_icons.py``. Uses QtSvg
(part of PySide6-Essentials) offscreen, and Pillow for the multi-size .ico.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

FOLDER = Path(__file__).resolve().parent
SIZES = (16, 24, 32, 48, 64, 128, 256)


def main() -> None:
    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841  (QtSvg needs one)
    renderer = QSvgRenderer(str(FOLDER / "brainmri.svg"))
    if not renderer.isValid():
        raise SystemExit("brainmri.svg could not be parsed")
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        image.save(str(FOLDER / f"brainmri-{size}.png"))
    with Image.open(FOLDER / "brainmri-256.png") as big:
        big.save(FOLDER / "brainmri.ico", sizes=[(s, s) for s in SIZES])
    print(f"wrote {len(SIZES)} PNGs and brainmri.ico to {FOLDER}")


if __name__ == "__main__":
    main()
