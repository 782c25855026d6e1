"""``brainmri export``: a shipping copy of a model file (float16, renamed, with notes)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a copy of a model file (e.g. float16 for shipping)")
    p.add_argument("model")
    p.add_argument("out")
    p.add_argument("--half", action="store_true", help="store weights as float16 (half the size)")
    p.add_argument("--name", help="the name shown in the app and reports")
    p.add_argument(
        "--note",
        action="append",
        default=[],
        help="a line for the metadata's notes (e.g. 'interim: CPU-trained')",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trainer.atomic import check_writable
    from trainer.modelfile import load_model_file, save_model_file

    check_writable(args.out)  # a read-only or full destination: said before the model loads
    loaded = load_model_file(args.model)
    meta = dict(loaded.meta)
    if args.name:
        meta["name"] = args.name
    if args.note:
        meta["notes"] = [*meta.get("notes", []), *args.note]
    path = save_model_file(args.out, loaded.model, meta, loaded.ood, half=args.half)
    print(
        f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB, "
        f"{'float16' if args.half else 'float32'})"
    )
    return 0
