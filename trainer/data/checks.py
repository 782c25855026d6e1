"""``brainmri check-data DIR``: what a data set holds, and what would make its scores lie.

A classifier can score well for the wrong reasons, and this public data set has both of the
classic ones, which this report measures before anyone trains:

* **Leakage.** Test images with a near-twin (pHash Hamming ≤ 4) in training: the model is asked
  about pictures it has memorised, so test accuracy overstates performance on new patients. The
  report counts such pairs for every pair of splits and writes the de-duplicated test list.
* **Shortcuts.** Image size and colour mode come from the source collection, and the source
  correlates with the label (glioma are all 512×512, notumor almost all RGB of other sizes).
  A lookup table on (width, height, mode) alone is fitted on train and scored on val/test; when
  it beats chance by far, a network can learn the source instead of the anatomy.

It also lists unreadable files (with reasons, without stopping) and the counts and image
properties a README would state. Every file is opened once for inspection and once for its
hash, in one thread pool. Nothing here imports Qt; the CLI prints :func:`format_report` and the
GUI can show :meth:`DataReport.to_dict`.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trainer.atomic import write_text
from trainer.data.discovery import TESTING_DIR, TRAINING_DIR, DatasetIndex, Sample, discover
from trainer.data.duplicates import DEFAULT_MAX_DISTANCE, dedup_subset, near_duplicate_pairs, phash
from trainer.data.splits import SPLIT_NAMES, Split, applicable_method, make_split
from trainer.data.validation import FileInfo, inspect_file
from trainer.parallel import map_in_threads

SPLIT_RELATIONS = (
    ("train", "train"),
    ("val", "val"),
    ("test", "test"),
    ("train", "val"),
    ("train", "test"),
    ("val", "test"),
)
FOLDER_RELATIONS = (
    (TRAINING_DIR, TRAINING_DIR),
    (TESTING_DIR, TESTING_DIR),
    (TESTING_DIR, TRAINING_DIR),
)
# (split that is scored, split it must not have seen): the leakage questions worth asking.
MATCH_QUESTIONS = (("val", "train"), ("test", "train"), ("test", "val"))
DEDUP_REFERENCE = ("train", "val")  # as the README's splits/test_dedup.txt
FLAT_FOLDER = "(flat)"
TOP_SIZES = 5
# A shortcut warning needs a clear margin over chance on a set big enough to mean something.
SHORTCUT_MARGIN = 0.10
SHORTCUT_MIN_IMAGES = 10
SHORTCUT_KEYS = ("size+mode", "size", "mode")


# --------------------------------------------------------------------------- report types


@dataclass(frozen=True)
class PairRow:
    """One near-duplicate pair; paths sorted within the row, like the README's duplicates.csv."""

    path_a: str
    path_b: str
    hamming: int
    same_label: bool
    same_bytes: bool


@dataclass(frozen=True)
class PairGroup:
    """Pairs between two splits (or folders); ``a == b`` means within one."""

    a: str
    b: str
    pairs: int
    # different labels: a hash collision, a neighbouring slice, or a label error
    cross_label_pairs: int
    identical_bytes_pairs: int


@dataclass(frozen=True)
class MatchCount:
    """How many images of ``split`` have at least one near-duplicate in ``reference``."""

    split: str
    reference: str
    images: int
    matched: int  # any label
    matched_same_label: int


@dataclass(frozen=True)
class DuplicateReport:
    max_distance: int
    by_split: tuple[PairGroup, ...]
    by_folder: tuple[PairGroup, ...]  # empty for a flat layout
    matches: tuple[MatchCount, ...]
    folder_matches: tuple[MatchCount, ...]  # Testing vs Training, independent of the split
    # readable test images with no near-duplicate in train or val (an unreadable one cannot
    # be scored, so it is in neither list)
    dedup_test: tuple[str, ...]
    total_pairs: int


@dataclass(frozen=True)
class ShortcutScore:
    """Accuracy of the size/mode lookup on one evaluated set (fractions in [0, 1])."""

    split: str
    images: int
    chance: float  # share of the set's most frequent class: the best any constant guess does
    accuracy: dict[str, float]  # SHORTCUT_KEYS -> accuracy


@dataclass(frozen=True)
class ImageStats:
    images: int
    width: tuple[int, float, int]  # min, median, max
    height: tuple[int, float, int]
    distinct_sizes: int
    common_sizes: tuple[tuple[int, int, int], ...]  # (width, height, count), most common first
    common_size_share: dict[str, float]  # per class: share of images with the most common size
    modes: dict[str, dict[str, dict[str, int]]]  # folder -> class -> mode -> count


