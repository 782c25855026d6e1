"""Model files: safetensors weights plus one JSON metadata string.

Opening a model file never executes code (no pickle): the tensors are raw arrays, and the
architecture is rebuilt from the metadata by name through timm. The metadata carries
everything needed to use the model right — classes, input size, the preprocessing version,
normalisation, calibration temperature, the out-of-distribution statistics' threshold — and
everything needed to trust it: metrics, the data fingerprint, the recipe, the version.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from trainer import __version__
from trainer.atomic import atomic_path, write_bytes
from trainer.cam.spec import MapSpec
from trainer.config import HeadConfig
from trainer.errors import ModelFileError
from trainer.jsontext import json_text
from trainer.model_facts import ModelFacts, ModelMeta
from trainer.ood import OODModel
from trainer.preprocess import PREPROCESS_VERSION

if TYPE_CHECKING:  # torch and timm load with the weights: reading metadata needs neither
    import torch

    from trainer.model import BrainTumorClassifier

FORMAT = "brainmri-model"
FORMAT_VERSION = 1
META_KEY = "brainmri"
REQUIRED = ("backbone", "classes", "input_size", "mean", "std", "preprocess", "head")

#: Bounds of the metadata schema (:func:`validate_metadata`).
MIN_INPUT_SIZE, MAX_INPUT_SIZE = 32, 1024
MAX_CLASSES = 1000
MAX_METADATA_CHARS = 4_000_000  # the shipped model's metadata is about 5 kB
MAX_NESTING = 32  # JSON depth; the shipped model's is 4
# A timm architecture name and nothing else: no "hf-hub:" or "local-dir:" prefix, no path, no
# pretrained tag. Only such a name, when timm's registry knows it, is built (with
# pretrained=False), so opening a model file never makes timm touch the network or the disk.
_BACKBONE_NAME = re.compile(r"[a-z0-9_]{1,80}")
_OOD_FEATURE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+){0,3}")
_POOLS = ("max", "avg")


@dataclass
class LoadedModel(ModelFacts):
    """A model file in PyTorch: the network, its checked metadata (``info``; the object as the
    file holds it is ``meta``), the out-of-distribution statistics, where it was read from."""

    model: BrainTumorClassifier
    info: ModelMeta
    ood: OODModel | None
    path: Path


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
    import torch
    from safetensors.torch import save

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
        meta["ood"] = {
            "method": "mahalanobis-stage" if model.ood_layer else "mahalanobis-embedding",
            "feature": model.ood_layer,  # None: the head's embedding
            "threshold": ood.threshold,
        }
    meta["dtype"] = "float16" if half else "float32"
    path = Path(path)
    # Strict JSON: a metric that is NaN (an empty split) is written as null, never as a bare
    # NaN that parse_metadata (and every other JSON reader) refuses.
    raw = json_text(meta, indent=None)
    # Serialised in memory, then written by Python: a full disk is an OSError naming the file,
    # not a safetensors error without one.
    write_bytes(path, save(tensors, metadata={META_KEY: raw}))
    return path


def with_metadata(src: str | Path, dst: str | Path, updates: dict[str, Any]) -> Path:
    """Copy a model file with some metadata fields set (e.g. the heat map chosen for it and
    its measured scores, ``benchmarks/cam_localization.py --record``); the tensors are copied
    bit for bit (float16 stays float16). The result is validated before it is written, and
    written atomically, so ``dst`` may be ``src``."""
    from safetensors.torch import load_file, save_file

    meta = {**read_metadata(src), **updates}
    validate_metadata(meta, dst)
    tensors = load_file(str(src))
    raw = json.dumps(meta, default=_plain, allow_nan=False)
    with atomic_path(Path(dst)) as tmp:
        save_file(tensors, str(tmp), metadata={META_KEY: raw})
    return Path(dst)


def _plain(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def read_metadata(path: str | Path, check_backbone: bool = True) -> dict[str, Any]:
    """The metadata object as the file holds it (:attr:`ModelMeta.raw` of
    :func:`read_model_meta`), checked as that is: for the formats that copy it whole
    (``brainmri info --json``, :func:`with_metadata`). Code that reads a field reads
    :func:`read_model_meta`."""
    return read_model_meta(path, check_backbone).raw


def read_model_meta(path: str | Path, check_backbone: bool = True) -> ModelMeta:
    """The metadata alone (``brainmri info``, the app's model list), without reading the
    tensors, checked against the schema (:func:`validate_metadata`): a model file is
    untrusted input.

    ``check_backbone=False`` leaves out one check, that timm knows the backbone's name (its
    form is still checked): it imports timm and torch, seconds that listing model files at the
    app's start should not cost; :func:`load_model_file` always checks it."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:
        with safe_open(str(path), framework="numpy") as fh:  # "pt" would import torch
            raw = (fh.metadata() or {}).get(META_KEY)
    except Exception as exc:  # safetensors raises its own error types for non-safetensors files
        raise ModelFileError(
            f"{path}: not a safetensors model file ({type(exc).__name__}); brainmri only loads "
            ".safetensors files it wrote, never pickles"
        ) from None
    if raw is None:
        raise ModelFileError(f"{path}: a safetensors file, but without brainmri metadata")
    return parse_model_meta(raw, path, check_backbone)


