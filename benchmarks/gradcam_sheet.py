"""Contact sheets of Grad-CAM maps on test images, one per class, to look at by eye.

    python benchmarks/gradcam_sheet.py --data DATA [--model M] [--per-class 24] [--out DIR]

Takes ``--per-class`` test-half images of each tumour class (evenly spaced through the
split, no choosing), predicts each, and draws the image beside its Grad-CAM overlay for the
predicted class, captioned with the true and the predicted class. The sheets are for the
model card's question "does the map fall on the lesion?": the data set has no lesion masks,
so the answer is a reader's judgement, written down with the sheets that support it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from trainer.cam import render_overlay
from trainer.data.discovery import discover
from trainer.data.splits import make_split
from trainer.io import read_grey
from trainer.predict import Predictor
from trainer.preprocess import to_model_square

TILE = 160


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", required=True)
    ap.add_argument("--model")
    ap.add_argument("--per-class", type=int, default=24)
    ap.add_argument("--out", default="gradcam_sheets")
    args = ap.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    predictor = Predictor(args.model, device="cpu")
    split = make_split(discover(args.data), "paper")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for label, name in enumerate(predictor.classes):
        if name == "notumor":
            continue
        samples = [s for s in split.test if s.label == label]
        picked = [samples[i] for i in np.linspace(0, len(samples) - 1, args.per_class).astype(int)]
        cols = 6
        rows = int(np.ceil(len(picked) / (cols // 2)))
        fig, axes = plt.subplots(rows, cols, figsize=(cols * 2, rows * 2.2))
        for ax in axes.flat:
            ax.axis("off")
        for k, s in enumerate(picked):
            grey = read_grey(s.path)
            probs, _ = predictor.predict_arrays([grey])
            pred = int(probs[0].argmax())
            cam = predictor.explain(grey, target_class=pred)
            square = to_model_square(grey, TILE) / 255.0
            cam_sq = to_model_square(cam, TILE) / 255.0
            left, right = axes.flat[2 * k], axes.flat[2 * k + 1]
            left.imshow(square, cmap="gray", vmin=0, vmax=1)
            right.imshow(render_overlay(square, cam_sq))
            mark = "" if pred == label else "  WRONG"
            left.set_title(s.path.name, fontsize=6)
            right.set_title(f"{predictor.classes[pred]} {probs[0, pred]:.0%}{mark}", fontsize=7)
        fig.suptitle(f"Grad-CAM, true class {name} ({len(picked)} test images)", fontsize=10)
        fig.tight_layout()
        path = out / f"gradcam_{name}.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        print(path)


if __name__ == "__main__":
    main()
