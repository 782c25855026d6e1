"""Everything a training run needs to know about its data, from files or from a cache."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field

import torch

from trainer.config import TrainConfig
from trainer.data.discovery import DatasetIndex, Sample, discover
from trainer.data.sources import BatchSource, DecodePool, TensorSource
from trainer.data.splits import Split, make_split
from trainer.preprocess import IMAGENET_MEAN, IMAGENET_STD
from trainer.train.events import Event, FileSkipped, LogMessage, PhaseChanged


@dataclass
class RunData:
    index: DatasetIndex
    split: Split
    train: BatchSource
    val: BatchSource
    test: BatchSource
    mean: tuple[float, ...]
    std: tuple[float, ...]
    fingerprint: str
    skipped: list[tuple[str, str]] = field(default_factory=list)
    phash_of: dict[str, int] = field(default_factory=dict)  # from a cache; else computed later

    @property
    def classes(self) -> tuple[str, ...]:
        return self.index.classes

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        return self.split.counts(self.classes)

    def close(self) -> None:
        """Stop any decoding workers the sources hold (the run is over)."""
        for source in (self.train, self.val, self.test):
            source.close()


def backbone_normalization(backbone: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The mean/std the backbone's pretrained weights expect (timm's config), so that
    preprocessing comes from the model, not from constants scattered through the code."""
    import timm

    cfg = timm.get_pretrained_cfg(backbone)
    if cfg is None or cfg.mean is None:
        return IMAGENET_MEAN, IMAGENET_STD
    return tuple(cfg.mean), tuple(cfg.std)


def split_for(cfg: TrainConfig, index: DatasetIndex) -> Split:
    """The split a recipe defines over a data set (training, the wizard and the probe agree)."""
    return make_split(
        index,
        cfg.split,
        split_files=cfg.split_files or None,
        val_fraction=cfg.val_fraction,
        test_fraction=cfg.test_fraction,
        seed=cfg.seed,
        limit=cfg.limit_per_class,
    )


Norm = tuple[float, ...]  # a per-channel mean or standard deviation
#: A generator that reports progress as it goes and returns the :class:`RunData`.
Loading = Generator[Event, None, "RunData"]


def load_run_data(cfg: TrainConfig, device: torch.device, main: bool) -> Loading:
    """A generator (it reports progress) whose return value is the :class:`RunData`."""
    mean, std = backbone_normalization(cfg.backbone)
    if cfg.cache:
        return (yield from _from_cache(cfg, cfg.cache, device, main, mean, std))
    return (yield from _from_files(cfg, main, mean, std))


def _from_cache(
    cfg: TrainConfig, path: str, device: torch.device, main: bool, mean: Norm, std: Norm
) -> Loading:
    import hashlib

    from trainer.data.cache import load_cache

    yield PhaseChanged("preparing", f"decoding cache {path}")
    cache = load_cache(path, cfg.data or None)
    if cache.size != cfg.img_size:
        raise ValueError(
            f"{cfg.cache}: made at {cache.size} px but --img-size is {cfg.img_size}; "
            f"prepare a cache at {cfg.img_size} px or pass --img-size {cache.size}"
        )
    split = split_for(cfg, cache.index)
    row = {s.rel: i for i, s in enumerate(cache.index.samples)}
    keep_on = device if device.type == "cuda" else torch.device("cpu")

    def source(samples: tuple[Sample, ...]) -> TensorSource:
        idx = torch.tensor([row[s.rel] for s in samples], dtype=torch.long)
        return TensorSource(samples, cache.squares[idx]).to(keep_on)

    h = hashlib.sha256()
    for part in ("train", "val", "test"):
        for s in split.part(part):
            h.update(f"{part}\t{s.rel}\t".encode() + cache.squares[row[s.rel]].numpy().tobytes())
    if main and cache.index.skipped:
        for rel, reason in cache.index.skipped:
            yield LogMessage(f"skipped when the cache was made: {rel}: {reason}", "warning")
    phashes = dict(zip((s.rel for s in cache.index.samples), cache.meta["phash"], strict=True))
    return RunData(
        cache.index,
        split,
        source(split.train),
        source(split.val),
        source(split.test),
        mean,
        std,
        "cache-squares:" + h.hexdigest()[:16],
        list(cache.index.skipped),
        {rel: int(v, 16) for rel, v in phashes.items()},
    )


