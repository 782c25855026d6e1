"""Training throughput: the JPEG path against the cache path (and CPU against GPU), side by side.

    python benchmarks/train_throughput.py --data DATA [--cache CACHE] [--backbone efficientnet_b3]
        [--img-size 224] [--batch-size 16] [--batches 8] [--workers 2]

For each path and device it times ``--batches`` training steps after one warm-up batch, and
separately the data alone (decode + batch), so it shows whether the data path or the model is
the bottleneck. Numbers are images per second; the last column is the ratio to the first row.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from trainer.config import preset_config
from trainer.data.cache import load_cache, prepare_cache
from trainer.data.discovery import discover
from trainer.data.sources import FileSource, TensorSource
from trainer.data.splits import make_split
from trainer.model import build_model
from trainer.train.run_data import backbone_normalization
from trainer.train.step import TrainStep, configure_for_training, prepare_train_mode


def time_data(source, batches) -> float:
    t0 = time.perf_counter()
    n = 0
    for batch in source.batches(batches):
        n += len(batch)
    return n / (time.perf_counter() - t0)


def time_training(source, batches, backbone: str, device: torch.device) -> float:
    """The engine's own training step (trainer.train.step.TrainStep) with the paper's recipe."""
    cfg = preset_config("paper", backbone=backbone, pretrained="none", device=device.type)
    model = build_model(backbone, 4)
    configure_for_training(model, cfg, device)
    mean, std = backbone_normalization(backbone)
    step = TrainStep(model, cfg, device, mean, std)
    prepare_train_mode(model, cfg)
    gen = torch.Generator().manual_seed(0)
    n, t0 = 0, None
    for i, batch in enumerate(source.batches(batches)):
        if i == 1:  # the first batch warms up kernels and workers
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0, n = time.perf_counter(), 0
        step(batch.squares, batch.labels, gen)
        n += len(batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t0) if t0 else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", required=True)
    ap.add_argument("--cache", help="existing cache; made in a temp folder if absent")
    ap.add_argument("--backbone", default="efficientnet_b3")
    ap.add_argument("--img-size", type=int, default=224)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--batches", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    index = discover(args.data)
    split = make_split(index, "paper")
    n = args.batch_size * (args.batches + 1)
    train = list(split.train)[:: max(1, len(split.train) // n)][:n]
    batches = [list(range(i, i + args.batch_size)) for i in range(0, n, args.batch_size)]

    files = FileSource(train, args.img_size, args.workers)
    cache_path = args.cache
    if cache_path is None:
        tmp = Path(tempfile.mkdtemp())
        sub = tmp / "subset"
        for s in train:  # a cache of just the benchmarked images
            dst = sub / s.rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(s.path)
        cache_path = tmp / "cache.safetensors"
        prepare_cache(sub, args.img_size, cache_path)
    cache = load_cache(cache_path)
    row = {s.rel: i for i, s in enumerate(cache.index.samples)}
    cached = TensorSource(train, cache.squares[[row[s.rel] for s in train]])

    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows = [
        ("data only", "jpeg", "-", time_data(files, batches)),
        ("data only", "cache", "-", time_data(cached, batches)),
    ]
    for dev in devices:
        src = cached.to(dev) if dev.type == "cuda" else cached
        rows.append(
            ("train step", "jpeg", dev.type, time_training(files, batches, args.backbone, dev))
        )
        rows.append(
            ("train step", "cache", dev.type, time_training(src, batches, args.backbone, dev))
        )
    print(
        f"{args.backbone} at {args.img_size} px, batch {args.batch_size}, {args.batches} timed "
        f"batches, {args.workers} loader workers, torch {torch.__version__}, "
        f"{torch.get_num_threads()} CPU threads"
    )
    print(f"{'what':<12}{'path':<8}{'device':<8}{'images/s':>10}{'vs jpeg':>10}")
    base = {}
    for what, path, dev, ips in rows:
        key = (what, dev)
        base.setdefault(key, ips)
        print(f"{what:<12}{path:<8}{dev:<8}{ips:>10.1f}{ips / base[key]:>9.2f}x")


if __name__ == "__main__":
    main()
