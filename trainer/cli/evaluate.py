"""``brainmri evaluate``: accuracy, loss, confusion matrix and report of a model file."""

from __future__ import annotations

import argparse

from trainer import NOT_FOR_CLINICAL_USE
from trainer.vocab import SPLIT_CHOICES


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a model file on a data split")
    p.add_argument("--model", required=True)
    p.add_argument("--data", help="data folder")
    p.add_argument("--cache", help="a cache from `brainmri prepare` instead of the files")
    p.add_argument("--split", choices=["test", "val", "train", "all"], default="test")
    p.add_argument("--split-method", choices=SPLIT_CHOICES, default="paper")
    p.add_argument("--split-file", action="append", default=[], metavar="NAME=FILE")
    p.add_argument("--val-fraction", type=float)
    p.add_argument("--seed", type=int, default=0, help="seed of a fraction split (as in training)")
    p.add_argument("--limit-per-class", type=int)
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--no-dedup",
        dest="dedup",
        action="store_false",
        help="skip the de-duplicated test list (saves hashing every image)",
    )
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trainer.evaluation import evaluate_model
    from trainer.metrics import classification_report_text

    if not args.data and not args.cache:
        raise SystemExit("brainmri evaluate: give --data DIR or --cache FILE")
    split_files = dict(s.split("=", 1) for s in args.split_file) or None
    r = evaluate_model(
        args.model,
        args.data,
        args.split,
        args.cache,
        "files" if split_files else args.split_method,
        split_files,
        args.val_fraction,
        args.seed,
        args.limit_per_class,
        args.device,
        args.batch_size,
        args.dedup,
    )
    if args.json:
        from trainer.jsontext import json_text

        print(json_text(r))
        return 0
    for rel, reason in r["skipped"]:
        print(f"skipped {rel}: {reason}")
    lo, hi = r["accuracy_ci95"]
    print(
        f"{args.split}: {r['n']} images — accuracy {r['accuracy']:.4f} "
        f"(95 % CI {lo:.4f}–{hi:.4f}), loss {r['loss']:.4f}, ECE {r['ece']:.4f}"
        + (f" → {r['ece_calibrated']:.4f} calibrated" if "ece_calibrated" in r else "")
    )
    print(classification_report_text(r))
    print("confusion matrix (rows true, columns predicted):", ", ".join(r["classes"]))
    for row in r["confusion_matrix"]:
        print("  " + " ".join(f"{v:>5}" for v in row))
    if r.get("dedup"):
        d = r["dedup"]
        lo, hi = d["accuracy_ci95"]
        print(
            f"de-duplicated test list: {d['n']} images — accuracy {d['accuracy']:.4f} "
            f"(95 % CI {lo:.4f}–{hi:.4f}), loss {d['loss']:.4f}"
        )
    print(NOT_FOR_CLINICAL_USE)
    return 0
