"""Choosing the compute device and describing it to the user."""

from __future__ import annotations

import os
import platform
import shutil
import sys
from typing import TYPE_CHECKING

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
    if name not in ("cpu", "cuda", "mps") and not name.startswith("cuda:"):
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda or mps")
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    import torch

    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "GPU: Apple Metal (MPS)"
    threads = torch.get_num_threads()
    return f"CPU ({threads} thread{'s' if threads != 1 else ''})"
