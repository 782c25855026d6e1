"""Choosing the compute device and describing it to the user."""

from __future__ import annotations

import os
import platform
import shutil
import sys
from typing import TYPE_CHECKING, NamedTuple

from trainer.vocab import DEVICES, Device, in_words

if TYPE_CHECKING:
    import torch

# What a GPU driver leaves on Linux: NVIDIA's, AMD's ROCm, WSL2's GPU paravirtualisation.
_LINUX_GPU_PATHS = ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd")
_WSL_GPU_PATH = "/dev/dxg"


def may_have_gpu() -> bool:
    """Whether PyTorch might find a GPU here, told in milliseconds without importing torch
    (seconds): False only where none can be (no GPU driver's device files on Linux, an Intel
    Mac, ``CUDA_VISIBLE_DEVICES`` empty); True means "ask torch" (:func:`has_gpu`)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1") and (
        sys.platform != "darwin"
    ):
        return False
    if sys.platform == "darwin":
        return platform.machine() == "arm64"  # Apple's Metal backend (MPS)
    if sys.platform.startswith("linux"):
        return any(os.path.exists(p) for p in (*_LINUX_GPU_PATHS, _WSL_GPU_PATH))
    if sys.platform == "win32":
        system = os.path.join(os.environ.get("SYSTEMROOT", r"C:\Windows"), "System32")
        return shutil.which("nvidia-smi") is not None or os.path.exists(
            os.path.join(system, "nvcuda.dll")
        )
    return True  # elsewhere: ask torch


def has_gpu() -> bool:
    """Whether PyTorch sees a CUDA or Apple (MPS) GPU (imports torch: seconds)."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    return bool(torch.cuda.is_available() or (mps is not None and mps.is_available()))


class DeviceChoice(NamedTuple):
    """One entry of a list of devices a person chooses from: ``label`` in words, ``value``
    as :class:`~trainer.config.TrainConfig` and ``--device`` take it, and whether it is
    ``available`` here."""

    label: str
    value: Device
    available: bool


def device_choices(cuda: bool, mps: bool, gpu_name: str = "") -> tuple[DeviceChoice, ...]:
    """Every device of :data:`trainer.vocab.DEVICES`, for a machine where a CUDA GPU
    (``gpu_name``, when known) and Apple's Metal backend are or are not there."""
    cuda_note = f" ({gpu_name})" if gpu_name else ("" if cuda else " (none found)")
    labels = {
        "auto": "automatic (GPU when there is one)",
        "cpu": "CPU",
        "cuda": "CUDA GPU" + cuda_note,
        "mps": "Apple GPU (MPS)" + ("" if mps else " (not available)"),
    }
    there = {"cuda": cuda, "mps": mps}
    return tuple(
        DeviceChoice(labels.get(name, name), name, there.get(name, True)) for name in DEVICES
    )


def available_devices() -> tuple[DeviceChoice, ...]:
    """The devices as PyTorch sees them here (imports torch: seconds; run it off a GUI
    thread). Before that answer, ``device_choices(g, g)`` with ``g =`` :func:`may_have_gpu`
    says what may be there."""
    import torch

    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    return device_choices(cuda, mps, torch.cuda.get_device_name(0) if cuda else "")


def resolve_device(name: str = "auto") -> torch.device:
    import torch

    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: no CUDA GPU is visible to PyTorch")
    if name == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise RuntimeError("--device mps: Apple's Metal backend is not available here")
    if name not in DEVICES and not name.startswith("cuda:"):
        raise ValueError(f"unknown device {name!r}; use {in_words(DEVICES)}")
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    import torch

    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "GPU: Apple Metal (MPS)"
    threads = torch.get_num_threads()
    return f"CPU ({threads} thread{'s' if threads != 1 else ''})"
