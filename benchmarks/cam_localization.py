"""Does the heat map point at the tumour, and does the answer depend on it? Measured.

For a boxes file in the format of the data set's ``lesions/val_boxes.json`` (hand-marked
lesion boxes on validation-half tumour slices), and any list of heat-map variants
(``method[@layer[+layer]][:target]``, see ``trainer.cam.spec``), side by side in one run:

* per tumour class and over all three: the **pointing game** (the map's maximum within
  15 px at 224 px of a box), the map's **mass share** inside the boxes, the boxes' share of
  the brain and the **lift** (mass share over box share; 1.0 = a map flat on the brain), all
  slices and without the low-certainty boxes; and the **time per map** (median, batch 1);
* with ``--dependence``: whether the model's answer **depends on the lesion**: the drop in the
  class's calibrated probability when the lesion box(es) are filled with background, beside
  the drop for boxes of the same size placed elsewhere in the brain (3 random places per
  slice, seeded).

Choose on validation boxes only; the test half stays for reporting (the boxes' README).

    python benchmarks/cam_localization.py --data DATA \\
        --boxes DATA/lesions/val_boxes.json --dependence \\
        --variants gradcam layercam@blocks.5+bn2 gradcam:contrast occlusion

Research and education only — not for clinical use.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trainer.cam.localization import (
    BoxedSlice,
    MapScore,
    brain_mask,
    control_boxes,
    read_lesion_boxes,
    score_map,
    summarise,
)
from trainer.cam.occlusion import box_fill_drop
from trainer.cam.spec import parse_map_spec
from trainer.io import read_grey
from trainer.predict import Predictor
from trainer.preprocess import to_model_square

CONTROLS = 3  # same-sized boxes elsewhere in the brain, per slice


@dataclass
class VariantResult:
    name: str
    scores: dict[str, list[MapScore]] = field(default_factory=dict)  # class -> per slice
    certain: dict[str, list[MapScore]] = field(default_factory=dict)  # without "low"
    seconds: list[float] = field(default_factory=list)


@dataclass
class Dependence:
    lesion: dict[str, list[float]] = field(default_factory=dict)
    elsewhere: dict[str, list[float]] = field(default_factory=dict)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    slices = read_lesion_boxes(args.boxes)
    if args.limit:
        slices = _limit_per_class(slices, args.limit)
    predictor = Predictor(args.model, device="cpu")
    specs = [parse_map_spec(v) for v in args.variants] if args.variants else [predictor.map_spec]
    results = [VariantResult(str(s)) for s in specs]
    dependence = Dependence()
    rng = np.random.default_rng(args.seed)
    print(
        f"model: {predictor.describe()} · {len(slices)} boxed slices from {args.boxes}",
        file=sys.stderr,
    )
    for i, slc in enumerate(slices, 1):
        grey = read_grey(Path(args.data) / slc.path)
        target = predictor.classes.index(slc.label)
        h, w = grey.shape
        boxes = slc.pixel_boxes(h, w)
        brain = brain_mask(grey)
        for spec, result in zip(specs, results, strict=True):
            start = time.perf_counter()
            cam = predictor.explain(grey, spec, target_class=target)
            result.seconds.append(time.perf_counter() - start)
            score = score_map(cam, boxes, brain)
            result.scores.setdefault(slc.label, []).append(score)
            if slc.certainty != "low":
                result.certain.setdefault(slc.label, []).append(score)
        if args.dependence:
            _measure_dependence(predictor, grey, slc, target, rng, dependence)
        print(f"\r{i}/{len(slices)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    classes = sorted({s.label for s in slices})
    print(_table(results, classes))
    if args.dependence:
        print()
        print(_dependence_table(dependence, classes))
    if args.record:
        _record(predictor, specs[0], results[0], classes, len(slices), args)
    if args.json:
        Path(args.json).write_text(
            json.dumps(_as_json(results, dependence, classes, args), indent=2), encoding="utf-8"
        )
    return 0


def _measure_dependence(
    predictor: Predictor,
    grey: np.ndarray,
    slc: BoxedSlice,
    target: int,
    rng: np.random.Generator,
    out: Dependence,
) -> None:
    """Fill the lesion with background, and same-sized boxes elsewhere in the brain."""
    side = predictor.input_size
    square = to_model_square(grey, side)
    lesion = slc.square_boxes(*grey.shape, side)
    brain = brain_mask(square.astype(np.float32) / 255.0)
    controls = [control_boxes(brain, lesion, rng) for _ in range(CONTROLS)]
    placed = [c for c in controls if c is not None]
    drops = box_fill_drop(predictor.square_probabilities, square, target, [lesion, *placed])
    out.lesion.setdefault(slc.label, []).append(float(drops[0]))
    if placed:
        out.elsewhere.setdefault(slc.label, []).append(float(np.mean(drops[1:])))


def _limit_per_class(slices: list[BoxedSlice], n: int) -> list[BoxedSlice]:
    kept: dict[str, int] = {}
    out = []
    for s in slices:
        if kept.get(s.label, 0) < n:
            kept[s.label] = kept.get(s.label, 0) + 1
            out.append(s)
    return out


def _groups(per_class: dict[str, list[MapScore]], classes: list[str]) -> list[list[MapScore]]:
    return [per_class.get(c, []) for c in classes] + [
        [s for c in classes for s in per_class.get(c, [])]
    ]


def _table(results: list[VariantResult], classes: list[str]) -> str:
    head = ["variant", "slices", *[f"point {c}" for c in classes], "point all"]
    head += ["mass in box", "box/brain", "lift", "point (no low)", "lift (no low)", "ms/map"]
    rows = [head]
    for r in results:
        groups = [summarise(g) for g in _groups(r.scores, classes)]
        certain = summarise(_groups(r.certain, classes)[-1])
        total = groups[-1]
        rows.append(
            [
                r.name,
                str(total.n),
                *[_rate(g.pointing, g.n) for g in groups[:-1]],
                _rate(total.pointing, total.n),
                f"{total.mass_share:.3f}",
                f"{total.box_share:.3f}",
                f"{total.lift:.2f}x",
                _rate(certain.pointing, certain.n),
                f"{certain.lift:.2f}x",
                f"{statistics.median(r.seconds) * 1000:.0f}",
            ]
        )
    return _markdown(rows)


def _rate(value: float, n: int) -> str:
    return "n/a" if n == 0 or math.isnan(value) else f"{value:.2f} ({round(value * n)}/{n})"


def _dependence_table(dep: Dependence, classes: list[str]) -> str:
    rows = [["class", "slices", "drop: lesion filled", "drop: same box elsewhere", "ratio"]]
    for c in [*classes, "all"]:
        les = dep.lesion.get(c) if c != "all" else [x for k in classes for x in dep.lesion[k]]
        oth = (
            dep.elsewhere.get(c, [])
            if c != "all"
            else [x for k in classes for x in dep.elsewhere.get(k, [])]
        )
        if not les:
            continue
        a, b = float(np.mean(les)), (float(np.mean(oth)) if oth else float("nan"))
        ratio = a / b if b > 1e-6 else float("inf") if a > 0 else float("nan")
        rows.append([c, str(len(les)), f"{a:.3f}", f"{b:.3f}", f"{ratio:.1f}x"])
    return _markdown(rows)


def _markdown(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    lines.insert(1, "| " + " | ".join("-" * w for w in widths) + " |")
    return "\n".join(lines)


def _as_json(
    results: list[VariantResult], dep: Dependence, classes: list[str], args: argparse.Namespace
) -> dict[str, object]:
    out: dict[str, object] = {"boxes": str(args.boxes), "model": str(args.model), "variants": {}}
    for r in results:
        entry = {}
        for name, group in zip([*classes, "all"], _groups(r.scores, classes), strict=True):
            g = summarise(group)
            entry[name] = {
                "n": g.n,
                "pointing": g.pointing,
                "mass": g.mass_share,
                "box_share": g.box_share,
                "lift": g.lift,
            }
        certain = summarise(_groups(r.certain, classes)[-1])
        entry["all_without_low"] = {
            "n": certain.n,
            "pointing": certain.pointing,
            "lift": certain.lift,
        }
        entry["ms_per_map"] = statistics.median(r.seconds) * 1000
        out["variants"][r.name] = entry  # type: ignore[index]
    if dep.lesion:
        out["dependence"] = {
            c: {
                "lesion": float(np.mean(dep.lesion[c])),
                "elsewhere": float(np.mean(dep.elsewhere.get(c, [float("nan")]))),
            }
            for c in classes
            if c in dep.lesion
        }
    return out


def _record(
    predictor: Predictor,
    spec: object,
    result: VariantResult,
    classes: list[str],
    n_slices: int,
    args: argparse.Namespace,
) -> None:
    """Write the first variant and its per-class scores into a copy of the model file: the
    app then draws that map and quotes the scores (trainer.cam.record)."""
    from trainer.modelfile import with_metadata

    per_class = {}
    for name in classes:
        g = summarise(result.scores.get(name, []))
        per_class[name] = {"hits": round(g.pointing * g.n), "n": g.n, "lift": round(g.lift, 2)}
    updates = {
        "cam": parse_map_spec(str(spec)).to_json(),
        "cam_localization": {
            "boxes": args.record_boxes or f"{n_slices} validation slices with hand-marked boxes",
            "classes": per_class,
        },
    }
    out = with_metadata(predictor.loaded.path, args.record, updates)
    print(f"recorded {spec} and its scores in {out}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--boxes", required=True, help="lesion boxes (lesions/val_boxes.json format)")
    p.add_argument(
        "--data", required=True, help="the data set's root (the boxes' paths start there)"
    )
    p.add_argument("--model", help="model file (default: the shipped model)")
    p.add_argument("--variants", nargs="*", help="heat maps to compare (default: the model's own)")
    p.add_argument("--dependence", action="store_true", help="also fill the lesion and measure")
    p.add_argument("--limit", type=int, help="at most this many slices per class")
    p.add_argument("--seed", type=int, default=0, help="where the control boxes go")
    p.add_argument("--json", help="also write the numbers to this file")
    p.add_argument(
        "--record",
        metavar="MODEL_OUT",
        help="write the first variant and its scores into this copy of the model file",
    )
    p.add_argument("--record-boxes", help="how to name the boxes in the recorded sentence")
    return p


if __name__ == "__main__":
    sys.exit(main())
