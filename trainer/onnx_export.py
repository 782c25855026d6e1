"""A model file as an ONNX graph for use outside the app (inference only).

Why here and not a second exporter: the graph is the one :mod:`trainer.graph_cache` already
exports for the app's own ONNX Runtime engine (same inputs, outputs and opset, exported once per
model file and kept in the user's cache); this module copies it to where the user wants it and
writes beside it, as JSON, what a program needs to use it the way the app does: the classes in
output order, the input size, the normalisation, the calibration temperature and the
preprocessing in words. Its logits equal the PyTorch model's (tested to 1e-4).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from trainer import NOT_FOR_CLINICAL_USE
from trainer.atomic import atomic_path, write_json
from trainer.graph_cache import (
    FEATURES,
    GRAPH,
    INPUT,
    LOGITS,
    MAP_FEATURES,
    OPSET,
    bundle_dir,
    export_bundle,
    file_digest,
    read_bundle,
)

__all__ = ["export_onnx", "onnx_sidecar"]

PREPROCESSING = (
    "one grey channel in [0, 1]; padded with black to a square, then resized to input_size × "
    "input_size; quantised to 8 bits; replicated to 3 channels; (x - mean) / std per channel; "
    "layout N × 3 × H × W, float32"
)


def onnx_sidecar(meta: dict[str, Any]) -> dict[str, Any]:
    """What to know to use the graph, from the model file's metadata."""
    return {
        "model": meta.get("name", ""),
        "backbone": meta.get("backbone"),
        "classes": list(meta["classes"]),
        "input_name": INPUT,
        "input_size": int(meta["input_size"]),
        "mean": list(meta["mean"]),
        "std": list(meta["std"]),
        "preprocessing": PREPROCESSING,
        "outputs": {
            LOGITS: "class scores; probabilities = softmax(logits / temperature)",
            FEATURES: "the features the app's 'is this an MRI?' check scores (may be ignored)",
        },
        "temperature": float(meta.get("temperature", 1.0)),
        "opset": OPSET,
        "notes": list(meta.get("notes", [])),
        "use": NOT_FOR_CLINICAL_USE,
    }


def export_onnx(model_path: str | Path, dest: str | Path) -> Path:
    """Write ``dest`` (the ONNX graph) and ``dest`` with ``.json`` (:func:`onnx_sidecar`);
    return ``dest``. The graph is exported on the CPU unless the cache already holds it.

    Raises:
        trainer.errors.ModelFileError: not a readable brainmri model file.
        OSError: the destination cannot be written.
    """
    from trainer.modelfile import load_model_file

    model_path, dest = Path(model_path), Path(dest)
    digest = file_digest(model_path)
    header = read_bundle(digest, model_path)
    if header is None:
        loaded = load_model_file(model_path, "cpu")
        export_bundle(loaded, digest)
        meta = dict(loaded.meta)
    else:
        meta = dict(header.meta)
    with atomic_path(dest, suffix=".onnx") as tmp:
        _copy_without_map_features(bundle_dir(digest) / GRAPH, tmp)
    write_json(dest.with_suffix(".json"), onnx_sidecar(meta))
    return dest


def _copy_without_map_features(src: Path, dst: Path) -> None:
    """The cached graph with the two documented outputs: the third, the last feature map that
    the app's heat map reads (:mod:`trainer.cam.fast`), is the app's own business."""
    import onnx

    model = onnx.load(str(src))
    kept = [o for o in model.graph.output if o.name != MAP_FEATURES]
    if len(kept) == len(model.graph.output):
        shutil.copyfile(src, dst)
        return
    del model.graph.output[:]
    model.graph.output.extend(kept)
    onnx.save(model, str(dst))
