"""One evaluation pipeline: a model on a split, row by row, then metrics, OOD and de-dup.

The end of a training run (:mod:`trainer.train.finalize`), ``brainmri evaluate``
(:func:`evaluate_model`) and the app's gallery of misclassified test images
(:func:`trainer.train.run_evaluation.evaluate_run_steps`) all go through :func:`evaluate`, so
what they report is computed one way: the model's forward pass over the split in order
(:mod:`trainer.inference`), every row kept and a file that could not be read marked, not
dropped; the metrics of the rows read (:func:`trainer.metrics.evaluate_logits`) at a
temperature given or fitted on these rows; the count the OOD check flags; the metrics of the
de-duplicated test list.

:func:`evaluate_steps` is the same as a generator that reports progress between groups of
batches (a face that shows a progress bar, or may give up half-way), returning the result.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import numpy as np

from trainer.data.discovery import DatasetIndex, Sample
from trainer.data.sources import BatchSource, FileSource, TensorSource, sequential_batches
from trainer.data.splits import Split, make_split
from trainer.device import resolve_device
from trainer.inference import Inference, predict_source
from trainer.metrics import evaluate_logits, softmax
from trainer.modelfile import LoadedModel, load_model_file
from trainer.prediction_row import FAILED, RunPrediction

if TYPE_CHECKING:
    import torch

    from trainer.model import BrainTumorClassifier
    from trainer.ood import OODModel

__all__ = [
    "DedupRows",
    "EvalProgress",
    "EvalResult",
    "calibrated_by",
    "check_classes",
    "drained",
    "evaluate",
    "evaluate_model",
    "evaluate_steps",
]

#: Which rows of a split to keep in the de-duplicated test list: given the split's samples
#: and which rows were read, the row indices (rows read only).
DedupRows = Callable[[Sequence[Sample], np.ndarray], Sequence[int]]

_P = ParamSpec("_P")
_R = TypeVar("_R")


@dataclass(frozen=True)
class EvalProgress:
    """Rows of the split predicted so far, of ``total``."""

    done: int
    total: int


@dataclass(frozen=True)
class EvalResult:
    """A split evaluated: every row in the split's order (a file that could not be read is
    marked in :attr:`inference`, never dropped), and what was computed from the rows read."""

    split: str
    classes: tuple[str, ...]
    samples: tuple[Sample, ...]  # the rows, in order
    inference: Inference  # logits, embeddings, labels and which rows were read
    temperature: float  # the one the metrics and probabilities use
    metrics: dict[str, Any]  # trainer.metrics.evaluate_logits of the rows read
    ood_flagged: int | None = None  # None: no OOD model, or no row read
    dedup: dict[str, Any] | None = None  # the de-duplicated list's metrics, with "paths"

    @property
    def failures(self) -> list[tuple[str, str]]:
        """(relative path, reason) of each row whose file could not be read."""
        return [(self.samples[row].rel, reason) for row, reason in self.inference.failures]

    def probabilities(self) -> np.ndarray:
        """Calibrated probabilities (N, C), one row per sample; zeros where a row failed."""
        inf = self.inference
        probs = np.zeros((len(inf.labels), len(self.classes)))
        if inf.ok.any():
            probs[inf.ok] = softmax(inf.logits[inf.ok], self.temperature)
        return probs

    def prediction_rows(self) -> list[RunPrediction]:
        """One row per sample, as the run's predictions file holds them
        (:meth:`trainer.train.run_folder.RunFolder.write_predictions`)."""
        classes = self.classes
        reasons = dict(self.inference.failures)
        rows = []
        for row, (sample, y, p) in enumerate(
            zip(self.samples, self.inference.labels, self.probabilities(), strict=True)
        ):
            true = classes[int(y)]
            if row in reasons:
                rows.append(RunPrediction(str(sample.path), true, FAILED, {}, reasons[row]))
                continue
            probs = {c: float(v) for c, v in zip(classes, p, strict=True)}
            rows.append(RunPrediction(str(sample.path), true, classes[int(p.argmax())], probs))
        return rows


def drained(steps: Callable[_P, Generator[Any, None, _R]]) -> Callable[_P, _R]:
    """The function that runs the generator ``steps`` to its end and returns its value."""

    @functools.wraps(steps)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        gen = steps(*args, **kwargs)
        while True:
            try:
                next(gen)
            except StopIteration as stop:
                return stop.value

    return run


def evaluate_steps(
    model: BrainTumorClassifier,
    source: BatchSource,
    classes: Sequence[str],
    *,
    device: torch.device,
    mean: Sequence[float],
    std: Sequence[float],
    split: str = "test",
    batch_size: int = 32,
    temperature: float | None = 1.0,
    ood: OODModel | None = None,
    dedup: DedupRows | None = None,
    on_dedup_error: Callable[[Exception], None] | None = None,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    report_every: int = 0,
) -> Generator[EvalProgress, None, EvalResult]:
    """Evaluate ``model`` on every row of ``source`` (in order, batches of ``batch_size``).

    ``temperature`` None fits one on these rows (temperature scaling on the validation
    split); ``ood`` counts the rows it flags; ``dedup`` chooses the rows of the
    de-duplicated test list, whose metrics come with their ``paths`` (an exception it raises
    goes to ``on_dedup_error`` when given, and the result then has no de-duplicated list).
    With ``report_every`` > 0 an :class:`EvalProgress` is yielded after every that many
    batches; otherwise nothing is yielded."""
    samples = tuple(source.samples)
    batches = sequential_batches(len(source), batch_size)
    step = report_every if report_every > 0 else max(len(batches), 1)
    groups = [batches[i : i + step] for i in range(0, len(batches), step)] or [[]]
    parts, done = [], 0
    for group in groups:
        parts.append(
            predict_source(model, source, group, device, mean, std, amp_dtype, channels_last)
        )
        done += sum(len(b) for b in group)
        if report_every > 0:
            yield EvalProgress(done, len(samples))
    inference = _joined(parts)
    logits, emb, labels = inference.valid()
    if temperature is None:
        from trainer.calibration import fit_temperature

        temperature = fit_temperature(logits, labels)
    metrics = evaluate_logits(logits, labels, classes, temperature)
    flagged = int(ood.is_ood(emb).sum()) if ood is not None and len(labels) else None
    dedup_metrics = None
    if dedup is not None and len(labels):
        try:
            keep = list(dedup(samples, inference.ok))
            dedup_metrics = evaluate_logits(
                inference.logits[keep], inference.labels[keep], classes, temperature
            )
            dedup_metrics["paths"] = [samples[i].rel for i in keep]
        except Exception as exc:  # a report extra: the caller may choose to go on without it
            if on_dedup_error is None:
                raise
            on_dedup_error(exc)
    return EvalResult(
        split, tuple(classes), samples, inference, temperature, metrics, flagged, dedup_metrics
    )


evaluate = drained(evaluate_steps)
evaluate.__doc__ = "Evaluate a model on a split: :func:`evaluate_steps` run to its end."


def _joined(parts: list[Inference]) -> Inference:
    """One :class:`Inference` of consecutive groups of rows (failures name source rows)."""
    if len(parts) == 1:
        return parts[0]
    return Inference(
        np.concatenate([p.logits for p in parts]),
        np.concatenate([p.embeddings for p in parts]),
        np.concatenate([p.labels for p in parts]),
        np.concatenate([p.ok for p in parts]),
        tuple(f for p in parts for f in p.failures),
    )


# --------------------------------------------------------------------------- model files


def check_classes(index: DatasetIndex, loaded: LoadedModel) -> None:
    """ValueError when the data set's classes are not the model's, in the model's order."""
    if tuple(index.classes) != tuple(loaded.classes):
        raise ValueError(
            f"the model's classes {loaded.classes} differ from the data's {list(index.classes)}"
        )


