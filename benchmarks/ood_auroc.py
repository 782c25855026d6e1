"""How well does the "is this a brain MRI?" check separate MRIs from everything else?

    python benchmarks/ood_auroc.py --data DATA [--model M] [--n-mri 200]

In-distribution: test-half images of the data set (paper split). Out-of-distribution, all
made here or shipped by installed packages (no downloads): a photo (matplotlib's
``grace_hopper.jpg``), logos and a product photo, a CT slice (pydicom's ``CT_small.dcm``),
rendered charts and text "screenshots", uniform and Gaussian noise, gradients, checkerboards,
and blank images. Prints the AUROC per family and overall, and how many of each the model's
threshold flags (the threshold was set on validation data at training time).
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Iterator

import numpy as np
from PIL import Image, ImageDraw

from trainer.data.discovery import discover
from trainer.data.splits import make_split
from trainer.io import read_grey, read_scan
from trainer.ood import auroc
from trainer.predict import Predictor


def _grey(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("L"), dtype=np.float32) / 255.0


def photos() -> Iterator[np.ndarray]:
    import matplotlib.cbook as cbook

    for name in ("grace_hopper.jpg", "logo2.png", "Minduka_Present_Blue_Pack.png"):
        with cbook.get_sample_data(name) as fh:
            img = Image.open(io.BytesIO(fh.read()))
            img.load()
        g = _grey(img)
        yield g
        yield np.ascontiguousarray(g[:, ::-1])  # and its mirror image


def ct() -> Iterator[np.ndarray]:
    from pydicom.data import get_testdata_file

    path = get_testdata_file("CT_small.dcm", download=False)
    s = read_scan(path).slices[0]
    yield s.render()
    from trainer.io import Window

    for center, width in ((40, 400), (300, 1500), (-600, 1500)):  # soft tissue, bone, lung
        yield s.render(Window(center, width))


def charts(rng: np.random.Generator) -> Iterator[np.ndarray]:
    from matplotlib.figure import Figure

    for k in range(6):
        fig = Figure(figsize=(4, 4), dpi=64)
        ax = fig.add_subplot(1, 1, 1)
        kind = k % 3
        if kind == 0:
            ax.plot(rng.normal(size=(50, 3)).cumsum(axis=0))
        elif kind == 1:
            ax.bar(range(8), rng.random(8))
        else:
            ax.scatter(*rng.normal(size=(2, 200)))
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        yield _grey(Image.open(buf))


def screenshots(rng: np.random.Generator) -> Iterator[np.ndarray]:
    for k in range(6):
        img = Image.new("L", (400, 300), 255 if k % 2 else 30)
        d = ImageDraw.Draw(img)
        for line in range(14):
            words = " ".join("x" * int(rng.integers(2, 9)) for _ in range(6))
            d.text((10, 8 + 20 * line), words, fill=0 if k % 2 else 220)
        d.rectangle((300, 10, 390, 60), outline=128, width=3)
        yield _grey(img)


def synthetic(rng: np.random.Generator) -> Iterator[np.ndarray]:
    for _ in range(4):
        yield rng.random((256, 256)).astype(np.float32)
        yield np.clip(rng.normal(0.5, 0.2, (256, 256)), 0, 1).astype(np.float32)
    yy, xx = np.mgrid[0:256, 0:256] / 255.0
    yield xx.astype(np.float32)
    yield yy.astype(np.float32)
    yield ((xx + yy) / 2).astype(np.float32)
    for cell in (8, 32):
        yield (
            (((np.arange(256) // cell)[:, None] + (np.arange(256) // cell)[None]) % 2).astype(
                np.float32
            )
        )
    yield np.zeros((256, 256), np.float32)
    yield np.full((256, 256), 0.5, np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", required=True)
    ap.add_argument("--model")
    ap.add_argument("--n-mri", type=int, default=200)
    args = ap.parse_args()
    pred = Predictor(args.model, device="cpu")
    if pred.loaded.ood is None:
        raise SystemExit("this model file has no out-of-distribution statistics")
    split = make_split(discover(args.data), "paper")
    test = list(split.test)[:: max(1, len(split.test) // args.n_mri)][: args.n_mri]
    _, mri_scores = pred.predict_arrays([read_grey(s.path) for s in test])
    rng = np.random.default_rng(0)
    families = {
        "photos": list(photos()),
        "CT slice": list(ct()),
        "charts": list(charts(rng)),
        "screenshots": list(screenshots(rng)),
        "noise/patterns": list(synthetic(rng)),
    }
    threshold = pred.loaded.ood.threshold
    print(f"model {pred.describe()}; threshold {threshold:.3f} (99th percentile of validation)")
    print(
        f"MRI test images: {len(mri_scores)}, flagged {int((mri_scores > threshold).sum())} "
        f"({(mri_scores > threshold).mean():.1%})"
    )
    print(f"{'family':<16}{'n':>4}{'AUROC':>8}{'flagged':>9}")
    all_out = []
    for name, greys in families.items():
        _, scores = pred.predict_arrays(greys)
        all_out.append(scores)
        print(
            f"{name:<16}{len(scores):>4}{auroc(mri_scores, scores):>8.3f}"
            f"{int((scores > threshold).sum()):>5}/{len(scores)}"
        )
    out = np.concatenate(all_out)
    print(
        f"{'all':<16}{len(out):>4}{auroc(mri_scores, out):>8.3f}"
        f"{int((out > threshold).sum()):>5}/{len(out)}"
    )


if __name__ == "__main__":
    main()
