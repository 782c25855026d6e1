"""Inference latency and throughput on the CPU, every execution path side by side, in one run.

    python benchmarks/inference.py [--model M] [--images DIR] [--repeats 30] [--skip-compile]

Rows:
* end to end at batch 1 (read + preprocess + model), and with Grad-CAM added — median and p95;
* the model alone at batch 1 (median, p95) and at batch 32 (images/s) for: eager, eager
  channels-last, ``torch.compile``, and ONNX Runtime on an exported copy of the model.
The "vs eager" column is each row's median time (or throughput) relative to eager.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from trainer.assets import samples_dir
from trainer.io import read_scan
from trainer.predict import Predictor


def timed(fn: Callable[[], object], repeats: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def p95(xs: list[float]) -> float:
    return float(np.percentile(xs, 95))


def onnx_session(model: torch.nn.Module, size: int) -> Callable[[np.ndarray], np.ndarray] | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    path = Path(tempfile.mkdtemp()) / "model.onnx"
    torch.onnx.export(
        model,
        (torch.rand(1, 3, size, size),),
        str(path),
        input_names=["x"],
        output_names=["logits"],
        dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}},
        dynamo=False,
    )
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: sess.run(None, {"x": x})[0]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", help="model file (default: the bundled default model)")
    ap.add_argument("--images", default=str(samples_dir()))
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--skip-compile", action="store_true")
    args = ap.parse_args()

    pred = Predictor(args.model, device="cpu")
    model, size = pred.model.eval(), pred.input_size
    files = sorted(p for p in Path(args.images).rglob("*") if p.is_file() and p.suffix != ".md")
    if not files:
        raise SystemExit(f"no images under {args.images}")
    k = iter(range(10**9))

    def end_to_end() -> None:
        scan = read_scan(files[next(k) % len(files)])
        pred.predict_slices(scan.slices)

    def with_cam() -> None:
        scan = read_scan(files[next(k) % len(files)])
        pred.predict_slices(scan.slices)
        pred.explain(scan.slices[0].render())

    rows: list[tuple[str, float, float, float]] = []  # name, median s, p95 s, images/s at 32
    e2e = timed(end_to_end, args.repeats)
    cam = timed(with_cam, max(5, args.repeats // 3))
    x1 = torch.rand(1, 3, size, size)
    x32 = torch.rand(32, 3, size, size)

    def run_variant(name: str, fn: Callable[[torch.Tensor], object], prep=lambda t: t) -> None:
        a, b = prep(x1), prep(x32)
        with torch.inference_mode():
            lat = timed(lambda: fn(a), args.repeats)
            thr = timed(lambda: fn(b), 3, warmup=1)
        rows.append((name, statistics.median(lat), p95(lat), 32 / statistics.median(thr)))

    run_variant("eager", model)
    cl = model.to(memory_format=torch.channels_last)
    run_variant(
        "eager channels-last", cl, lambda t: t.contiguous(memory_format=torch.channels_last)
    )
    model.to(memory_format=torch.contiguous_format)
    if not args.skip_compile:
        try:
            compiled = torch.compile(model)
            run_variant("torch.compile", compiled)
        except Exception as exc:  # no compiler toolchain etc.: say so, keep the other rows
            print(f"torch.compile unavailable: {type(exc).__name__}: {str(exc)[:120]}")
    ort_fn = onnx_session(model, size)
    if ort_fn is not None:
        run_variant("onnxruntime", ort_fn, lambda t: t.numpy())
    else:
        print("onnxruntime not installed (pip install brainmri[onnx]): row skipped")

    print(
        f"model {pred.describe()} at {size} px; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; {len(files)} images from {args.images}"
    )
    print(
        f"{'end to end (read + preprocess + model), batch 1':<52} median "
        f"{statistics.median(e2e) * 1e3:7.1f} ms   p95 {p95(e2e) * 1e3:7.1f} ms"
    )
    print(
        f"{'end to end + Grad-CAM, batch 1':<52} median "
        f"{statistics.median(cam) * 1e3:7.1f} ms   p95 {p95(cam) * 1e3:7.1f} ms"
    )
    print()
    print(
        f"{'model only':<22}{'median ms':>11}{'p95 ms':>9}{'vs eager':>10}"
        f"{'img/s @32':>11}{'vs eager':>10}"
    )
    base_lat, base_thr = rows[0][1], rows[0][3]
    for name, med, q95, thr in rows:
        print(
            f"{name:<22}{med * 1e3:>11.1f}{q95 * 1e3:>9.1f}{base_lat / med:>9.2f}x"
            f"{thr:>11.1f}{thr / base_thr:>9.2f}x"
        )


if __name__ == "__main__":
    main()
