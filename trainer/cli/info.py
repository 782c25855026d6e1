"""``brainmri info MODEL``: a model file's metadata, without loading its weights."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="show a model file's metadata")
    p.add_argument("model", help="a .safetensors model file written by brainmri")
    p.add_argument("--json", action="store_true", help="print the whole metadata as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trainer.modelfile import read_metadata

    meta = read_metadata(args.model)
    if args.json:
        from trainer.jsontext import json_text

        print(json_text(meta))
        return 0
    m = meta.get("metrics", {})
    lines = [
        f"model:        {args.model}",
        f"name:         {meta.get('name', '?')}",
        f"backbone:     {meta['backbone']}  (input {meta['input_size']} px, {meta['preprocess']})",
        f"classes:      {', '.join(meta['classes'])}",
        f"normalise:    mean {meta['mean']}  std {meta['std']}",
        f"temperature:  {meta.get('temperature', 1.0):.3f}",
        f"OOD check:    {meta.get('ood', {}).get('method', 'none')}",
        f"created:      {meta.get('created', '?')} by brainmri {meta.get('package_version', '?')}",
        f"data:         {meta.get('data', {}).get('fingerprint', '?')}",
    ]
    for part in ("val", "test", "test_dedup"):
        r = m.get(part)
        if r:
            lo, hi = r.get("accuracy_ci95", (float("nan"), float("nan")))
            lines.append(
                f"{part + ':':<13} accuracy {r['accuracy']:.4f} (95 % CI {lo:.4f}–{hi:.4f}), "
                f"loss {r['loss']:.4f}, n={r['n']}"
            )
    if meta.get("not_for_clinical_use"):
        lines.append(meta["not_for_clinical_use"])
    print("\n".join(lines))
    return 0
