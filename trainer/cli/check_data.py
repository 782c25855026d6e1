"""``brainmri check-data DIR``: what is in a data set, and what could fool a model trained on it."""

from __future__ import annotations

import argparse
import sys

from trainer.vocab import SPLIT_CHOICES


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check-data",
        help="counts, unreadable files, image sizes, near-duplicates (leakage), shortcuts",
    )
    p.add_argument("data", metavar="DIR")
    p.add_argument("--split", choices=SPLIT_CHOICES, default="paper")
    p.add_argument("--split-file", action="append", default=[], metavar="NAME=FILE")
    p.add_argument("--val-fraction", type=float)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit-per-class", type=int)
    p.add_argument("--max-distance", type=int, default=4, help="pHash Hamming distance (4)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--dedup-list", metavar="FILE", help="write the de-duplicated test list")
    p.add_argument("--pairs-csv", metavar="FILE", help="write every near-duplicate pair")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from trainer.data.checks import check_dataset, format_report, write_dedup_list, write_pairs_csv

    bars: list[tqdm] = []  # made at the first progress report: a folder that fails before
    # any file is checked gets its error alone, without a stray "checking: 0img" line

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(
                tqdm(
                    total=total,
                    unit="img",
                    desc="checking",
                    file=sys.stderr,
                    dynamic_ncols=True,
                    disable=args.json,
                )
            )
        bar = bars[0]
        bar.total = total
        bar.update(done - bar.n)  # update() honours tqdm's refresh interval; refresh() does not

    split_files = dict(s.split("=", 1) for s in args.split_file) or None
    try:
        report = check_dataset(
            args.data,
            args.split,
            split_files,
            args.val_fraction,
            args.seed,
            args.limit_per_class,
            args.max_distance,
            progress,
        )
    finally:
        for bar in bars:
            bar.close()
    if args.dedup_list:
        write_dedup_list(report, args.dedup_list)
    if args.pairs_csv:
        write_pairs_csv(report, args.pairs_csv)
    if args.json:
        from trainer.jsontext import json_text

        print(json_text(report.to_dict()))
    else:
        print(format_report(report))
    return 0