@dataclass
class DataReport:
    root: str
    layout: str
    classes: tuple[str, ...]
    split_method: str
    split_details: dict[str, object]
    files_found: int
    files_inspected: int
    counts_by_folder: dict[str, dict[str, int]]
    counts_by_split: dict[str, dict[str, int]]
    unreadable: tuple[tuple[str, str], ...]  # (relative path, reason)
    images: ImageStats
    duplicates: DuplicateReport
    shortcut: tuple[ShortcutScore, ...]
    warnings: tuple[str, ...]
    notes: tuple[str, ...]
    seconds: float
    pairs: tuple[PairRow, ...] = field(default=(), repr=False)  # all pairs; for the CSV only

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; the pair list is left out (thousands of rows: write it as CSV)."""
        out = asdict(self)
        del out["pairs"]
        out["unreadable"] = [{"path": p, "reason": r} for p, r in self.unreadable]
        images = out["images"]
        for axis in ("width", "height"):
            lo, med, hi = images[axis]
            images[axis] = {"min": lo, "median": med, "max": hi}
        images["common_sizes"] = [
            {"width": w, "height": h, "count": n} for w, h, n in self.images.common_sizes
        ]
        return out


# --------------------------------------------------------------------------- scanning


@dataclass(frozen=True)
class _Scanned:
    sample: Sample
    info: FileInfo
    phash: int | None


def _scan_one(sample: Sample) -> _Scanned:
    """Inspect (trainer.io decides what is readable), then hash what it accepted.

    The hash decodes the file a second time with Pillow, because the README's hashes are of
    Pillow's ``L`` conversion and ``inspect_file`` does not hand its pixels out.
    """
    info = inspect_file(sample)
    return _Scanned(sample, info, phash(sample.path) if info.ok else None)


def _scan(
    samples: Sequence[Sample], workers: int | None, progress: Callable[[int, int], None] | None
) -> list[_Scanned]:
    return map_in_threads(_scan_one, samples, workers, progress)


def _split_for_check(
    index: DatasetIndex,
    method: str,
    split_files: Mapping[str, str | Path] | None,
    val_fraction: float | None,
    seed: int,
    limit: int | None,
) -> tuple[Split, list[str]]:
    """The requested split; a flat folder asked for the paper split gets a stratified one
    instead, because check-data must work on any folder of class sub-folders."""
    notes: list[str] = []
    applicable = applicable_method(
        index, method, split_files=split_files, val_fraction=val_fraction
    )
    if applicable != method:
        method = applicable
        notes.append("no Testing folder: the paper split does not apply, used a stratified split")
    split = make_split(
        index, method, split_files=split_files, val_fraction=val_fraction, seed=seed, limit=limit
    )
    if limit:
        notes.append(f"limited to {limit} images per class and split: statistics cover those only")
    return split, notes


# --------------------------------------------------------------------------- counts and sizes


def _folder_name(folder: str) -> str:
    return folder or FLAT_FOLDER


def _counts_by_folder(index: DatasetIndex) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for s in index.samples:
        per = out.setdefault(_folder_name(s.folder), dict.fromkeys(index.classes, 0))
        per[index.classes[s.label]] += 1
    return out


def _median(values: Sequence[int]) -> float:
    return float(statistics.median(values)) if values else 0.0


def _size_share(
    ok: Sequence[_Scanned], classes: Sequence[str], size: tuple[int, int]
) -> dict[str, float]:
    """Per class, the share of images that have ``size``: 100 % for one class and 1 % for
    another is a label you can read off the file header."""
    share: dict[str, float] = {}
    for label, cls in enumerate(classes):
        members = [x for x in ok if x.sample.label == label]
        hits = sum((x.info.width, x.info.height) == size for x in members)
        share[cls] = hits / len(members) if members else 0.0
    return share


def _modes(ok: Sequence[_Scanned], classes: Sequence[str]) -> dict[str, dict[str, dict[str, int]]]:
    """folder -> class -> PIL mode -> count, Training before Testing."""
    counts: Counter[tuple[str, str, str]] = Counter(
        (_folder_name(x.sample.folder), classes[x.sample.label], x.info.mode) for x in ok
    )
    order = {TRAINING_DIR: 0, TESTING_DIR: 1}
    out: dict[str, dict[str, dict[str, int]]] = {}
    for (folder, cls, mode), n in sorted(
        counts.items(), key=lambda kv: (order.get(kv[0][0], 2), kv[0])
    ):
        out.setdefault(folder, {}).setdefault(cls, {})[mode] = n
    return out


def _image_stats(ok: Sequence[_Scanned], classes: Sequence[str]) -> ImageStats:
    sizes = Counter((x.info.width, x.info.height) for x in ok)
    widths = [x.info.width for x in ok]
    heights = [x.info.height for x in ok]
    common = sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_SIZES]
    return ImageStats(
        images=len(ok),
        width=(min(widths, default=0), _median(widths), max(widths, default=0)),
        height=(min(heights, default=0), _median(heights), max(heights, default=0)),
        distinct_sizes=len(sizes),
        common_sizes=tuple((w, h, n) for (w, h), n in common),
        common_size_share=_size_share(ok, classes, common[0][0]) if common else {},
        modes=_modes(ok, classes),
    )


# --------------------------------------------------------------------------- duplicates


def _pair_rows(hashed: Sequence[_Scanned], max_distance: int) -> list[tuple[int, int, PairRow]]:
    """Every near-duplicate pair among ``hashed``: (index, index, row), rows sorted by path."""
    found = near_duplicate_pairs(_hashes(hashed), max_distance=max_distance)
    out = []
    for i, j, d in found:
        a, b = sorted((hashed[i], hashed[j]), key=lambda x: x.sample.rel)
        row = PairRow(
            a.sample.rel,
            b.sample.rel,
            d,
            a.sample.label == b.sample.label,
            a.info.sha256 == b.info.sha256,
        )
        out.append((i, j, row))
    out.sort(key=lambda t: (t[2].path_a, t[2].path_b))
    return out


def _groups(
    pairs: Iterable[tuple[int, int, PairRow]],
    tag: Sequence[str | None],
    relations: Sequence[tuple[str, str]],
) -> tuple[PairGroup, ...]:
    """Pair counts per relation; ``tag[i]`` is the split (or folder) of hashed item ``i``."""
    counts: dict[frozenset[str], list[int]] = {frozenset(r): [0, 0, 0] for r in relations}
    for i, j, row in pairs:
        a, b = tag[i], tag[j]
        if a is None or b is None:
            continue
        c = counts.get(frozenset((a, b)))
        if c is not None:
            c[0] += 1
            c[1] += not row.same_label
            c[2] += row.same_bytes
    return tuple(PairGroup(a, b, *counts[frozenset((a, b))]) for a, b in relations)


def _matches(
    pairs: Sequence[tuple[int, int, PairRow]],
    tag: Sequence[str | None],
    questions: Sequence[tuple[str, str]],
) -> tuple[MatchCount, ...]:
    """For each (split, reference): how many split images have a near-twin in the reference."""
    out = []
    for split, reference in questions:
        any_label: set[int] = set()
        same_label: set[int] = set()
        for i, j, row in pairs:
            for x, y in ((i, j), (j, i)):
                if tag[x] == split and tag[y] == reference:
                    any_label.add(x)
                    if row.same_label:
                        same_label.add(x)
        images = sum(t == split for t in tag)
        out.append(MatchCount(split, reference, images, len(any_label), len(same_label)))
    return tuple(out)


def _dedup_test(
    hashed: Sequence[_Scanned], split_tag: Sequence[str | None], max_distance: int
) -> list[str]:
    test = [x for x, t in zip(hashed, split_tag, strict=True) if t == "test"]
    reference = [x for x, t in zip(hashed, split_tag, strict=True) if t in DEDUP_REFERENCE]
    keep = dedup_subset(_hashes(test), _hashes(reference), max_distance)
    return sorted(test[k].sample.rel for k in keep)


def _hashes(hashed: Sequence[_Scanned]) -> list[int]:
    """The perceptual hashes of ``hashed``, every one of which was hashed."""
    out = [x.phash for x in hashed if x.phash is not None]
    if len(out) != len(hashed):
        raise ValueError("an image without a perceptual hash among the hashed ones")
    return out


def _duplicates(
    hashed: Sequence[_Scanned], split_of: Mapping[str, str], layout: str, max_distance: int
) -> tuple[DuplicateReport, list[PairRow]]:
    pairs = _pair_rows(hashed, max_distance)
    split_tag = [split_of.get(x.sample.rel) for x in hashed]
    by_folder: tuple[PairGroup, ...] = ()
    folder_matches: tuple[MatchCount, ...] = ()
    if layout == "train-test":
        folder_tag = [x.sample.folder for x in hashed]
        by_folder = _groups(pairs, folder_tag, FOLDER_RELATIONS)
        folder_matches = _matches(pairs, folder_tag, ((TESTING_DIR, TRAINING_DIR),))
    report = DuplicateReport(
        max_distance=max_distance,
        by_split=_groups(pairs, split_tag, SPLIT_RELATIONS),
        by_folder=by_folder,
        matches=_matches(pairs, split_tag, MATCH_QUESTIONS),
        folder_matches=folder_matches,
        dedup_test=tuple(_dedup_test(hashed, split_tag, max_distance)),
        total_pairs=len(pairs),
    )
    return report, [row for _, _, row in pairs]


# --------------------------------------------------------------------------- shortcut


def _shortcut_key(kind: str, info: FileInfo) -> Hashable:
    if kind == "size+mode":
        return (info.width, info.height, info.mode)
    if kind == "size":
        return (info.width, info.height)
    return info.mode


def _majority(labels: Iterable[int]) -> int | None:
    """Most frequent label; ties go to the lowest label so the result is reproducible."""
    counts = Counter(labels)
    return min(counts, key=lambda lab: (-counts[lab], lab)) if counts else None


def _fit_lookup(items: Sequence[_Scanned], kind: str) -> dict[Hashable, int]:
    by_key: dict[Hashable, list[int]] = defaultdict(list)
    for x in items:
        by_key[_shortcut_key(kind, x.info)].append(x.sample.label)
    return {k: lab for k, labels in by_key.items() if (lab := _majority(labels)) is not None}


class _ShortcutModel:
    """Majority class per (width, height, mode) — or per size, or per mode — fitted on train.

    An unseen key falls back to the majority class of its mode, then of all of train, so every
    image gets a guess and the accuracy is comparable with chance.
    """

    def __init__(self, train: Sequence[_Scanned]) -> None:
        self.tables = {kind: _fit_lookup(train, kind) for kind in SHORTCUT_KEYS}
        self.overall = _majority(x.sample.label for x in train)

    def predict(self, kind: str, info: FileInfo) -> int | None:
        guess = self.tables[kind].get(_shortcut_key(kind, info))
        if guess is None:
            guess = self.tables["mode"].get(info.mode)
        return self.overall if guess is None else guess


def _shortcut(
    ok: Sequence[_Scanned], split_of: Mapping[str, str], dedup: set[str]
) -> tuple[ShortcutScore, ...]:
    train = [x for x in ok if split_of.get(x.sample.rel) == "train"]
    if not train:
        return ()
    model = _ShortcutModel(train)
    sets = {
        "val": [x for x in ok if split_of.get(x.sample.rel) == "val"],
        "test": [x for x in ok if split_of.get(x.sample.rel) == "test"],
        "test_dedup": [x for x in ok if x.sample.rel in dedup],
    }
    out = []
    for name, items in sets.items():
        if not items:
            continue
        labels = [x.sample.label for x in items]
        chance = max(Counter(labels).values()) / len(items)
        accuracy = {
            kind: sum(model.predict(kind, x.info) == x.sample.label for x in items) / len(items)
            for kind in SHORTCUT_KEYS
        }
        out.append(ShortcutScore(name, len(items), chance, accuracy))
    return tuple(out)


# --------------------------------------------------------------------------- warnings


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _leakage_warnings(dup: DuplicateReport) -> list[str]:
    found = {(m.split, m.reference): m for m in dup.matches}
    out = []
    test_train, test_val = found[("test", "train")], found[("test", "val")]
    if test_train.matched or test_val.matched:
        also = f", and {test_val.matched} in validation" if test_val.matched else ""
        out.append(
            f"LEAKAGE WARNING: {test_train.matched} of {test_train.images} test images have a "
            f"near-duplicate in training (pHash Hamming ≤ {dup.max_distance}){also}: test "
            "accuracy overstates performance on new patients; report accuracy on the "
            f"de-duplicated list too ({len(dup.dedup_test)} images)."
        )
    val_train = found[("val", "train")]
    if val_train.matched:
        out.append(
            f"LEAKAGE WARNING: {val_train.matched} of {val_train.images} validation images have "
            "a near-duplicate in training: validation accuracy, and the checkpoint chosen by "
            "it, are optimistic."
        )
    return out


def _shortcut_warning(scores: Sequence[ShortcutScore]) -> list[str]:
    by_name = {s.split: s for s in scores}
    score = by_name.get("test") or by_name.get("val")
    if score is None or score.images < SHORTCUT_MIN_IMAGES:
        return []
    kind, best = max(score.accuracy.items(), key=lambda kv: kv[1])
    if best - score.chance < SHORTCUT_MARGIN:
        return []
    return [
        f"SHORTCUT WARNING: image size and mode alone predict the class with {_pct(best)} "
        f"accuracy on {score.split} ({kind} lookup; chance {_pct(score.chance)}): a model can "
        "learn the source, not the anatomy; this project's preprocessing converts to grey and "
        "pads to square to remove these cues."
    ]


# --------------------------------------------------------------------------- entry point


def check_dataset(
    root: str | Path,
    split_method: str = "paper",
    split_files: Mapping[str, str | Path] | None = None,
    val_fraction: float | None = None,
    seed: int = 0,
    limit: int | None = None,
    max_distance: int = DEFAULT_MAX_DISTANCE,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> DataReport:
    """Inspect, hash and cross-check every file under ``root``; unreadable files are listed,
    never fatal. ``progress(done, total)`` is called from this thread as files finish."""
    started = time.perf_counter()
    index = discover(root)
    split, notes = _split_for_check(index, split_method, split_files, val_fraction, seed, limit)
    split_of = {s.rel: name for name in SPLIT_NAMES for s in split.part(name)}
    to_scan = split.part("all") if limit else index.samples
    scanned = _scan(sorted(to_scan, key=lambda s: s.rel), workers, progress)
    ok = [x for x in scanned if x.info.ok]
    hashed = [x for x in ok if x.phash is not None]
    duplicates, pairs = _duplicates(hashed, split_of, index.layout, max_distance)
    shortcut = _shortcut(ok, split_of, set(duplicates.dedup_test))
    unreadable = [(x.sample.rel, x.info.reason or "unreadable") for x in scanned if not x.info.ok]
    unreadable += [(rel, reason) for rel, reason in index.skipped]
    warnings = _leakage_warnings(duplicates) + _shortcut_warning(shortcut)
    if unreadable:
        warnings.append(f"{len(unreadable)} unreadable file(s), listed above; training skips them.")
    return DataReport(
        root=index.root.as_posix(),
        layout=index.layout,
        classes=index.classes,
        split_method=split.method,
        split_details=dict(split.details),
        files_found=len(index.samples),
        files_inspected=len(scanned),
        counts_by_folder=_counts_by_folder(index),
        counts_by_split=split.counts(index.classes),
        unreadable=tuple(sorted(unreadable)),
        images=_image_stats(ok, index.classes),
        duplicates=duplicates,
        shortcut=shortcut,
        warnings=tuple(warnings),
        notes=tuple(notes),
        seconds=round(time.perf_counter() - started, 2),
        pairs=tuple(pairs),
    )


# --------------------------------------------------------------------------- output


def write_dedup_list(report: DataReport, path: str | Path) -> None:
    """The de-duplicated test list, one relative path per line (the split-file format)."""
    write_text(path, "".join(f"{rel}\n" for rel in report.duplicates.dedup_test))


def near_duplicate_rows(report: DataReport) -> list[dict[str, object]]:
    """All near-duplicate pairs as dict rows (path_a, path_b, hamming, same_label), for a CSV."""
    return [
        {"path_a": r.path_a, "path_b": r.path_b, "hamming": r.hamming, "same_label": r.same_label}
        for r in report.pairs
    ]


def write_pairs_csv(report: DataReport, path: str | Path) -> None:
    """Write :func:`near_duplicate_rows` as CSV, with ``true``/``false`` like duplicates.csv."""
    from trainer.csv_cells import csv_table

    columns = ["path_a", "path_b", "hamming", "same_label"]
    rows = [
        [*(row[k] for k in columns[:3]), "true" if row["same_label"] else "false"]
        for row in near_duplicate_rows(report)
    ]
    write_text(path, csv_table(columns, rows))


def _table(
    header: Sequence[str], rows: Sequence[Sequence[object]], indent: str = "  "
) -> list[str]:
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[k]) for r in cells) for k in range(len(header))]
    lines = []
    for r in cells:
        first = r[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]
        lines.append(indent + "  ".join([first, *rest]).rstrip())
    return lines


def _format_counts(report: DataReport) -> list[str]:
    classes = list(report.classes)
    rows = []
    for name, per in report.counts_by_folder.items():
        rows.append([name, *(per[c] for c in classes), sum(per.values())])
    for name, per in report.counts_by_split.items():
        rows.append([f"split {name}", *(per[c] for c in classes), sum(per.values())])
    return ["Counts", *_table(["", *classes, "total"], rows)]


def _format_images(report: DataReport) -> list[str]:
    im = report.images
    if not im.images:
        return ["Images: none readable"]
    (wlo, wmed, whi), (hlo, hmed, hhi) = im.width, im.height
    lines = [
        f"Image sizes: {im.distinct_sizes} distinct; width {wlo}–{whi} (median {wmed:g}), "
        f"height {hlo}–{hhi} (median {hmed:g})",
        "  most common: " + ", ".join(f"{w}×{h} ({n})" for w, h, n in im.common_sizes),
    ]
    w, h, _ = im.common_sizes[0]
    share = ", ".join(f"{c} {_pct(s)}" for c, s in im.common_size_share.items())
    lines.append(f"  share of {w}×{h} by class: {share}")
    lines.append("PIL modes")
    for folder, per_class in im.modes.items():
        parts = [
            f"{c}: " + " / ".join(f"{n} {m}" for m, n in ms.items()) for c, ms in per_class.items()
        ]
        lines.append(f"  {folder}: " + "; ".join(parts))
    return lines


def _format_duplicates(report: DataReport) -> list[str]:
    dup = report.duplicates
    header = ["relation", "pairs", "different labels", "identical bytes"]

    def rows(groups: Sequence[PairGroup]) -> list[list[object]]:
        return [
            [
                f"within {g.a}" if g.a == g.b else f"{g.a} vs {g.b}",
                g.pairs,
                g.cross_label_pairs,
                g.identical_bytes_pairs,
            ]
            for g in groups
        ]

    lines = [
        f"Near-duplicates (pHash Hamming ≤ {dup.max_distance}; {dup.total_pairs} pairs in all)"
    ]
    lines += _table(header, rows(dup.by_split))
    if dup.by_folder:
        lines += _table(header, rows(dup.by_folder))
    for m in (*dup.matches, *dup.folder_matches):
        if m.images:
            lines.append(
                f"  {m.matched} of {m.images} {m.split} images have a near-duplicate in "
                f"{m.reference} ({m.matched_same_label} with the same label)"
            )
    n_test = report.counts_by_split.get("test", {})
    lines.append(
        f"  de-duplicated test list: {len(dup.dedup_test)} of {sum(n_test.values())} test images "
        f"(no near-duplicate in {' or '.join(DEDUP_REFERENCE)})"
    )
    return lines


def _format_shortcut(report: DataReport) -> list[str]:
    if not report.shortcut:
        return ["Shortcut check: no training images"]
    rows = [
        [s.split, s.images, _pct(s.chance), *(_pct(s.accuracy[k]) for k in SHORTCUT_KEYS)]
        for s in report.shortcut
    ]
    return [
        "Shortcut check: class predicted from image size and mode alone (lookup fitted on train)",
        *_table(["set", "images", "chance", *SHORTCUT_KEYS], rows),
    ]


def _format_unreadable(report: DataReport) -> list[str]:
    if not report.unreadable:
        return ["Unreadable files: none"]
    return [
        f"Unreadable files ({len(report.unreadable)}):",
        *(f"  {rel}: {reason}" for rel, reason in report.unreadable),
    ]


def format_report(report: DataReport) -> str:
    """The terminal report: facts first, then the warnings, which are what to act on."""
    lines = [
        f"Data set: {report.root} ({report.layout}; {len(report.classes)} classes: "
        f"{', '.join(report.classes)})",
        f"Files: {report.files_found} found, {report.files_inspected} inspected, "
        f"{len(report.unreadable)} unreadable; split: {report.split_method}; "
        f"checked in {report.seconds:.1f} s",
        *(f"Note: {n}" for n in report.notes),
        "",
        *_format_counts(report),
        "",
        *_format_unreadable(report),
        "",
        *_format_images(report),
        "",
        *_format_duplicates(report),
        "",
        *_format_shortcut(report),
    ]
    if report.warnings:
        lines += ["", "WARNINGS", *(f"  ! {w}" for w in report.warnings)]
    return "\n".join(lines) + "\n"
