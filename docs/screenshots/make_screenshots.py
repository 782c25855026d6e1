"""Make the README's viewer screenshots, reproducibly, with ``brainmri-app --screenshot``.

    .venv/bin/python docs/screenshots/make_screenshots.py [--model FILE]

* ``viewer-image.png``: the three bundled sample JPEGs (``assets/samples``), the first shown.
* ``viewer-dicom.png``: a 5-slice MR series written with pydicom from five real images of the
  shipped mini data set (``tests/data/mini``, public data set, see its README), so no patient
  data is involved. It carries no patient attributes at all.

Runs offscreen (``QT_QPA_PLATFORM=offscreen``), so it works on a server. The model is the
bundled default unless ``--model`` names another file.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
MINI = ROOT / "tests" / "data" / "mini"
SERIES_SOURCES = [MINI / "Training" / "glioma" / f"Tr-glTr_{n:04d}.jpg" for n in range(5)]


def write_demo_series(folder: Path, jpegs: list[Path], size: int = 256) -> Path:
    """One MR series, one file per slice (16-bit, a default window), no patient attributes."""
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
        ds.SeriesDescription = "T1 AX post-contrast (demo)"
        ds.BodyPartExamined, ds.MRAcquisitionType, ds.MagneticFieldStrength = "BRAIN", "2D", 1.5
        ds.ImagePositionPatient = [-115.0, -115.0, 6.0 * n]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing, ds.SliceThickness, ds.SpacingBetweenSlices = [0.9, 0.9], 5.0, 6.0
        ds.Rows, ds.Columns = grey.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.WindowCenter, ds.WindowWidth = 1000, 2000
        ds.PixelData = grey.tobytes()
        ds.save_as(folder / f"IM{n + 1:04d}.dcm", enforce_file_format=True)
    return folder


def shoot(target: Path, paths: list[Path], model: str | None) -> None:
    cmd = [sys.executable, "-m", "desktop_app.main", "--screenshot", str(target)]
    if model:
        cmd += ["--model", model]
    cmd += [str(p) for p in paths]
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    print("$", " ".join(cmd))
    subprocess.run(cmd, check=True, cwd=ROOT, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model file (default: the bundled default model)")
    args = parser.parse_args()
    samples = sorted((ROOT / "assets" / "samples").glob("*.jpg"))
    shoot(OUT / "viewer-image.png", samples, args.model)
    with tempfile.TemporaryDirectory() as tmp:
        series = write_demo_series(Path(tmp) / "T1_AX_demo_series", SERIES_SOURCES)
        shoot(OUT / "viewer-dicom.png", [series], args.model)


if __name__ == "__main__":
    main()
