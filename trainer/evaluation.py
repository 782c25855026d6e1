"""Evaluate a model file on a split of a data folder (or cache), exactly as training did."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainer.data.sources import BatchSource, FileSource, TensorSource, sequential_batches
from trainer.data.splits import Split, make_split
from trainer.device import resolve_device
from trainer.metrics import evaluate_logits
from trainer.modelfile import load_model_file


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
    from trainer.data.discovery import discover

    dev = resolve_device(device)
    loaded = load_model_file(model_path, dev)
    size = loaded.input_size
    if cache:
        from trainer.data.cache import load_cache

        c = load_cache(cache, data)
        if c.size != size:
            raise ValueError(f"{cache}: cache is {c.size} px, the model needs {size} px")
        index = c.index
    else:
        if data is None:
            raise ValueError("give a data folder or a cache")
        index = discover(data)
    if tuple(index.classes) != tuple(loaded.classes):
        raise ValueError(
            f"the model's classes {loaded.classes} differ from the data's {list(index.classes)}"
        )
    sp: Split = make_split(
        index,
        split_method,
        split_files=split_files,
        val_fraction=val_fraction,
        seed=seed,
        limit=limit,
    )
    samples = sp.part(split)
    if cache:
        row = {s.rel: i for i, s in enumerate(index.samples)}
        import torch

        source: BatchSource = TensorSource(
            samples, c.squares[torch.tensor([row[s.rel] for s in samples])]
        )
        skipped: list[tuple[str, str]] = []
    else:
        from trainer.data.validation import inspect_files

        infos = inspect_files(samples)
        skipped = [(i.rel, i.reason or "unreadable") for i in infos if not i.ok]
        bad = {rel for rel, _ in skipped}
        samples = tuple(s for s in samples if s.rel not in bad)
        source = FileSource(samples, size, workers)
    from trainer.inference import predict_source

    try:
        inference = predict_source(
            loaded.model,
            source,
            sequential_batches(len(samples), batch_size),
            dev,
            tuple(loaded.meta["mean"]),
            tuple(loaded.meta["std"]),
        )
    finally:
        source.close()
    # a file that broke after the up-front check is reported, never silently dropped
    skipped += [(samples[row].rel, reason) for row, reason in inference.failures]
    samples = tuple(s for s, ok in zip(samples, inference.ok, strict=True) if ok)
    logits, emb, labels = inference.valid()
    result = evaluate_logits(logits, labels, loaded.classes, loaded.temperature)
    result.update(model=str(model_path), split=split, skipped=skipped)
    if loaded.ood is not None and len(labels):
        result["ood_flagged"] = int(loaded.ood.is_ood(emb).sum())
    if dedup and split == "test" and len(labels):
        result["dedup"] = _dedup(
            sp,
            samples,
            logits,
            labels,
            loaded.classes,
            loaded.temperature,
            c.meta if cache else None,
        )
    return result


def _dedup(sp, samples, logits, labels, classes, temperature, cache_meta) -> dict[str, Any]:
    from trainer.data.duplicates import dedup_split_indices
    from trainer.data.splits import Split

    known = None
    if cache_meta is not None:
        rels = (r[0] for r in cache_meta["samples"])
        known = {rel: int(h, 16) for rel, h in zip(rels, cache_meta["phash"], strict=True)}
    # the test list as evaluated (unreadable files already dropped) against train + val
    keep = dedup_split_indices(Split(sp.train, sp.val, tuple(samples), sp.method), known)
    out = evaluate_logits(logits[keep], labels[keep], classes, temperature)
    out["paths"] = [samples[i].rel for i in keep]
    return out


__all__ = ["evaluate_model"]
