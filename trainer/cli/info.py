"""``brainmri info MODEL``: a model file's metadata, without loading its weights."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="show a model file's metadata")
    p.add_argument("model", help="a .safetensors model file written by brainmri")
    p.add_argument("--json", action="store_true", help="print the whole metadata as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trainer.modelfile import read_model_meta

    info = read_model_meta(args.model)
    # the object as the file holds it: all of it for --json, and the fields no typed value
    # holds (the OOD method, the data, the metrics with their intervals); mean and std as the
    # file writes them
    meta = info.raw
    if args.json:
        from trainer.jsontext import json_text

        print(json_text(meta))
        return 0
    m = meta.get("metrics", {})
    lines = [
        f"model:        {args.model}",
        f"name:         {_known(info.name)}",
        f"backbone:     {info.backbone}  (input {info.input_size} px, {info.preprocess})",
        f"classes:      {', '.join(info.classes)}",
        f"normalise:    mean {meta['mean']}  std {meta['std']}",
        f"temperature:  {info.temperature:.3f}",
        f"OOD check:    {meta.get('ood', {}).get('method', 'none')}",
        f"created:      {_known(info.created)} by brainmri {_known(info.package_version)}",
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


def _known(text: str | None) -> str:
    """A field the file may leave out (``name``, ``created``...): "?" when it does."""
    return "?" if text is None else text
