"""``brainmri predict``: classify image files, DICOM files and DICOM folders.

Output formats (stable; scripts parse them):

``--json`` prints ONE JSON list to stdout, one object per slice or failed file::

    {"path": str, "slice": int | null, "predicted_class": str | null,
     "probabilities": {class: float} | null, "ood": bool | null, "ood_score": float | null,
     "warnings": [str], "error": str | null, "cam": str | null}

``--jsonl`` prints the same objects one per line (JSON Lines), each as soon as it is final, so a
long folder's rows can be read while it is still being classified; the rows are in the same
order as ``--json``'s. On a terminal, a progress bar goes to stderr (never into the output).

``slice`` is the frame / series position for multi-slice inputs and null for single images;
a file that could not be read has ``error`` set and null results (slice and error rows are
:class:`trainer.prediction_row.PredictionRow`, the row the viewer's table export writes too;
``warnings`` holds each warning's text). Each row has a ``kind``:
``"slice"``, ``"error"``, or ``"series"`` for the row that follows the slice rows of each DICOM
series (:mod:`trainer.cli.series_rows`)::

    {"kind": "series", "path": folder, "slice": null, "series": "MR series 4 – T1 (24 slices)",
     "study": 1, "slices": 24, "counts": {class: int}, "unsure": int, "not_mri": int,
     "strongest": {class: {"slice": int, "probability": float}},
     "call": {"state": "class" | "unsure" | "not_mri", "predicted_class": str | null,
              "summary": str},
     "predicted_class": str | null, "probabilities": null, "ood": bool, ...}

``study`` numbers the studies in the order met (never a UID); the rule behind ``call`` is
:mod:`trainer.series_call`. ``--csv FILE`` writes the same rows, one column per class
probability (:mod:`trainer.prediction_table`). Exit status: 0 when every input was read,
1 when any failed or a folder held nothing to read (after processing all the others), 2 for a
usage or model-file error or when none of the paths exists (checked before the model loads).
Errors go to stderr, once each. An output that cannot be written (``--csv``, ``--cam-dir``) is
found before the model loads: one line, status 1. Ctrl-C or SIGTERM stop the walk; the rows
finished so far are still written (valid JSON or CSV), then the status is 130 or 143. In the
text output and on stderr, control characters in names are shown as escapes (``\\n``).

Inputs are decoded, predicted and dropped one slice at a time (``trainer.io.iter_slices``), so
memory does not grow with the number or size of the files. A file with more frames or pages
than ``BRAINMRI_MAX_FRAMES`` (default 1000) is refused with that reason. File names that are
not valid UTF-8 are written back byte for byte (``surrogateescape``) in the CSV, and as
``\\udcXX`` escapes in the JSON and the text output.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trainer import NOT_FOR_CLINICAL_USE
from trainer.cam.spec import MAP_METHODS, MapSpec, parse_map_spec
from trainer.cli.stopping import Stopped, stop_on_signals
from trainer.names import printable


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="classify scans (images, DICOM files or folders)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (walked)")
    p.add_argument("--model", help="model file (default: the bundled default model)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print one JSON list to stdout")
    fmt.add_argument(
        "--jsonl",
        action="store_true",
        help="print one JSON object per line (JSON Lines), each as soon as it is ready",
    )
    fmt.add_argument("--csv", metavar="FILE", help="write a CSV table")
    p.add_argument("--cam-dir", metavar="DIR", help="write one heat-map overlay PNG per slice")
    p.add_argument(
        "--cam-method",
        type=_map_spec,
        default=None,
        metavar="MAP",
        help="heat map: method[@layer[+layer]][:contrast], methods "
        f"{', '.join(MAP_METHODS)} (default: the model's own map, the one the app draws)",
    )
    p.add_argument("--opacity", type=float, default=0.6, help="overlay opacity (0..1)")
    p.add_argument("--tta", action="store_true", help="average with a horizontally flipped copy")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=run)


def _map_spec(text: str) -> MapSpec:
    try:
        return parse_map_spec(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _cam_name(path: str, index: int | None, used: set[str]) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(path).name)
    base = stem + (f"_slice{index:03d}" if index is not None else "")
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
    # Paths first, the model second: a typo should not wait for a model to load.
    missing = [p for p in args.paths if not Path(p).exists()]
    for p in missing:
        print(f"brainmri: error: {printable(p)}: no such file or folder", file=sys.stderr)
    if len(missing) == len(args.paths):
        return 2
    _check_outputs(args)  # and a destination that cannot be written, before any work
    from trainer.cli.series_rows import SeriesRows
    from trainer.errors import UnreadableInputError
    from trainer.io import iter_groups
    from trainer.predict import PredictionRow, Predictor

    if hasattr(sys.stdout, "reconfigure"):  # a file name that is not UTF-8: \udcff, no crash
        sys.stdout.reconfigure(errors="backslashreplace")
    predictor = Predictor(args.model, args.device, tta=args.tta)
    series = SeriesRows(predictor.classes)
    stream = series.track(iter_groups([p for p in args.paths if p not in missing]))
    errors: list[UnreadableInputError] = []
    rows: list[dict[str, Any]] = []
    cam_dir = Path(args.cam_dir) if args.cam_dir else None
    used: set[str] = set()
    stopped: Stopped | None = None
    lines = _JsonLines() if args.jsonl else None
    try:  # Ctrl-C or SIGTERM: stop here, and write the rows finished so far
        with stop_on_signals():
            for result, slc in _progress(_results(predictor, stream, cam_dir is not None)):
                if lines is not None:
                    lines.write(rows)  # the rows finished before this result
                rows += series.before(result)
                if isinstance(result, UnreadableInputError):
                    errors.append(result)
                    continue
                cam = None
                if cam_dir is not None:
                    name = _cam_name(result.path, result.slice, used)
                    cam = str(_write_cam(predictor, slc, args, cam_dir / name))
                row = PredictionRow.of(result, cam=cam).to_json()
                rows.append(row)
                series.add(row)
    except Stopped as exc:
        stopped = exc
    if stopped is None:  # a stopped walk has not finished its folders: none is "empty"
        rows += series.finish()  # (nor has it finished its last series)
        seen = [r["path"] for r in rows] + [str(e.path) for e in errors]
        errors = [*errors, *_missing_and_empty(args.paths, seen)]
    said = [UnreadableInputError(p, "no such file or folder") for p in missing]
    rows += [PredictionRow.failed(str(e.path), e.reason).to_json() for e in [*errors, *said]]
    if lines is not None:
        lines.write(rows)
    _emit(rows, predictor.classes, args)
    for e in errors:  # once, on stderr (the missing paths were said before the model loaded)
        print(f"brainmri: error: {printable(e)}", file=sys.stderr)
    if stopped is not None:
        print(
            f"brainmri: stopped ({stopped}); the {len(rows)} rows finished are written",
            file=sys.stderr,
        )
        return stopped.exit_code
    return 1 if errors or said else 0


def _check_outputs(args: argparse.Namespace) -> None:
    """Raise the OSError a write of ``--csv`` or ``--cam-dir`` would raise, now."""
    from trainer.atomic import check_writable

    if args.csv:
        check_writable(args.csv)
    if args.cam_dir:
        check_writable(args.cam_dir, folder=True)


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


def _progress(results: Iterator[tuple[Any, Any]]) -> Iterator[tuple[Any, Any]]:
    """``results`` with a progress bar on stderr when it is a terminal: a folder of 5,000
    slices took minutes in silence. Shown after a second (one image shows none), cleared at
    the end; a log file or a pipe gets nothing."""
    if not sys.stderr.isatty():
        yield from results
        return
    from tqdm import tqdm

    with tqdm(
        results, desc="classifying", unit="slice", file=sys.stderr, delay=1.0, leave=False
    ) as bar:
        yield from bar


class _JsonLines:
    """``--jsonl``: each row on stdout as one strict JSON line as soon as it is final, so a
    consumer reads a long folder's rows while later ones are still being classified."""

    def __init__(self) -> None:
        self.written = 0

    def write(self, rows: list[dict[str, Any]]) -> None:
        from trainer.jsontext import json_text

        for row in rows[self.written :]:
            sys.stdout.write(json_text(row, indent=None) + "\n")
        self.written = len(rows)
        sys.stdout.flush()


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
    if args.jsonl:
        return  # written as they were made (_JsonLines)
    if args.json:  # strict JSON: a NaN would make the whole list unreadable to a parser
        from trainer.jsontext import json_text

        sys.stdout.write(json_text(rows) + "\n")
        return
    if args.csv:
        from trainer.atomic import write_bytes
        from trainer.prediction_table import prediction_csv

        # surrogateescape: a file name that is not UTF-8 goes back to its own bytes
        table = prediction_csv(rows, classes)
        write_bytes(args.csv, table.encode("utf-8", "surrogateescape"))
        print(f"wrote {len(rows)} rows to {args.csv}")
        return
    from trainer.series_call import CLASS, slice_call

    for r in rows:
        # a name with a newline must not print a line that looks like a result
        where = printable(r["path"]) + (f" [slice {r['slice']}]" if r["slice"] is not None else "")
        if r["error"]:
            continue  # said once, on stderr (run() prints every error there)
        if r.get("kind") == "series":
            print(printable(f"{where} [{r['series']}]: {r['call']['summary']}"))
        else:  # the state first, as every face shows it (trainer.series_call)
            call = slice_call(r)
            probs = sorted(r["probabilities"].items(), key=lambda kv: -kv[1])
            listed = probs[1:] if call.state == CLASS else probs
            others = ", ".join(f"{c} {p:.1%}" for c, p in listed)
            print(printable(f"{where}: {call.headline()} ({others})"))
        for w in r["warnings"]:
            print(f"    warning: {printable(w)}")
    print(NOT_FOR_CLINICAL_USE)