def parse_metadata(
    raw: str, path: str | Path = "model file", check_backbone: bool = True
) -> dict[str, Any]:
    """The metadata JSON string, parsed and validated: the object (:func:`parse_model_meta`'s
    ``raw``); :class:`ModelFileError` otherwise."""
    return parse_model_meta(raw, path, check_backbone).raw


def parse_model_meta(
    raw: str, path: str | Path = "model file", check_backbone: bool = True
) -> ModelMeta:
    """The metadata JSON string, parsed and validated; :class:`ModelFileError` otherwise."""
    if len(raw) > MAX_METADATA_CHARS:
        raise ModelFileError(f"{path}: its metadata is too large ({len(raw)} characters)")
    if _nesting(raw) > MAX_NESTING:
        raise ModelFileError(f"{path}: its metadata is nested deeper than {MAX_NESTING} levels")
    try:
        meta = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except _NotFinite:
        raise ModelFileError(
            f"{path}: its metadata is not strict JSON (it holds NaN or Infinity, which "
            "brainmri never writes); the file is damaged or was not made by brainmri"
        ) from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ModelFileError(f"{path}: its metadata is not valid JSON ({exc})") from None
    return validate_metadata(meta, path, check_backbone)


class _NotFinite(Exception):
    """A NaN or infinite number in metadata (Python's JSON reader accepts them)."""


def _refuse_constant(token: str) -> float:
    raise _NotFinite(token)  # "NaN", "Infinity", "-Infinity"


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 overflows to infinity
        raise _NotFinite(text)
    return value


