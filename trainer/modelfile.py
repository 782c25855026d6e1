"""Model files: safetensors weights plus one JSON metadata string.

Opening a model file never executes code (no pickle): the tensors are raw arrays, and the
architecture is rebuilt from the metadata by name through timm. The metadata carries
everything needed to use the model right — classes, input size, the preprocessing version,
normalisation, calibration temperature, the out-of-distribution statistics' threshold — and
everything needed to trust it: metrics, the data fingerprint, the recipe, the version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainer import __version__
from trainer.atomic import atomic_path
from trainer.errors import ModelFileError
from trainer.model import BrainTumorClassifier, HeadConfig, build_model
from trainer.ood import OODModel
from trainer.preprocess import PREPROCESS_VERSION

FORMAT = "brainmri-model"
FORMAT_VERSION = 1
META_KEY = "brainmri"
REQUIRED = ("backbone", "classes", "input_size", "mean", "std", "preprocess")


@dataclass
class LoadedModel:
    model: BrainTumorClassifier
    meta: dict[str, Any]
    ood: OODModel | None
    path: Path

    @property
    def classes(self) -> list[str]:
        return list(self.meta["classes"])

    @property
    def input_size(self) -> int:
        return int(self.meta["input_size"])

    @property
    def temperature(self) -> float:
        return float(self.meta.get("temperature", 1.0))


def base_metadata(
    backbone: str,
    classes: list[str],
    input_size: int,
    head: HeadConfig,
    mean: tuple[float, ...],
    std: tuple[float, ...],
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "backbone": backbone,
        "classes": list(classes),
        "input_size": int(input_size),
        "channels": 3,
        "preprocess": PREPROCESS_VERSION,
        "mean": list(mean),
        "std": list(std),
        "head": head.to_dict(),
        "temperature": 1.0,
    }


def save_model_file(
    path: str | Path,
    model: BrainTumorClassifier,
    meta: dict[str, Any],
    ood: OODModel | None = None,
    half: bool = False,
) -> Path:
    """Write atomically. ``half`` stores floating tensors as float16 (shipping size: B3 ≈ 22 MB)."""
    from safetensors.torch import save_file

    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise ModelFileError(f"model metadata lacks {missing}")
    tensors: dict[str, torch.Tensor] = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu()
        if half and v.is_floating_point():
            v = v.half()
        tensors[f"model.{k}"] = v.contiguous()
    meta = dict(meta)
    if ood is not None:
        tensors["ood.means"] = torch.from_numpy(np.ascontiguousarray(ood.means, dtype=np.float32))
        tensors["ood.precision"] = torch.from_numpy(
            np.ascontiguousarray(ood.precision, dtype=np.float32)
        )
        meta["ood"] = {"method": "mahalanobis-embedding", "threshold": ood.threshold}
    meta["dtype"] = "float16" if half else "float32"
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(meta, default=_plain)})
    return path


def _plain(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata alone (``brainmri info``), without reading the tensors."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:
        with safe_open(str(path), framework="pt") as fh:
            raw = (fh.metadata() or {}).get(META_KEY)
    except Exception as exc:  # safetensors raises its own error types for non-safetensors files
        raise ModelFileError(
            f"{path}: not a safetensors model file ({type(exc).__name__}); brainmri only loads "
            ".safetensors files it wrote, never pickles"
        ) from None
    if raw is None:
        raise ModelFileError(f"{path}: a safetensors file, but without brainmri metadata")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{path}: its metadata is not valid JSON ({exc})") from None
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{path}: metadata format {meta.get('format')!r} is not {FORMAT!r}")
    if int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: written by a newer brainmri (format {meta['format_version']}); upgrade"
        )
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise ModelFileError(f"{path}: metadata lacks {missing}")
    return meta


def load_model_file(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild the architecture from metadata, load weights as float32, eval mode."""
    from safetensors.torch import load_file

    path = Path(path)
    meta = read_metadata(path)
    tensors = load_file(str(path))
    # Built on the meta device: no memory, no time, and above all no draw from torch's global
    # random generator, which a training run in another thread relies on for reproducibility.
    with torch.device("meta"):
        model = build_model(meta["backbone"], len(meta["classes"]), HeadConfig(**meta["head"]))
    state = {
        k.removeprefix("model."): (v.float() if v.is_floating_point() else v)
        for k, v in tensors.items()
        if k.startswith("model.")
    }
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise ModelFileError(f"{path}: weights do not fit {meta['backbone']}: {exc}") from None
    ood = None
    if "ood" in meta and "ood.means" in tensors:
        ood = OODModel(
            tensors["ood.means"].float().numpy(),
            tensors["ood.precision"].float().numpy(),
            float(meta["ood"]["threshold"]),
        )
    model.eval().to(device)
    return LoadedModel(model, meta, ood, path)
