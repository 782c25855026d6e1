"""Train / validation / test splits.

``paper`` reproduces the split files shipped with the public data set bit for bit: the
Testing folder's relative POSIX paths, sorted by code point, permuted with
``numpy.random.default_rng(42).permutation``; the first ``n // 2`` are validation, the rest
test (655 / 656 of 1311). The whole Training folder trains. It needs a Testing folder
(:func:`has_testing_folder`); where there is none, checking a data set and the app fall back
to a stratified split of :data:`DEFAULT_VAL_FRACTION` (:func:`applicable_method`), while
training refuses.

:class:`SplitSpec` is a split as a person chooses it (the app's data page), in
:func:`make_split`'s terms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trainer.data.discovery import TESTING_DIR, TRAINING_DIR, DatasetIndex, Sample
from trainer.errors import DatasetError
from trainer.vocab import SplitMethod

SPLIT_NAMES = ("train", "val", "test")
PAPER_SEED = 42
#: The validation fraction of a stratified split when none is given (and the test fraction
#: too, where there is no Testing folder).
DEFAULT_VAL_FRACTION = 0.15


def has_testing_folder(index: DatasetIndex) -> bool:
    """Whether ``index`` has a Testing folder with images in it: the paper split needs one."""
    return index.layout == "train-test" and bool(index.in_folder(TESTING_DIR))


def applicable_method(
    index: DatasetIndex,
    method: str,
    *,
    split_files: Mapping[str, str | Path] | None = None,
    val_fraction: float | None = None,
) -> str:
    """``method``, unless it is the paper split (no files, no fraction given) of a folder
    without a Testing folder: then "fraction", a stratified split of
    :data:`DEFAULT_VAL_FRACTION`. Checking a data set must work on any folder of class
    sub-folders, so it uses this; training asks :func:`make_split` directly, which refuses."""
    if method == "paper" and not split_files and val_fraction is None:
        return method if has_testing_folder(index) else "fraction"
    return method


@dataclass(frozen=True)
class SplitSpec:
    """A split as a person chooses it (the app's data page), in :func:`make_split`'s terms:
    ``method`` is one of :data:`trainer.vocab.SPLIT_METHODS`; ``val_fraction`` None means
    :data:`DEFAULT_VAL_FRACTION`; ``split_files`` maps "train"/"val"/"test" to list files."""

    method: SplitMethod = "paper"
    val_fraction: float | None = None
    split_files: Mapping[str, str] = field(default_factory=dict)

    def config_values(self) -> dict[str, Any]:
        """The :class:`~trainer.config.TrainConfig` fields this split sets."""
        if self.method == "files":
            return {"split": "files", "split_files": dict(self.split_files), "val_fraction": None}
        if self.method == "fraction":
            fraction = self.val_fraction or DEFAULT_VAL_FRACTION
            return {"split": "fraction", "split_files": {}, "val_fraction": fraction}
        return {"split": "paper", "split_files": {}, "val_fraction": None}

    def applied_to(self, index: DatasetIndex) -> SplitSpec:
        """The split that applies to ``index`` (:func:`applicable_method`): this one, or a
        stratified one of the default fraction where the paper's needs a missing Testing
        folder."""
        method = applicable_method(
            index, self.method, split_files=self.split_files, val_fraction=self.val_fraction
        )
        return self if method == self.method else SplitSpec("fraction")


@dataclass(frozen=True)
class Split:
    train: tuple[Sample, ...]
    val: tuple[Sample, ...]
    test: tuple[Sample, ...]
    method: str
    details: dict[str, object] = field(default_factory=dict)

    def part(self, name: str) -> tuple[Sample, ...]:
        if name == "all":
            return self.train + self.val + self.test
        if name not in SPLIT_NAMES:
            raise ValueError(f"unknown split {name!r}; choose from {(*SPLIT_NAMES, 'all')}")
        return getattr(self, name)

    def counts(self, classes: Sequence[str]) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for name in SPLIT_NAMES:
            per = dict.fromkeys(classes, 0)
            for s in self.part(name):
                per[classes[s.label]] += 1
            out[name] = per
        return out


def paper_halves(rel_paths: Sequence[str], seed: int = PAPER_SEED) -> tuple[list[str], list[str]]:
    """The paper's protocol on any list of paths: (validation half, test half)."""
    ordered = sorted(rel_paths)
    perm = np.random.default_rng(seed).permutation(len(ordered))
    shuffled = [ordered[i] for i in perm]
    half = len(ordered) // 2
    return shuffled[:half], shuffled[half:]


def paper_split(index: DatasetIndex) -> Split:
    if not has_testing_folder(index):
        raise DatasetError(
            f"{index.root}: the paper split needs {TRAINING_DIR}/ and {TESTING_DIR}/ folders; "
            "use --val-fraction (stratified) or --split-file for other layouts"
        )
    testing = {s.rel: s for s in index.in_folder(TESTING_DIR)}
    val_rel, test_rel = paper_halves(list(testing))
    return Split(
        train=tuple(index.in_folder(TRAINING_DIR)),
        val=tuple(sorted((testing[r] for r in val_rel), key=lambda s: s.rel)),
        test=tuple(sorted((testing[r] for r in test_rel), key=lambda s: s.rel)),
        method="paper",
        details={"seed": PAPER_SEED, "source": f"{TESTING_DIR} halves"},
    )


def fraction_split(
    index: DatasetIndex, val_fraction: float, test_fraction: float | None = None, seed: int = 0
) -> Split:
    """Stratified split of the Training folder (or a flat folder): per class, shuffle, cut.

    When a Testing folder exists and ``test_fraction`` is None, it stays the test set.
    """
    test_fraction = (
        test_fraction
        if test_fraction is not None
        else (0.0 if has_testing_folder(index) else val_fraction)
    )
    if not 0 < val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise DatasetError(
            f"fractions must leave something to train on (val {val_fraction}, test {test_fraction})"
        )
    pool = index.in_folder(TRAINING_DIR) if index.layout == "train-test" else list(index.samples)
    rng = np.random.default_rng(seed)
    train, val, test = [], [], []
    for label in range(len(index.classes)):
        members = sorted((s for s in pool if s.label == label), key=lambda s: s.rel)
        order = rng.permutation(len(members))
        n_val = round(val_fraction * len(members))
        n_test = round(test_fraction * len(members))
        picked = [members[i] for i in order]
        val += picked[:n_val]
        test += picked[n_val : n_val + n_test]
        train += picked[n_val + n_test :]
    if has_testing_folder(index) and test_fraction == 0:
        test = index.in_folder(TESTING_DIR)
    return Split(
        _by_path(train),
        _by_path(val),
        _by_path(test),
        method="fraction",
        details={"val_fraction": val_fraction, "test_fraction": test_fraction, "seed": seed},
    )


def _by_path(samples: Sequence[Sample]) -> tuple[Sample, ...]:
    return tuple(sorted(samples, key=lambda s: s.rel))


def read_list_file(path: str | Path) -> list[str]:
    """One relative POSIX path per line; blank lines and ``#`` comments ignored."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def file_split(index: DatasetIndex, files: Mapping[str, str | Path]) -> Split:
    """Explicit lists: ``files`` maps split name -> list file. ``train`` defaults to every
    Training (or flat) image not listed for val or test."""
    unknown = set(files) - set(SPLIT_NAMES)
    if unknown:
        raise DatasetError(f"unknown split names {sorted(unknown)}; use {SPLIT_NAMES}")
    by_rel = {s.rel: s for s in index.samples}
    parts: dict[str, list[Sample]] = {}
    for name, list_path in files.items():
        rels = read_list_file(list_path)
        missing = [r for r in rels if r not in by_rel]
        if missing:
            more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
            raise DatasetError(
                f"{list_path}: {len(missing)} listed files are not in {index.root}: "
                f"{', '.join(missing[:5])}{more}"
            )
        parts[name] = sorted((by_rel[r] for r in rels), key=lambda s: s.rel)
    if "train" not in parts:
        taken = {s.rel for p in parts.values() for s in p}
        pool = index.in_folder(TRAINING_DIR) if index.layout == "train-test" else index.samples
        parts["train"] = [s for s in pool if s.rel not in taken]
    overlap = _overlap(parts)
    if overlap:
        raise DatasetError(f"split files overlap: {overlap[:5]}")
    return Split(
        tuple(parts.get("train", [])),
        tuple(parts.get("val", [])),
        tuple(parts.get("test", [])),
        method="files",
        details={n: Path(p).as_posix() for n, p in files.items()},
    )


def _overlap(parts: Mapping[str, Sequence[Sample]]) -> list[str]:
    seen: dict[str, str] = {}
    clashes = []
    for name, members in parts.items():
        for s in members:
            if s.rel in seen and seen[s.rel] != name:
                clashes.append(s.rel)
            seen[s.rel] = name
    return clashes


def limit_per_class(split: Split, n: int | None, n_classes: int) -> Split:
    """The first ``n`` images (sorted by relative path) of each class in each split."""
    if not n:
        return split

    def cut(samples: Sequence[Sample]) -> tuple[Sample, ...]:
        kept: list[Sample] = []
        for label in range(n_classes):
            kept += sorted((s for s in samples if s.label == label), key=lambda s: s.rel)[:n]
        return tuple(sorted(kept, key=lambda s: s.rel))

    return Split(
        cut(split.train),
        cut(split.val),
        cut(split.test),
        split.method,
        {**split.details, "limit_per_class": n},
    )


def make_split(
    index: DatasetIndex,
    method: str = "paper",
    *,
    split_files: Mapping[str, str | Path] | None = None,
    val_fraction: float | None = None,
    test_fraction: float | None = None,
    seed: int = 0,
    limit: int | None = None,
) -> Split:
    """The CLI's and GUI's single entry point; ``split_files`` or ``val_fraction`` override
    ``method``."""
    if split_files:
        split = file_split(index, split_files)
    elif val_fraction is not None or method == "fraction":
        split = fraction_split(index, val_fraction or DEFAULT_VAL_FRACTION, test_fraction, seed)
    elif method == "paper":
        split = paper_split(index)
    else:
        raise DatasetError(f"unknown split method {method!r}")
    if not split.train:
        raise DatasetError(f"{index.root}: the training split is empty")
    return limit_per_class(split, limit, len(index.classes))
