"""The inference engine the CLI and the viewer share.

A :class:`Predictor` applies exactly the training preprocessing recorded in the model file
(grey, pad to square, resize, quantise, normalise with the stored mean/std), divides the
logits by the calibrated temperature, and scores every input for "is this a brain MRI at
all?" before anyone reads its class probabilities.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from trainer import backend
from trainer.assets import default_model_path
from trainer.errors import ModelFileError, UnreadableInputError
from trainer.graph_cache import (
    ModelHeader,
    OrtGraph,
    bundle_dir,
    export_bundle,
    file_digest,
    onnxruntime_available,
    read_bundle,
)
from trainer.io.guard import guarded
from trainer.metrics import softmax
from trainer.prediction_row import Prediction, PredictionRow, PredictionWarning
from trainer.preprocess import normalize_batch, normalize_squares, to_model_square
from trainer.series_call import LOW_CONFIDENCE  # one threshold for every face

# torch, timm and the model file's tensors load when PyTorch runs the model or draws a map:
# with ONNX Runtime chosen and its graph cached, classifying needs none of them
# (trainer.backend; docs/results.md, "Start-up").
if TYPE_CHECKING:
    import torch

    from trainer.cam.spec import MapSpec
    from trainer.model import BrainTumorClassifier
    from trainer.model_facts import ModelMeta
    from trainer.modelfile import LoadedModel

# The results' types live in trainer.prediction_row (plain Python: the viewer and the report
# read them without this engine); named here too, where callers have always found them.
__all__ = ["Prediction", "PredictionRow", "PredictionWarning", "Predictor", "resolve_model_path"]

SMALL_IMAGE = 128


@dataclass(frozen=True)
class _Prepared:
    """What a prediction needs of a slice once its pixels are reduced to the model's square."""

    path: str
    index: int | None
    shape: tuple[int, ...]
    meta: dict[str, str]
    square: np.ndarray  # uint8 (S, S)


def resolve_model_path(model: str | Path | None) -> Path:
    """The model to use: the given file, or the bundled default with a clear message if absent."""
    if model:
        return Path(model)
    path = default_model_path()
    if not path.is_file():
        raise ModelFileError(
            f"no model given and no default model installed at {path}; pass --model "
            "RUN/model.safetensors (train one with `brainmri train`)"
        )
    return path