def _nesting(raw: str) -> int:
    """Deepest bracket nesting of a JSON text, brackets inside strings ignored; counted before
    parsing because Python's JSON parser recurses (10,000 "[" raise RecursionError)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in raw:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def validate_metadata(
    meta: Any, path: str | Path = "model file", check_backbone: bool = True
) -> ModelMeta:
    """Check the schema: every field code uses has its type and a sane value. Why: the file is
    untrusted, and a value out of range does harm far from here (``input_size`` 40000 allocates
    gigabytes, ``temperature`` 0 prints NaN probabilities, a backbone "hf-hub:..." makes timm
    download code)."""

    def fail(message: str) -> ModelFileError:
        return ModelFileError(f"{path}: model metadata: {message}")

    if not isinstance(meta, dict):
        raise fail(f"must be a JSON object, not {_json_type(meta)}")
    if meta.get("format") != FORMAT:
        raise fail(f"format is not {FORMAT!r}")
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise fail(f"lacks {', '.join(missing)}")
    version = meta.get("format_version", FORMAT_VERSION)
    if not _is_int(version) or version < 1:
        raise fail("format_version must be a positive integer")
    if version > FORMAT_VERSION:
        raise fail(f"written by a newer brainmri (format {version}); upgrade")
    channels = meta.get("channels", 3)
    if channels != 3 or not _is_int(channels):
        raise fail("channels must be 3")
    head = _head(meta["head"], fail)
    ood = meta.get("ood")
    if ood is not None and not (isinstance(ood, dict) and _positive(ood.get("threshold"))):
        raise fail("ood must be an object with a finite, positive threshold")
    _optional_types(meta, fail)
    accuracy = meta.get("metrics", {}).get("test", {}).get("accuracy")
    return ModelMeta(
        format_version=int(version),
        backbone=_backbone(meta["backbone"], fail, check_backbone),
        classes=_classes(meta["classes"], fail),
        input_size=_input_size(meta["input_size"], fail),
        channels=3,
        preprocess=_short_text(meta["preprocess"], "preprocess", fail),
        mean=_floats(meta["mean"], "mean", channels, fail),
        std=_floats(meta["std"], "std", channels, fail, positive=True),
        head=head,
        temperature=_temperature(meta.get("temperature", 1.0), fail),
        ood_threshold=float(ood["threshold"]) if ood is not None else None,
        ood_feature=_ood_feature(ood, fail),
        cam=_cam(meta.get("cam"), fail),
        name=meta.get("name"),
        created=meta.get("created"),
        package_version=meta.get("package_version"),
        test_accuracy=None if accuracy is None else float(accuracy),
        raw=meta,
    )


def _cam(value: Any, fail: Any) -> MapSpec | None:
    if value is None:
        return None
    try:
        return MapSpec.from_json(value)
    except ValueError as exc:
        raise fail(f"cam: {exc}") from None


def _ood_feature(ood: Any, fail: Any) -> str | None:
    feature = ood.get("feature") if isinstance(ood, dict) else None
    if feature is None:
        return None
    if not isinstance(feature, str) or _OOD_FEATURE.fullmatch(feature) is None:
        raise fail("ood.feature must name a backbone stage such as 'blocks.4'")
    return feature


def _backbone(value: Any, fail: Any, known: bool = True) -> str:
    if not isinstance(value, str) or _BACKBONE_NAME.fullmatch(value) is None:
        raise fail("backbone must be a timm architecture name (letters, digits, underscores)")
    if not known:
        return value
    import timm

    if not timm.is_model(value):
        raise fail(f"backbone {value!r} is not an architecture this timm knows")
    return value


def _classes(value: Any, fail: Any) -> tuple[str, ...]:
    ok = isinstance(value, list) and 1 <= len(value) <= MAX_CLASSES
    ok = ok and all(isinstance(c, str) and 0 < len(c) <= 200 for c in value)
    if not ok or len(set(value)) != len(value):
        raise fail(f"classes must be a list of 1 to {MAX_CLASSES} distinct, non-empty names")
    return tuple(value)


def _input_size(value: Any, fail: Any) -> int:
    if not _is_int(value) or not MIN_INPUT_SIZE <= value <= MAX_INPUT_SIZE:
        raise fail(f"input_size must be an integer from {MIN_INPUT_SIZE} to {MAX_INPUT_SIZE}")
    return int(value)


def _floats(
    value: Any, name: str, length: int, fail: Any, positive: bool = False
) -> tuple[float, ...]:
    ok = isinstance(value, list) and len(value) == length
    ok = ok and all(_is_number(v) and math.isfinite(v) for v in value)
    if ok and positive:
        ok = all(v > 0 for v in value)
    if not ok:
        kind = "positive" if positive else "finite"
        raise fail(f"{name} must be a list of {length} {kind} numbers")
    return tuple(float(v) for v in value)


def _temperature(value: Any, fail: Any) -> float:
    if not _positive(value):
        raise fail("temperature must be a finite number > 0")
    return float(value)


def _head(value: Any, fail: Any) -> HeadConfig:
    if not isinstance(value, dict):
        raise fail("head must be an object")
    known = {f.name for f in fields(HeadConfig)}
    unknown, missing = sorted(set(value) - known), sorted(known - set(value))
    if unknown or missing:
        parts = ([f"unknown {', '.join(unknown)}"] if unknown else []) + (
            [f"missing {', '.join(missing)}"] if missing else []
        )
        raise fail(f"head keys: {'; '.join(parts)}")
    hidden, dropout = value["hidden"], value["dropout"]
    momentum, eps, pool = value["bn_momentum"], value["bn_eps"], value["global_pool"]
    if not _is_int(hidden) or not 1 <= hidden <= 16384:
        raise fail("head.hidden must be an integer from 1 to 16384")
    if not (_is_number(dropout) and 0 <= dropout < 1):
        raise fail("head.dropout must be a number in [0, 1)")
    if not (_is_number(momentum) and 0 <= momentum <= 1):
        raise fail("head.bn_momentum must be a number in [0, 1]")
    if not (_positive(eps) and eps < 1):
        raise fail("head.bn_eps must be a number in (0, 1)")
    if pool not in _POOLS:
        raise fail(f"head.global_pool must be one of {', '.join(_POOLS)}")
    return HeadConfig(int(hidden), float(dropout), float(momentum), float(eps), str(pool))


def _optional_types(meta: dict[str, Any], fail: Any) -> None:
    """Fields shown by ``info``, the app and the report: right type when present."""
    for key in ("name", "created", "package_version", "dtype", "not_for_clinical_use"):
        if key in meta and not isinstance(meta[key], str):
            raise fail(f"{key} must be a string")
    notes = meta.get("notes", [])
    if not (isinstance(notes, list) and all(isinstance(n, str) for n in notes)):
        raise fail("notes must be a list of strings")
    metrics = meta.get("metrics", {})
    if not isinstance(metrics, dict) or not isinstance(metrics.get("test", {}), dict):
        raise fail("metrics must be an object, and metrics.test too")
    test = metrics.get("test")
    accuracy = test.get("accuracy") if isinstance(test, dict) else None
    if accuracy is not None and not (_is_number(accuracy) and 0 <= accuracy <= 1):
        raise fail("metrics.test.accuracy must be a number in [0, 1]")


def _short_text(value: Any, name: str, fail: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 200:
        raise fail(f"{name} must be a short string")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive(value: Any) -> bool:
    return _is_number(value) and math.isfinite(value) and value > 0


def _json_type(value: Any) -> str:
    names = {list: "a list", str: "a string", int: "a number", float: "a number"}
    return names.get(type(value), "null" if value is None else type(value).__name__)


def load_model_file(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild the architecture from metadata, load weights as float32, eval mode."""
    import torch
    from safetensors.torch import load_file

    from trainer.model import build_model, ood_feature_width

    path = Path(path)
    schema = read_model_meta(path)
    try:
        tensors = load_file(str(path))
    except Exception as exc:  # a truncated or inconsistent tensor section
        raise ModelFileError(f"{path}: its tensors cannot be read ({type(exc).__name__})") from None
    # Built on the meta device: no memory, no time, and above all no draw from torch's global
    # random generator, which a training run in another thread relies on for reproducibility.
    with torch.device("meta"):
        model = build_model(schema.backbone, len(schema.classes), schema.head)
    state = {
        k.removeprefix("model."): (v.float() if v.is_floating_point() else v)
        for k, v in tensors.items()
        if k.startswith("model.")
    }
    broken = [k for k, v in state.items() if v.is_floating_point() and not v.isfinite().all()]
    if broken:
        # NaN or infinite weights give NaN probabilities that look like an answer
        raise ModelFileError(
            f"{path}: {len(broken)} of its weight tensors hold NaN or infinite values "
            f"(e.g. {broken[0]}); the file is damaged or the training diverged"
        )
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise ModelFileError(f"{path}: weights do not fit {schema.backbone}: {exc}") from None
    ood = None
    if schema.ood_threshold is not None and "ood.means" in tensors:
        try:
            model.set_ood_layer(schema.ood_feature)
            width = ood_feature_width(model, schema.ood_feature)
        except (AttributeError, ValueError):
            raise ModelFileError(
                f"{path}: its out-of-distribution feature {schema.ood_feature!r} is not a "
                f"stage of {schema.backbone}"
            ) from None
        ood = _ood(path, tensors, schema, width)
    model.eval().to(device)
    return LoadedModel(model, schema, ood, path)


def _ood(path: Path, tensors: dict[str, torch.Tensor], schema: ModelMeta, width: int) -> OODModel:
    """The OOD statistics, checked to fit the head: wrong shapes would fail at the first
    prediction, NaN would flag or pass everything silently."""
    import torch

    means, precision = tensors.get("ood.means"), tensors.get("ood.precision")
    if (
        means is None
        or precision is None
        or tuple(means.shape) != (len(schema.classes), width)
        or tuple(precision.shape) != (width, width)
        or not bool(torch.isfinite(means.float()).all())
        or not bool(torch.isfinite(precision.float()).all())
    ):
        raise ModelFileError(f"{path}: its out-of-distribution statistics do not fit the model")
    assert schema.ood_threshold is not None
    return OODModel(means.float().numpy(), precision.float().numpy(), schema.ood_threshold)
