"""``brainmri prepare``: decode a data folder once into a compact cache file."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare", help="decode a data folder into a compact training cache")
    p.add_argument("--data", required=True)
    p.add_argument("--img-size", type=int, default=224)
    p.add_argument("--out", required=True, help="cache file (.safetensors)")
    p.add_argument(
        "--max-mib",
        type=float,
        default=50.0,
        help="size budget; the WebP quality is chosen to fit it (default 50)",
    )
    p.add_argument("--workers", type=int, default=4)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from trainer.data.cache import prepare_cache

    bar = tqdm(unit="img", desc="decoding", file=sys.stderr, dynamic_ncols=True)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)  # update() honours tqdm's refresh interval; refresh() does not

    summary = prepare_cache(
        args.data, args.img_size, args.out, args.max_mib, args.workers, progress
    )
    bar.close()
    for rel, reason in summary["skipped"]:
        print(f"skipped {rel}: {reason}")
    shown = {k: v for k, v in summary.items() if k != "skipped"}
    from trainer.jsontext import json_text

    print(json_text(shown))
    return 0
