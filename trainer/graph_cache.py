"""The model as an ONNX Runtime graph, exported once per model file and kept in the user's cache.

Why: on the CPUs measured, ONNX Runtime runs these EfficientNets faster than eager PyTorch
(docs/results.md, "Inference speed"), and a process that finds the graph here classifies
without importing torch or timm at all — most of a one-image ``brainmri predict``. Whether it
is used on this machine is decided by :mod:`trainer.backend`.

The cache is keyed by the model file's SHA-256, so an edited or retrained file is never
answered by an old graph. Beside the graph lies everything a prediction needs from the model
file (its metadata, checked by :func:`trainer.modelfile.load_model_file` when the graph was
exported, and the out-of-distribution statistics); the metadata is written last, so a bundle
without it is incomplete and ignored. Deleting the cache costs one slower start.

torch is imported only to export (:func:`export_bundle`); reading a bundle and running the
graph need NumPy and onnxruntime alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from trainer.assets import user_cache_dir
from trainer.errors import ModelFileError
from trainer.model_facts import ModelFacts, ModelMeta
from trainer.ood import OODModel

if TYPE_CHECKING:
    from trainer.model import BrainTumorClassifier
    from trainer.modelfile import LoadedModel

GRAPH, META, OOD = "model.onnx", "meta.json", "ood.npz"
INPUT, LOGITS, FEATURES = "x", "logits", "features"
# The last feature map (N, C, h, w) that the global max pooling reads, a third output where the
# network has one: the heat map is computed from it without PyTorch (trainer.cam.fast).
MAP_FEATURES = "map_features"
OPSET = 17
# Part of the cache's key: a bundle of another layout is never read. 2: MAP_FEATURES added.
BUNDLE_FORMAT = 2


def onnxruntime_available() -> bool:
    """Whether the optional ``onnx`` extra is installed (``pip install brainmri[onnx]``)."""
    return importlib.util.find_spec("onnxruntime") is not None


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file, hex: the key of its cached graph (about 20 ms for the 10 MB default)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bundle_dir(digest: str) -> Path:
    return user_cache_dir() / "graphs" / f"v{BUNDLE_FORMAT}" / digest


@dataclass(frozen=True)
class ModelHeader(ModelFacts):
    """What a prediction needs of a model file besides the network: the same fields as
    :class:`trainer.modelfile.LoadedModel`, which the Predictor reads either from."""

    info: ModelMeta
    ood: OODModel | None
    path: Path


def read_bundle(digest: str, path: Path) -> ModelHeader | None:
    """The cached header of the model file with this digest, or None when the bundle is absent,
    incomplete or unreadable (then the file is loaded and exported again)."""
    folder = bundle_dir(digest)
    try:
        if not (folder / GRAPH).is_file():
            return None
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        ood = None
        if (folder / OOD).is_file():
            with np.load(folder / OOD) as z:
                ood = OODModel(z["means"], z["precision"], float(z["threshold"]))
        from trainer.modelfile import validate_metadata  # light: no torch, no timm

        info = validate_metadata(meta, path, check_backbone=False)  # checked when exported
    except (OSError, ValueError, KeyError, ModelFileError):
        return None
    return ModelHeader(info, ood, path)


def export_bundle(loaded: LoadedModel, digest: str) -> Path:
    """Export ``loaded`` (a checked model file) as a graph with a free batch dimension and two
    outputs, the logits and the features the OOD check scores, and a third, the last feature
    map, where :func:`trainer.cam.fast.map_layer` finds one; return the bundle folder."""
    import torch

    from trainer.atomic import atomic_open, atomic_path, write_json
    from trainer.cam.fast import map_layer

    folder = bundle_dir(digest)
    layer = map_layer(loaded.model)

    kept: list[torch.Tensor] = []  # the map layer's output, caught by a hook while tracing

    class Outputs(torch.nn.Module):
        def __init__(self, model: BrainTumorClassifier) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            kept.clear()
            logits, features = self.model.logits_and_ood_features(x)
            return (logits, features, *kept[-1:])

    size = loaded.input_size
    model = Outputs(loaded.model.eval())
    names = [LOGITS, FEATURES] + ([MAP_FEATURES] if layer is not None else [])
    # The TorchScript exporter (the dynamo one needs onnxscript, which is not a dependency);
    # its deprecation and tracer notices say nothing to a user.
    hook = None if layer is None else layer.register_forward_hook(lambda m, a, o: kept.append(o))
    with (
        atomic_path(folder / GRAPH, suffix=".onnx") as tmp,
        torch.no_grad(),
        warnings.catch_warnings(),
        _removed_after(hook),
    ):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.zeros(1, 3, size, size),),
            str(tmp),
            input_names=[INPUT],
            output_names=names,
            dynamic_axes={INPUT: {0: "n"}, **{name: {0: "n"} for name in names}},
            opset_version=OPSET,
            dynamo=False,
        )
    if loaded.ood is not None:
        with atomic_open(folder / OOD, "wb") as fh:
            ood = loaded.ood
            np.savez(fh, means=ood.means, precision=ood.precision, threshold=ood.threshold)
    write_json(folder / META, loaded.meta)  # last: its presence marks a complete bundle
    return folder


@contextlib.contextmanager
def _removed_after(hook: Any) -> Iterator[None]:
    try:
        yield
    finally:
        if hook is not None:
            hook.remove()


class OrtGraph:
    """A bundle's graph in an ONNX Runtime session on the CPU: ``graph(x)`` maps a normalised
    float32 batch (N, 3, S, S) to (logits, OOD features), both float32."""

    def __init__(self, folder: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: its notices are not the user's concern
        # No busy-waiting between runs: spinning threads took the two cores from the GUI, and
        # from PyTorch while the calibration timed it (20x slower, trainer.backend).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(folder / GRAPH), options, providers=["CPUExecutionProvider"]
        )

        self.has_map_features = MAP_FEATURES in {o.name for o in self.session.get_outputs()}

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits, features = self.session.run([LOGITS, FEATURES], {INPUT: x})
        return logits, features

    def map_features(self, x: np.ndarray) -> np.ndarray:
        """The last feature map (N, C, h, w) of a normalised batch (where
        :attr:`has_map_features`), for :mod:`trainer.cam.fast`."""
        return self.session.run([MAP_FEATURES], {INPUT: x})[0]

    def with_map_features(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(logits, OOD features, last feature map) of one forward pass (where
        :attr:`has_map_features`): the prediction keeps what its heat map will need."""
        logits, features, maps = self.session.run([LOGITS, FEATURES, MAP_FEATURES], {INPUT: x})
        return logits, features, maps