class Predictor:
    """Thread-safe for one caller at a time per instance (a lock guards the model)."""

    def __init__(
        self,
        model: str | Path | None = None,
        device: str = "auto",
        tta: bool = False,
        batch_size: int = 8,  # on a CPU as fast as 16, and ~180 MB less at the peak
    ) -> None:
        self.tta = tta
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()  # the PyTorch model, loaded on first need
        self._cam_engines: dict[str, Any] = {}  # engines hold no hooks between calls: reuse
        self._device_name = device
        self._device: torch.device | None = None
        self._loaded: LoadedModel | None = None
        self._graph: OrtGraph | None = None
        self._fast_head: Any = None  # trainer.cam.fast.Head, read on the first fast map
        # The last squares' feature maps from their prediction's forward pass (ONNX Runtime
        # graphs with ``map_features``), so that their default heat map does not run the
        # graph again: keyed by the square's digest, guarded by ``_lock``.
        self._map_features: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self.channels_last = False
        self.backend = backend.TORCH
        self._path = resolve_model_path(model)
        self._header: ModelHeader | LoadedModel = self._choose_backend(self._path)

    def _choose_backend(self, path: Path) -> ModelHeader | LoadedModel:
        """Set :attr:`backend` to the engine that classifies fastest here (trainer.backend:
        forced, remembered, or measured now and remembered), and return the model's header.

        Every engine gives the same answers; only the speed differs. A cached ONNX Runtime
        choice with its graph returns before torch is imported; otherwise the model file is
        loaded into PyTorch (the map needs it later anyway)."""
        ort_ok = onnxruntime_available() and self._device_name in ("auto", "cpu")
        digest = file_digest(path)
        choice = backend.forced() or backend.recorded(digest, self._device_name)
        if choice == backend.ONNXRUNTIME and not ort_ok:
            choice = backend.TORCH
        if choice == backend.ONNXRUNTIME:
            header = read_bundle(digest, path)
            if header is not None:
                self._graph = OrtGraph(bundle_dir(digest))
                self.backend = choice
                return header
        loaded = self.loaded
        graph = None
        if ort_ok and choice in (None, backend.ONNXRUNTIME):
            graph = self._exported_graph(digest)
        if choice is None:
            candidates = {backend.TORCH: self._torch_candidate(False)}
            if self.device.type in ("cpu", "cuda"):  # channels-last has no gain on MPS
                candidates[backend.CHANNELS_LAST] = self._torch_candidate(True)
            if graph is not None:
                candidates[backend.ONNXRUNTIME] = lambda: graph
            choice, ms = backend.calibrate(candidates, loaded.input_size)
            backend.record(digest, self._device_name, choice, ms)
        if choice == backend.ONNXRUNTIME and graph is not None:
            self._graph = graph
        elif choice == backend.ONNXRUNTIME:
            choice = backend.TORCH
        self._set_channels_last(choice == backend.CHANNELS_LAST)
        self.backend = choice
        return loaded

    def _exported_graph(self, digest: str) -> OrtGraph | None:
        """The cached graph of this model file, exported now if absent; None when it cannot be
        (a read-only cache, an operator the exporter lacks): PyTorch classifies then."""
        try:
            if read_bundle(digest, self._path) is None:
                export_bundle(self.loaded, digest)
            return OrtGraph(bundle_dir(digest))
        except Exception:  # any failure of the optional engine leaves the PyTorch one
            return None

    def _torch_candidate(self, channels_last: bool) -> backend.Candidate:
        def make() -> Any:
            import torch

            from trainer.inference import forward

            self._set_channels_last(channels_last)
            model, device = self.model, self.device
            return lambda x: forward(model, torch.from_numpy(x).to(device), None, channels_last)

        return make

    def _set_channels_last(self, on: bool) -> None:
        import torch

        self.channels_last = on
        fmt = torch.channels_last if on else torch.contiguous_format
        self.loaded.model.to(memory_format=fmt)

    @property
    def device(self) -> torch.device:
        """Where PyTorch runs the model (and the map); ONNX Runtime runs on the CPU."""
        if self._device is None:
            from trainer.device import resolve_device

            self._device = resolve_device(self._device_name)
        return self._device

    def describe_device(self) -> str:
        """Where the model runs, in words; without importing torch when ONNX Runtime runs it
        (the app's status bar asks on the GUI thread: torch's import takes seconds)."""
        if self._graph is not None:
            return "CPU (ONNX Runtime)"
        from trainer.device import describe_device

        return describe_device(self.device)

    @property
    def loaded(self) -> LoadedModel:
        """The model file in PyTorch, loaded on first use (with ONNX Runtime classifying,
        only a heat map needs it)."""
        with self._load_lock:
            if self._loaded is None:
                from trainer.modelfile import load_model_file

                self._loaded = load_model_file(self._path, self.device)
            return self._loaded

    # -- facts about the model -------------------------------------------------------
    @property
    def model(self) -> BrainTumorClassifier:
        return self.loaded.model

    @property
    def classes(self) -> list[str]:
        return self._header.classes

    @property
    def info(self) -> ModelMeta:
        """The model file's metadata, checked and typed: what code reads of it."""
        return self._header.info

    @property
    def meta(self) -> dict[str, Any]:
        """The model file's metadata object as the file holds it, for the formats that copy
        it whole; code that reads a field reads :attr:`info`."""
        return self._header.meta

    @property
    def input_size(self) -> int:
        return self._header.input_size

    def describe(self) -> str:
        info = self.info
        acc = info.test_accuracy
        shown = f", test accuracy {acc:.1%}" if acc is not None else ""
        return f"{info.name if info.name is not None else self._path.stem} ({info.backbone}{shown})"

    # -- preprocessing ----------------------------------------------------------------
    def to_input(self, grey01: np.ndarray) -> torch.Tensor:
        """(1, 3, S, S) normalised tensor on the device, exactly as in training."""
        import torch

        square = torch.from_numpy(to_model_square(grey01, self.input_size))
        return normalize_batch(square[None].to(self.device), self.info.mean, self.info.std)

    # -- prediction -------------------------------------------------------------------
    def predict_arrays(self, greys: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """Calibrated probabilities (N, C) and OOD scores (N,) for grey images in [0, 1]."""
        probs, scores = [], []
        for start in range(0, len(greys), self.batch_size):
            chunk = greys[start : start + self.batch_size]
            p, s = self._classify([to_model_square(g, self.input_size) for g in chunk])
            probs.append(p)
            if s is not None:
                scores.append(s)
        c = len(self.classes)
        p_all = np.concatenate(probs) if probs else np.zeros((0, c))
        return p_all, (np.concatenate(scores) if scores else None)

    def _batch(self, squares: Sequence[np.ndarray]) -> torch.Tensor:
        """uint8 model squares -> (N, 3, S, S) normalised tensor on the device."""
        import torch

        x = torch.from_numpy(np.stack(squares)).to(self.device)
        return normalize_batch(x, self.info.mean, self.info.std)

    def _classify(self, squares: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """Calibrated probabilities and OOD scores of uint8 model squares, by :attr:`backend`."""
        if self._graph is None:
            return self._forward(self._batch(squares))
        x = normalize_squares(np.stack(squares), self.info.mean, self.info.std)
        with self._lock:
            if self._graph.has_map_features:
                logits, features, maps = self._graph.with_map_features(x)
                for square, one in zip(squares, maps, strict=True):
                    self._keep_map_features(square, one[None])
            else:
                logits, features = self._graph(x)
            flipped = self._graph(np.ascontiguousarray(x[..., ::-1]))[0] if self.tta else None
        return self._scores(logits, features, flipped)

    MAP_FEATURES_KEPT = 16  # squares whose feature map is kept (a batch of 8 and the last one)

    @staticmethod
    def _square_key(square: np.ndarray) -> bytes:
        digest = hashlib.blake2b(np.ascontiguousarray(square).tobytes(), digest_size=16)
        digest.update(repr(square.shape).encode())
        return digest.digest()

    def _keep_map_features(self, square: np.ndarray, maps: np.ndarray) -> None:
        """Remember one square's feature map (1, C, h, w); the caller holds ``_lock``."""
        key = self._square_key(square)
        kept = np.array(maps, copy=True)  # not a view of the whole batch
        kept.flags.writeable = False
        self._map_features[key] = kept
        self._map_features.move_to_end(key)
        while len(self._map_features) > self.MAP_FEATURES_KEPT:
            self._map_features.popitem(last=False)

    def _forward(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`_classify` in PyTorch, for a normalised batch on the device."""
        import torch

        from trainer.inference import forward

        with self._lock:
            logits, emb = forward(self.model, x, channels_last=self.channels_last)
            flipped = None
            if self.tta:
                flipped = forward(self.model, torch.flip(x, dims=[3]), None, self.channels_last)[0]
        return self._scores(
            logits.cpu().numpy(),
            emb.float().cpu().numpy(),
            None if flipped is None else flipped.cpu().numpy(),
        )

    def _scores(
        self, logits: np.ndarray, features: np.ndarray, flipped: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(probabilities at the calibrated temperature, averaged with the flipped copy's
        under TTA; OOD scores) — the same arithmetic whichever engine ran the model."""
        t = self._header.temperature
        probs = softmax(logits, t)
        if flipped is not None:
            probs = (probs + softmax(flipped, t)) / 2
        ood = self._header.ood
        return probs, (ood.score(features) if ood is not None else None)

    def predict_slices(self, slices: Sequence[Any], window: Any = None) -> list[Prediction]:
        """Predict ScanSlices (from :mod:`trainer.io`), in batches; a slice that cannot be
        prepared raises its ``UnreadableInputError``."""
        out: list[Prediction] = []
        for result in self.predict_stream(slices, window):
            if isinstance(result, UnreadableInputError):
                raise result
            out.append(result)
        return out

    def predict_stream(
        self, items: Iterable[Any], window: Any = None
    ) -> Iterator[Prediction | UnreadableInputError]:
        """Predictions for a stream of ScanSlices and per-file errors (``trainer.io.iter_slices``),
        in the same order; errors pass through in their place.

        Why a stream: each slice is rendered, reduced to the model's small uint8 square and
        dropped before the next one is asked for, so a folder of 400-frame files or 100-MP
        pages never holds more than one full-size slice; the squares are batched.
        """
        batch: list[_Prepared] = []
        for item in items:
            if isinstance(item, UnreadableInputError):
                yield from self._run(batch)
                batch = []
                yield item
                continue
            try:
                with guarded(item.source, "image could not be prepared for the model"):
                    batch.append(self._prepare(item, window))
            except UnreadableInputError as exc:
                yield from self._run(batch)
                batch = []
                yield exc
            item = None  # the slice is no longer needed: let it go before the next is decoded
            if len(batch) >= self.batch_size:
                yield from self._run(batch)
                batch = []
        yield from self._run(batch)

    def _prepare(self, slc: Any, window: Any) -> _Prepared:
        grey = slc.render_u8(window)  # never a full-size float copy (a page may be 100 MP)
        square = to_model_square(grey, self.input_size)
        return _Prepared(str(slc.source), slc.index, grey.shape[:2], dict(slc.meta), square)

    def _run(self, batch: list[_Prepared]) -> Iterator[Prediction]:
        if not batch:
            return
        probs, scores = self._classify([b.square for b in batch])
        for i, b in enumerate(batch):
            score = None if scores is None else float(scores[i])
            yield self._prediction(b.path, b.index, b.shape, probs[i], score, b.meta)

    def _prediction(
        self,
        path: str,
        index: int | None,
        shape: tuple[int, ...],
        p: np.ndarray,
        score: float | None,
        meta: dict[str, str],
    ) -> Prediction:
        ood = self._header.ood
        is_ood = bool(ood is not None and score is not None and score > ood.threshold)
        warnings = []
        if is_ood:
            warnings.append(
                PredictionWarning(
                    PredictionWarning.OOD,
                    "this image does not look like the brain MRI slices the model was trained "
                    "on; the class probabilities are meaningless for it",
                )
            )
        h, w = shape[:2]
        if min(h, w) < SMALL_IMAGE:
            warnings.append(
                PredictionWarning(
                    PredictionWarning.SMALL_IMAGE,
                    f"small image ({w}×{h}); the model expects about "
                    f"{self.input_size}×{self.input_size}",
                )
            )
        modality = meta.get("Modality")
        if modality and modality not in ("MR", "OT"):
            warnings.append(
                PredictionWarning(
                    PredictionWarning.MODALITY,
                    f"DICOM modality is {modality}; the model was trained on MR only",
                )
            )
        if float(p.max()) < LOW_CONFIDENCE:
            warnings.append(
                PredictionWarning(
                    PredictionWarning.LOW_CONFIDENCE,
                    f"low confidence (top probability {p.max():.0%})",
                )
            )
        return Prediction(
            path,
            index,
            self.classes[int(p.argmax())],
            {c: round(float(v), 6) for c, v in zip(self.classes, p, strict=True)},
            is_ood,
            score,
            warnings,
        )

    # -- explanation ------------------------------------------------------------------
    @property
    def map_spec(self) -> MapSpec:
        """The heat map this model draws by default: the one its file records, else the
        product's default (:data:`trainer.cam.spec.DEFAULT_MAP`)."""
        from trainer.cam.spec import DEFAULT_MAP

        return self.info.cam or DEFAULT_MAP  # checked on load (trainer.modelfile)

    def square_probabilities(self, squares: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (N, C) for uint8 model squares (N, S, S)."""
        return self._classify(list(squares))[0]  # the fastest engine: occlusion runs 100

    def explain(
        self,
        grey01: np.ndarray,
        method: str | MapSpec | None = None,
        target_class: int | None = None,
    ) -> np.ndarray:
        """The heat map in [0, 1] at the ORIGINAL image's resolution.

        ``method``: None for this model's default map (:attr:`map_spec`: what the viewer, the
        PDF report and ``brainmri predict --cam-dir`` draw), or a :class:`MapSpec` or its text
        (``"gradcam"``, ``"layercam@blocks.5+bn2"``, ``"occlusion"``). ``target_class``:
        the class to explain, None for the predicted one."""
        from trainer.cam.fast import applies as fast_map_applies
        from trainer.cam.overlay import cam_to_original
        from trainer.cam.spec import MapSpec, parse_map_spec

        if method is None:
            spec = self.map_spec
        elif isinstance(method, MapSpec):
            spec = method
        else:
            spec = parse_map_spec(method)
        square = to_model_square(grey01, self.input_size)
        if self._graph is not None and self._graph.has_map_features and fast_map_applies(spec):
            return cam_to_original(self._fast_map(square, spec, target_class), *grey01.shape)
        if spec.method == "occlusion":
            from trainer.cam.occlusion import occlusion_map

            target = self._top_class(square) if target_class is None else target_class
            cam = occlusion_map(self.square_probabilities, square, target)
        else:
            if target_class is None and spec.target == "contrast":
                target_class = self._top_class(square)
            x = self._batch([square])
            with self._lock:
                engine = self._cam_engine(spec)
                cam = engine(x, None if target_class is None else [target_class])[0]
        return cam_to_original(cam, *grey01.shape)

    def _top_class(self, square: np.ndarray) -> int:
        """The predicted class of one uint8 model square."""
        return int(self.square_probabilities(square[None])[0].argmax())

    def _fast_map(self, square: np.ndarray, spec: MapSpec, target_class: int | None) -> np.ndarray:
        """:meth:`explain`'s Grad-CAM or Grad-CAM++ without PyTorch: the ONNX Runtime graph's
        last feature map and the head's weights (:mod:`trainer.cam.fast`; equal to the
        PyTorch path within 1e-3, tested)."""
        from trainer.cam.fast import Head, class_maps

        assert self._graph is not None
        with self._lock:
            if self._fast_head is None:
                eps = self.info.head.bn_eps
                self._fast_head = Head.from_model_file(self._path, eps)
            features = self._map_features.get(self._square_key(square))
            if features is None:  # not classified lately: run the graph for it
                x = normalize_squares(square[None], self.info.mean, self.info.std)
                features = self._graph.map_features(x)
                self._keep_map_features(square, features)
        targets = None if target_class is None else [target_class]
        size = (self.input_size, self.input_size)
        return class_maps(features, self._fast_head, spec.method, size, targets)[0]

    def _cam_engine(self, spec: MapSpec) -> Any:
        """A CamEngine per spec, kept: engines hold no hooks between calls."""
        from trainer.cam.maps import CamEngine

        key = str(spec)
        if key not in self._cam_engines:
            backbone = self.model.backbone
            try:
                layers = [backbone.get_submodule(name) for name in spec.layers] or None
            except AttributeError:
                raise ValueError(
                    f"this model has no layer {', '.join(spec.layers)} for the heat map {key}"
                ) from None
            contrast = None
            if spec.target == "contrast":
                if "notumor" not in self.classes:
                    raise ValueError("a contrastive heat map needs a 'notumor' class")
                contrast = self.classes.index("notumor")
            self._cam_engines[key] = CamEngine(self.model, spec.method, layers, contrast)
        return self._cam_engines[key]
