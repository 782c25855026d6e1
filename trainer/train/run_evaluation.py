"""A finished run evaluated again: its model file on its own split of its data folder.

For runs whose folder has no predictions file (made before the trainer wrote one): the app's
gallery of misclassified test images shows :meth:`EvalResult.prediction_rows` of
:func:`evaluate_run_steps`. The evaluation is :mod:`trainer.evaluation`'s one pipeline, with
what the model file fixes (:func:`trainer.evaluation.calibrated_by`); the split is the one the
run's recipe makes (:func:`trainer.train.run_data.split_for`).
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

from trainer.data.sources import FileSource
from trainer.device import resolve_device
from trainer.errors import RunFolderError
from trainer.evaluation import (
    EvalProgress,
    EvalResult,
    calibrated_by,
    check_classes,
    drained,
    evaluate_steps,
)
from trainer.modelfile import load_model_file
from trainer.train.run_folder import RunFolder

__all__ = ["evaluate_run", "evaluate_run_steps"]


def evaluate_run_steps(
    run_dir: str | Path | RunFolder,
    split: str = "test",
    *,
    data: str | Path | None = None,
    device: str = "cpu",
    batch_size: int = 32,
    workers: int = 0,
    report_every: int = 0,
) -> Generator[EvalProgress, None, EvalResult]:
    """A finished run's model file on its own split of its data folder (or of ``data``, the
    same data set somewhere else), as :func:`trainer.evaluation.evaluate_steps`. For runs
    whose folder has no predictions file (made before the trainer wrote one); the rows are
    :meth:`EvalResult.prediction_rows`. :class:`RunFolderError` when the recipe fails its
    checks or the run was trained from a cache without a data folder."""
    from trainer.data.discovery import discover
    from trainer.train.run_data import split_for

    folder = run_dir if isinstance(run_dir, RunFolder) else RunFolder(run_dir)
    cfg = folder.config()  # checked: a run folder is untrusted input
    root = data or cfg.data
    if not root:
        raise RunFolderError(f"{folder.path}: trained from a cache, without a data folder")
    dev = resolve_device(device)
    loaded = load_model_file(folder.model_path, dev)
    index = discover(root)
    check_classes(index, loaded)
    source = FileSource(split_for(cfg, index).part(split), loaded.input_size, workers)
    try:
        return (
            yield from evaluate_steps(
                loaded.model,
                source,
                loaded.classes,
                device=dev,
                **calibrated_by(loaded),
                split=split,
                batch_size=batch_size,
                report_every=report_every,
            )
        )
    finally:
        source.close()


evaluate_run = drained(evaluate_run_steps)
evaluate_run.__doc__ = "A finished run on its split: :func:`evaluate_run_steps` run to its end."
