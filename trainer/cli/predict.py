"""``brainmri predict``: classify image files, DICOM files and DICOM folders.

Output formats (stable; scripts parse them):

``--json`` prints ONE JSON list to stdout, one object per slice or failed file::

    {"path": str, "slice": int | null, "predicted_class": str | null,
     "probabilities": {class: float} | null, "ood": bool | null, "ood_score": float | null,
     "warnings": [str], "error": str | null, "cam": str | null}

``slice`` is the frame / series position for multi-slice inputs and null for single images;
a file that could not be read has ``error`` set and null results. ``--csv FILE`` writes the
same fields, one column per class probability. Exit status: 0 when every input was read,
1 when any failed or a folder held nothing to read (after processing all the others), 2 for a
usage or model-file error or when none of the paths exists (checked before the model loads).
Errors go to stderr, once each.

Inputs are decoded, predicted and dropped one slice at a time (``trainer.io.iter_slices``), so
memory does not grow with the number or size of the files. A file with more frames or pages
than ``BRAINMRI_MAX_FRAMES`` (default 1000) is refused with that reason. File names that are
not valid UTF-8 are written back byte for byte (``surrogateescape``) in the CSV, and as
``\\udcXX`` escapes in the JSON and the text output.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trainer import NOT_FOR_CLINICAL_USE


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="classify scans (images, DICOM files or folders)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (walked)")
    p.add_argument("--model", help="model file (default: the bundled default model)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print one JSON list to stdout")
    fmt.add_argument("--csv", metavar="FILE", help="write a CSV table")
    p.add_argument("--cam-dir", metavar="DIR", help="write one Grad-CAM overlay PNG per slice")
    p.add_argument(
        "--cam-method", default="gradcam", choices=["gradcam", "gradcam++", "eigencam", "layercam"]
    )
    p.add_argument("--opacity", type=float, default=0.4, help="overlay opacity (0..1)")
    p.add_argument("--tta", action="store_true", help="average with a horizontally flipped copy")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=run)


def _error_row(path: str, reason: str) -> dict[str, Any]:
    return {
        "path": path,
        "slice": None,
        "predicted_class": None,
        "probabilities": None,
        "ood": None,
        "ood_score": None,
        "warnings": [],
        "error": reason,
        "cam": None,
    }


def _cam_name(row: dict[str, Any], used: set[str]) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(row["path"]).name)
    base = stem + (f"_slice{row['slice']:03d}" if row["slice"] is not None else "")
    name, k = f"{base}.png", 1
    while name in used:
        k += 1
        name = f"{base}_{k}.png"
    used.add(name)
    return name


def _missing_and_empty(paths: list[str], seen: list[str]) -> list[Any]:
    """Folders given on the command line in which nothing was found, as read errors: an empty
    folder must not end in silence and exit status 0. ``seen``: the paths of every result and
    error. Compared as absolute paths, links not resolved (a link loop cannot be resolved)."""
    from trainer.errors import UnreadableInputError

    found = [Path(os.path.abspath(f)) for f in seen]
    out = []
    for p in paths:
        folder = Path(p)
        if folder.is_dir():
            root = Path(os.path.abspath(folder))
            if not any(f == root or f.is_relative_to(root) for f in found):
                out.append(UnreadableInputError(p, "no image or DICOM file in this folder"))
    return out


def run(args: argparse.Namespace) -> int:
    from trainer.errors import UnreadableInputError
    from trainer.io import iter_slices

    # Paths first, the model second: a typo should not wait for a model to load.
    missing = [p for p in args.paths if not Path(p).exists()]
    for p in missing:
        print(f"brainmri: error: {p}: no such file or folder", file=sys.stderr)
    if len(missing) == len(args.paths):
        return 2
    from trainer.predict import Predictor

    if hasattr(sys.stdout, "reconfigure"):  # a file name that is not UTF-8: \udcff, no crash
        sys.stdout.reconfigure(errors="backslashreplace")
    predictor = Predictor(args.model, args.device, tta=args.tta)
    stream = iter_slices([p for p in args.paths if p not in missing])
    errors: list[UnreadableInputError] = []
    rows: list[dict[str, Any]] = []
    cam_dir = Path(args.cam_dir) if args.cam_dir else None
    used: set[str] = set()
    for result, slc in _results(predictor, stream, cam_dir is not None):
        if isinstance(result, UnreadableInputError):
            errors.append(result)
            continue
        row = {**result.to_json(), "cam": None}
        if cam_dir is not None:
            row["cam"] = str(_write_cam(predictor, slc, args, cam_dir / _cam_name(row, used)))
        rows.append(row)
    seen = [r["path"] for r in rows] + [str(e.path) for e in errors]
    errors = [*errors, *_missing_and_empty(args.paths, seen)]
    said = [UnreadableInputError(p, "no such file or folder") for p in missing]
    rows += [_error_row(str(e.path), e.reason) for e in [*errors, *said]]
    _emit(rows, predictor.classes, args)
    for e in errors:  # once, on stderr (the missing paths were said before the model loaded)
        print(f"brainmri: error: {e}", file=sys.stderr)
    return 1 if errors or said else 0


def _results(predictor: Any, items: Iterator[Any], keep_slices: bool) -> Iterator[tuple[Any, Any]]:
    """(prediction or error, the slice when a CAM is wanted). Without CAMs, slices are batched
    and dropped as soon as they are reduced to the model's input; a CAM needs the slice itself,
    so then they go one at a time."""
    if not keep_slices:
        for result in predictor.predict_stream(items):
            yield result, None
        return
    for item in items:
        yield next(iter(predictor.predict_stream([item]))), item


def _write_cam(predictor: Any, slc: Any, args: argparse.Namespace, path: Path) -> Path:
    from PIL import Image

    from trainer.atomic import atomic_path
    from trainer.cam import render_overlay

    grey = slc.render()
    cam = predictor.explain(grey, args.cam_method)
    overlay = render_overlay(grey, cam, opacity=args.opacity)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(overlay).save(tmp, format="PNG")
    return path


def _emit(rows: list[dict[str, Any]], classes: list[str], args: argparse.Namespace) -> None:
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    if args.csv:
        from trainer.atomic import write_bytes
        from trainer.prediction_table import prediction_csv

        # surrogateescape: a file name that is not UTF-8 goes back to its own bytes
        table = prediction_csv(rows, classes)
        write_bytes(args.csv, table.encode("utf-8", "surrogateescape"))
        print(f"wrote {len(rows)} rows to {args.csv}")
        return
    for r in rows:
        where = r["path"] + (f" [slice {r['slice']}]" if r["slice"] is not None else "")
        if r["error"]:
            continue  # said once, on stderr (run() prints every error there)
        probs = sorted(r["probabilities"].items(), key=lambda kv: -kv[1])
        others = ", ".join(f"{c} {p:.1%}" for c, p in probs[1:])
        flag = "  [NOT LIKE A BRAIN MRI]" if r["ood"] else ""
        print(f"{where}: {probs[0][0]} {probs[0][1]:.1%} ({others}){flag}")
        for w in r["warnings"]:
            print(f"    warning: {w}")
    print(NOT_FOR_CLINICAL_USE)
