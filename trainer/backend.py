"""Which engine runs the classifier on this machine: measured once, then remembered.

The candidates give the same answers (within 1e-4: tests/test_fast_inference.py) at speeds
that depend on the machine: on one idle 2-core machine channels-last PyTorch was *slower* than
contiguous at batch 1 while ONNX Runtime was fastest at every batch size; on a GPU, PyTorch
wins. No fixed choice is right everywhere, so the first Predictor for a model file on a
machine times each candidate on random input (a few seconds for the default model: each is
warmed up, then the fastest of a few rounds counts, which a busy machine disturbs least) and
records the choice in the user's cache folder; later processes read it. PyTorch is chosen
over ONNX Runtime only when it is :data:`START_UP_MARGIN` times faster per image.

The record is keyed by the model file's digest, the device asked for, and the machine (CPU
model and count, host, the versions of torch and onnxruntime): new hardware or a new build
measures again. ``BRAINMRI_BACKEND`` (one of :data:`BACKENDS`) forces a choice instead, for
tests and for anyone comparing; ONNX Runtime is skipped where the optional ``onnx`` extra is
not installed.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import time
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

import numpy as np

from trainer.assets import user_cache_dir

TORCH, CHANNELS_LAST, ONNXRUNTIME = "torch", "torch-channels-last", "onnxruntime"
BACKENDS = (TORCH, CHANNELS_LAST, ONNXRUNTIME)
ENV = "BRAINMRI_BACKEND"
CALIBRATION_FILE = "calibration.json"
ROUNDS = 3
#: PyTorch must beat ONNX Runtime per image by this factor to be chosen: it costs seconds
#: more to start (importing torch and timm, loading the tensors: docs/results.md, "Start-up"),
#: which a few milliseconds per image repay only over thousands of images. A GPU clears it.
START_UP_MARGIN = 2.0
BATCH = 4  # a folder is classified in batches: one image, and a batch

#: A candidate: called once per round to make it current (e.g. the model's memory format),
#: it returns the function to time on a normalised float32 batch.
Candidate = Callable[[], Callable[[np.ndarray], object]]


def forced() -> str | None:
    """The backend ``BRAINMRI_BACKEND`` names, or None when it is unset."""
    name = os.environ.get(ENV, "").strip()
    if not name:
        return None
    if name not in BACKENDS:
        raise ValueError(f"{ENV}={name!r}: use one of {', '.join(BACKENDS)}")
    return name


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_key(device: str) -> str:
    """What a measurement holds for: this machine, these builds, this device request."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 0
    parts = (
        platform.node(),
        _cpu_model(),
        f"{cores} cores",
        f"torch {_version('torch')}",
        f"onnxruntime {_version('onnxruntime')}",
        f"device {device}",
    )
    return " | ".join(parts)


def _key(digest: str, device: str) -> str:
    return f"{digest} | {machine_key(device)}"


def _read() -> dict[str, Any]:
    try:
        data = json.loads((user_cache_dir() / CALIBRATION_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def recorded(digest: str, device: str) -> str | None:
    """The backend measured fastest for this model file on this machine, if measured."""
    entry = _read().get(_key(digest, device))
    choice = entry.get("backend") if isinstance(entry, dict) else None
    return choice if choice in BACKENDS else None


def record(digest: str, device: str, choice: str, ms: dict[str, float]) -> None:
    """Remember a calibration. Best effort: a cache that cannot be written (read-only home)
    only means measuring again next time."""
    from trainer.atomic import write_json

    data = _read()
    data[_key(digest, device)] = {
        "backend": choice,
        "ms_per_image": {k: round(v, 2) for k, v in ms.items()},
        "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    with contextlib.suppress(OSError):
        write_json(user_cache_dir() / CALIBRATION_FILE, data)


def calibrate(candidates: dict[str, Candidate], size: int) -> tuple[str, dict[str, float]]:
    """(the fastest candidate, each one's cost in ms): the time of one image at batch 1 plus
    the time per image at batch :data:`BATCH`, the fastest of :data:`ROUNDS` rounds."""
    rng = np.random.default_rng(0)
    one = rng.standard_normal((1, 3, size, size), dtype=np.float32)
    many = rng.standard_normal((BATCH, 3, size, size), dtype=np.float32)
    best = dict.fromkeys(candidates, math.inf)
    for name, make in candidates.items():
        run = make()  # once: a memory format changed between calls re-plans every kernel
        run(one)  # warm up: first calls allocate and plan
        run(many)
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            run(one)
            t1 = time.perf_counter()
            run(many)
            t2 = time.perf_counter()
            best[name] = min(best[name], (t1 - t0) + (t2 - t1) / BATCH)
    ms = {name: cost * 1e3 for name, cost in best.items()}
    return choose(ms), ms


def choose(ms: dict[str, float]) -> str:
    """The candidate to use given each one's measured ms per image (:func:`calibrate`)."""
    fastest = min(ms, key=ms.__getitem__)
    if ONNXRUNTIME in ms and ms[fastest] * START_UP_MARGIN > ms[ONNXRUNTIME]:
        return ONNXRUNTIME
    return fastest