def _from_files(cfg: TrainConfig, main: bool, mean: Norm, std: Norm) -> Loading:
    from trainer.data.validation import fingerprint, inspect_files

    index = discover(cfg.data)
    split = split_for(cfg, index)
    every = split.train + split.val + split.test
    yield PhaseChanged("preparing", f"checking {len(every)} files")
    infos = inspect_files(every)
    bad = {i.rel: i.reason or "unreadable" for i in infos if not i.ok}
    if main:
        for rel, reason in bad.items():
            yield FileSkipped(rel, reason)
            yield LogMessage(f"skipped {index.root / rel}: {reason}", "warning")
    if bad:

        def good(samples: tuple[Sample, ...]) -> tuple[Sample, ...]:
            return tuple(s for s in samples if s.rel not in bad)

        split = Split(
            good(split.train), good(split.val), good(split.test), split.method, split.details
        )
    split_of = {s.rel: p for p in ("train", "val", "test") for s in split.part(p)}
    workers = cfg.workers if cfg.workers is not None else _default_workers()
    print_ = "files-sha256:" + fingerprint(infos, split_of)
    if cfg.in_memory:
        split, (train, val, test), failed = yield from _decode_into_memory(
            cfg, split, workers, main
        )
        bad.update(failed)
        return RunData(index, split, train, val, test, mean, std, print_, sorted(bad.items()))

    pool = DecodePool(cfg.img_size, workers)  # one set of workers for the three splits
    return RunData(
        index,
        split,
        pool.source(split.train),
        pool.source(split.val),
        pool.source(split.test),
        mean,
        std,
        print_,
        sorted(bad.items()),
    )


Sources = tuple[TensorSource, TensorSource, TensorSource]


def _decode_into_memory(
    cfg: TrainConfig, split: Split, workers: int, main: bool
) -> Generator[Event, None, tuple[Split, Sources, dict[str, str]]]:
    """Every image of the split decoded once into RAM (lossless: the same squares the file
    path gives); returns the split without files that failed now, its three sources and the
    failures."""
    import time

    from trainer.data.sources import decode_into_memory

    n = len(split.train) + len(split.val) + len(split.test)
    yield PhaseChanged("preparing", f"decoding {n} images into memory")
    t0 = time.monotonic()
    failed: dict[str, str] = {}
    parts: list[tuple[Sample, ...]] = []
    sources: list[TensorSource] = []
    with DecodePool(cfg.img_size, workers) as pool:
        # all three registered before the first pass, so one set of workers decodes them
        files = [pool.source(split.part(name)) for name in ("train", "val", "test")]
        for source in files:  # one tensor per split: no second copy of the data
            samples = source.samples
            squares, failed_at = decode_into_memory(source)
            failed.update((samples[i].rel, reason) for i, reason in failed_at.items())
            keep = [i for i in range(len(samples)) if i not in failed_at]
            kept = tuple(samples[i] for i in keep)
            parts.append(kept)
            sources.append(TensorSource(kept, squares if not failed_at else squares[keep]))
    seconds = time.monotonic() - t0
    if main:
        for rel, reason in failed.items():
            yield FileSkipped(rel, reason)
            yield LogMessage(f"skipped {rel}: {reason}", "warning")
        mib = sum(s.squares.numel() for s in sources) / 2**20
        yield LogMessage(
            f"decoded {n} images in {seconds:.1f} s "
            f"({n / max(seconds, 1e-9):.0f} images/s, {mib:.0f} MiB in memory)"
        )
    train, val, test = sources
    return (
        Split(parts[0], parts[1], parts[2], split.method, split.details),
        (train, val, test),
        failed,
    )


def _default_workers() -> int:
    import os

    return max(0, min(4, (os.cpu_count() or 1) - 1))
