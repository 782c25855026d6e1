"""What each part of the CPU fine-tuning recipe buys, measured side by side in one run.

    python benchmarks/cpu_recipe.py --data DATA [--batch 32] [--steps 3]

Times the engine's own training step (trainer.train.step.TrainStep, through trainer.train.probe) of
EfficientNet-Lite2 on a batch of real training images, for the full network and for each
change the ``lite2-cpu`` preset makes, one at a time and together, and prints images/s and the
minutes an epoch of the paper split's 5,712 training images would take. Run it on an idle
machine: two OpenMP threads stall badly when anything else is busy.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from trainer.config import preset_config
from trainer.data.discovery import discover
from trainer.io import read_grey
from trainer.preprocess import to_model_square
from trainer.train.probe import time_training_steps

TRAIN_IMAGES = 5712

VARIANTS: list[tuple[str, dict[str, object]]] = [
    ("full network, BatchNorm training, 224 px", {"freeze_stages": 0, "batchnorm": "train"}),
    ("+ stem and stages 0-2 frozen", {"freeze_stages": 3, "batchnorm": "train"}),
    ("+ BatchNorm statistics held (lite2-cpu, 224 px)", {}),
    ("lite2-cpu without channels-last", {"channels_last": False}),
    ("lite2-cpu, stages 0-1 frozen only", {"freeze_stages": 2}),
    ("lite2-cpu, stages 0-3 frozen", {"freeze_stages": 4}),
    ("lite2-cpu at 192 px", {"img_size": 192}),
    ("lite2-cpu at 260 px (Lite2's native size)", {"img_size": 260}),
]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", required=True)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()

    index = discover(args.data)
    samples = index.samples[:: max(len(index.samples) // args.batch, 1)][: args.batch]
    greys = [read_grey(s.path) for s in samples]
    y = torch.tensor([s.label for s in samples])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}")
    print(f"{'variant':<50}{'s/step':>8}{'img/s':>8}{'min/epoch':>11}")
    for name, overrides in VARIANTS:
        cfg = preset_config(
            "lite2-cpu", pretrained="none", device="cpu", batch_size=args.batch, **overrides
        )
        x = torch.stack([torch.from_numpy(to_model_square(g, cfg.img_size)) for g in greys])
        step = statistics.median(time_training_steps(cfg, x, y, len(index.classes), args.steps))
        ips = args.batch / step
        print(f"{name:<50}{step:>8.2f}{ips:>8.1f}{TRAIN_IMAGES / ips / 60:>11.1f}", flush=True)


if __name__ == "__main__":
    main()
