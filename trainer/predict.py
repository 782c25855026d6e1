"""The inference engine the CLI and the viewer share.

A :class:`Predictor` applies exactly the training preprocessing recorded in the model file
(grey, pad to square, resize, quantise, normalise with the stored mean/std), divides the
logits by the calibrated temperature, and scores every input for "is this a brain MRI at
all?" before anyone reads its class probabilities.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainer.assets import default_model_path
from trainer.device import resolve_device
from trainer.errors import ModelFileError, UnreadableInputError
from trainer.inference import forward
from trainer.io.guard import guarded
from trainer.metrics import softmax
from trainer.modelfile import LoadedModel, load_model_file
from trainer.preprocess import normalize_batch, to_model_square

LOW_CONFIDENCE = 0.6
SMALL_IMAGE = 128


@dataclass
class Prediction:
    """One slice's result. ``to_json()`` is the stable, documented CLI format."""

    path: str
    slice: int | None
    predicted_class: str
    probabilities: dict[str, float]
    ood: bool
    ood_score: float | None
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "slice": self.slice,
            "predicted_class": self.predicted_class,
            "probabilities": self.probabilities,
            "ood": self.ood,
            "ood_score": self.ood_score,
            "warnings": self.warnings,
            "error": None,
        }


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
        self.device = resolve_device(device)
        self.loaded: LoadedModel = load_model_file(resolve_model_path(model), self.device)
        # Channels-last: the same answers (tests/test_predict.py), a third faster on a CPU
        # for EfficientNet's depthwise convolutions (benchmarks/inference.py).
        self.channels_last = self.device.type in ("cpu", "cuda")
        if self.channels_last:
            self.loaded.model.to(memory_format=torch.channels_last)
        self.tta = tta
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._cam_engines: dict[str, Any] = {}  # engines hold no hooks between calls: reuse

    # -- facts about the model -------------------------------------------------------
    @property
    def model(self) -> torch.nn.Module:
        return self.loaded.model

    @property
    def classes(self) -> list[str]:
        return self.loaded.classes

    @property
    def meta(self) -> dict[str, Any]:
        return self.loaded.meta

    @property
    def input_size(self) -> int:
        return self.loaded.input_size

    def describe(self) -> str:
        m = self.meta
        acc = (m.get("metrics") or {}).get("test") or {}
        shown = f", test accuracy {acc['accuracy']:.1%}" if acc.get("accuracy") is not None else ""
        return f"{m.get('name', self.loaded.path.stem)} ({m['backbone']}{shown})"

    # -- preprocessing ----------------------------------------------------------------
    def to_input(self, grey01: np.ndarray) -> torch.Tensor:
        """(1, 3, S, S) normalised tensor on the device, exactly as in training."""
        square = torch.from_numpy(to_model_square(grey01, self.input_size))
        return normalize_batch(square[None].to(self.device), self.meta["mean"], self.meta["std"])

    # -- prediction -------------------------------------------------------------------
    def predict_arrays(self, greys: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """Calibrated probabilities (N, C) and OOD scores (N,) for grey images in [0, 1]."""
        probs, scores = [], []
        for start in range(0, len(greys), self.batch_size):
            chunk = greys[start : start + self.batch_size]
            p, s = self._forward(self._batch([to_model_square(g, self.input_size) for g in chunk]))
            probs.append(p)
            if s is not None:
                scores.append(s)
        c = len(self.classes)
        p_all = np.concatenate(probs) if probs else np.zeros((0, c))
        return p_all, (np.concatenate(scores) if scores else None)

    def _batch(self, squares: Sequence[np.ndarray]) -> torch.Tensor:
        """uint8 model squares -> (N, 3, S, S) normalised tensor on the device."""
        x = torch.from_numpy(np.stack(squares)).to(self.device)
        return normalize_batch(x, self.meta["mean"], self.meta["std"])

    def _forward(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        t = self.loaded.temperature
        with self._lock:
            logits, emb = forward(self.model, x, channels_last=self.channels_last)
            probs = softmax(logits.cpu().numpy(), t)
            if self.tta:
                flipped, _ = forward(self.model, torch.flip(x, dims=[3]), None, self.channels_last)
                probs = (probs + softmax(flipped.cpu().numpy(), t)) / 2
        ood = self.loaded.ood
        scores = ood.score(emb.float().cpu().numpy()) if ood is not None else None
        return probs, scores

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
        probs, scores = self._forward(self._batch([b.square for b in batch]))
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
        ood = self.loaded.ood
        is_ood = bool(ood is not None and score is not None and score > ood.threshold)
        warnings = []
        if is_ood:
            warnings.append(
                "this image does not look like the brain MRI slices the model was trained on; "
                "the class probabilities are meaningless for it"
            )
        h, w = shape[:2]
        if min(h, w) < SMALL_IMAGE:
            warnings.append(
                f"small image ({w}×{h}); the model expects about "
                f"{self.input_size}×{self.input_size}"
            )
        modality = meta.get("Modality")
        if modality and modality not in ("MR", "OT"):
            warnings.append(f"DICOM modality is {modality}; the model was trained on MR only")
        if float(p.max()) < LOW_CONFIDENCE:
            warnings.append(f"low confidence (top probability {p.max():.0%})")
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
    def explain(
        self, grey01: np.ndarray, method: str = "gradcam", target_class: int | None = None
    ) -> np.ndarray:
        """Grad-CAM-family map in [0, 1] at the ORIGINAL image's resolution."""
        from trainer.cam import CamEngine, cam_to_original

        x = self.to_input(grey01)
        with self._lock:
            if method not in self._cam_engines:
                self._cam_engines[method] = CamEngine(self.model, method)
            cam = self._cam_engines[method](x, None if target_class is None else [target_class])[0]
        return cam_to_original(cam, *grey01.shape)