def _dedup_rows(split: Split, cache_meta: dict[str, Any] | None) -> DedupRows:
    """The test rows without a near-twin in ``split``'s training or validation images, among
    the rows read (the test list as evaluated, unreadable files left out); the hashes a cache
    holds are used, not computed again."""

    def rows(samples: Sequence[Sample], ok: np.ndarray) -> list[int]:
        from trainer.data.duplicates import dedup_split_indices

        known = None
        if cache_meta is not None:
            rels = (r[0] for r in cache_meta["samples"])
            phashes = cache_meta["phash"]
            known = {rel: int(h, 16) for rel, h in zip(rels, phashes, strict=True)}
        read = [i for i in range(len(samples)) if ok[i]]
        evaluated = Split(split.train, split.val, tuple(samples[i] for i in read), split.method)
        return [read[k] for k in dedup_split_indices(evaluated, known)]

    return rows


def evaluate_model(
    model_path: str | Path,
    data: str | Path | None = None,
    split: str = "test",
    cache: str | Path | None = None,
    split_method: str = "paper",
    split_files: dict[str, str] | None = None,
    val_fraction: float | None = None,
    seed: int = 0,
    limit: int | None = None,
    device: str = "auto",
    batch_size: int = 32,
    dedup: bool = True,
    workers: int = 2,
) -> dict[str, Any]:
    """``brainmri evaluate``: a model file on a split of a data folder (or cache), exactly as
    training evaluated it. The metrics, then ``model``, ``split``, ``skipped`` (files left
    out: unreadable ones), ``ood_flagged`` and ``dedup`` (the test split's de-duplicated
    list)."""
    from trainer.data.discovery import discover

    dev = resolve_device(device)
    loaded = load_model_file(model_path, dev)
    size = loaded.input_size
    cache_meta: dict[str, Any] | None = None
    if cache:
        from trainer.data.cache import load_cache

        c = load_cache(cache, data)
        if c.size != size:
            raise ValueError(f"{cache}: cache is {c.size} px, the model needs {size} px")
        index, cache_meta = c.index, c.meta
    else:
        if data is None:
            raise ValueError("give a data folder or a cache")
        index = discover(data)
    check_classes(index, loaded)
    sp = make_split(
        index,
        split_method,
        split_files=split_files,
        val_fraction=val_fraction,
        seed=seed,
        limit=limit,
    )
    samples = sp.part(split)
    source: BatchSource
    skipped: list[tuple[str, str]] = []
    if cache:
        import torch

        row = {s.rel: i for i, s in enumerate(index.samples)}
        source = TensorSource(samples, c.squares[torch.tensor([row[s.rel] for s in samples])])
    else:
        from trainer.data.validation import inspect_files

        infos = inspect_files(samples)
        skipped = [(i.rel, i.reason or "unreadable") for i in infos if not i.ok]
        bad = {rel for rel, _ in skipped}
        source = FileSource(tuple(s for s in samples if s.rel not in bad), size, workers)
    try:
        result = evaluate(
            loaded.model,
            source,
            loaded.classes,
            device=dev,
            **calibrated_by(loaded),
            split=split,
            batch_size=batch_size,
            dedup=_dedup_rows(sp, cache_meta) if dedup and split == "test" else None,
        )
    finally:
        source.close()
    # a file that broke after the up-front check is reported, never silently dropped
    out = {
        **result.metrics,
        "model": str(model_path),
        "split": split,
        "skipped": skipped + result.failures,
    }
    if result.ood_flagged is not None:
        out["ood_flagged"] = result.ood_flagged
    if result.dedup is not None:
        out["dedup"] = result.dedup
    return out


def calibrated_by(loaded: LoadedModel) -> dict[str, Any]:
    """What a model file fixes of an evaluation: its normalisation, its temperature and its
    out-of-distribution statistics (a finished model is evaluated as the app uses it)."""
    return {
        "mean": loaded.info.mean,
        "std": loaded.info.std,
        "temperature": loaded.temperature,
        "ood": loaded.ood,
    }
