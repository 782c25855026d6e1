"""Every list of names has one owner: the command line's choices, the app's lists and the
run-folder check read :mod:`trainer.vocab` (and heat-map methods :mod:`trainer.cam.spec`),
so a name added there appears everywhere at once."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from trainer import vocab
from trainer.cam.spec import GRADIENT_METHODS, MAP_METHOD_LABELS, MAP_METHODS
from trainer.device import device_choices
from trainer.train.run_folder import _CHOICES, _DEVICE


def _choices(command: str) -> dict[str, Any]:
    """``dest -> choices`` of one ``brainmri`` subcommand's options."""
    from trainer.cli.main import build_parser

    sub = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    ).choices[command]
    return {a.dest: a.choices for a in sub._actions if a.choices is not None}


def test_the_command_line_reads_the_vocabulary() -> None:
    train = _choices("train")
    assert train["optimizer"] is vocab.OPTIMIZERS
    assert train["schedule"] is vocab.SCHEDULES
    assert train["device"] is vocab.DEVICES
    assert train["batchnorm"] is vocab.BATCHNORM_MODES
    assert train["split"] is vocab.SPLIT_CHOICES
    assert _choices("check-data")["split"] is vocab.SPLIT_CHOICES
    assert _choices("evaluate")["split_method"] is vocab.SPLIT_CHOICES
    assert set(vocab.SPLIT_CHOICES) == set(vocab.SPLIT_METHODS) - {"files"}


def test_the_run_folder_check_reads_the_vocabulary() -> None:
    assert _CHOICES == {
        "split": vocab.SPLIT_METHODS,
        "optimizer": vocab.OPTIMIZERS,
        "schedule": vocab.SCHEDULES,
        "batchnorm": vocab.BATCHNORM_MODES,
    }
    assert all(_DEVICE.fullmatch(d) for d in (*vocab.DEVICES, "cuda:0", "cuda:12"))
    assert not any(_DEVICE.fullmatch(d) for d in ("", "gpu", "cuda:", "cuda:123", "cpu:0"))


def test_words_cover_every_name() -> None:
    assert tuple(vocab.SCHEDULE_LABELS) == vocab.SCHEDULES
    assert tuple(MAP_METHOD_LABELS) == MAP_METHODS
    assert (*GRADIENT_METHODS, "occlusion") == MAP_METHODS
    assert vocab.in_words(vocab.OPTIMIZERS) == "adamax, adam, adamw or sgd"
    for cuda, mps in ((False, False), (True, True)):
        choices = device_choices(cuda, mps)
        assert tuple(c.value for c in choices) == vocab.DEVICES
        assert {c.value: c.available for c in choices} == {
            "auto": True,
            "cpu": True,
            "cuda": cuda,
            "mps": mps,
        }


def test_every_gradient_method_has_a_cam_class() -> None:
    pytest.importorskip("pytorch_grad_cam")
    from trainer.cam.maps import CAM_METHODS

    assert tuple(CAM_METHODS) == GRADIENT_METHODS


def test_available_devices_asks_torch() -> None:
    import torch

    from trainer.device import available_devices

    choices = {c.value: c for c in available_devices()}
    assert tuple(choices) == vocab.DEVICES
    assert choices["cpu"].available and choices["auto"].available
    assert choices["cuda"].available == torch.cuda.is_available()


@pytest.mark.gui
def test_the_recipe_page_reads_the_vocabulary(qtbot: Any) -> None:
    from desktop_app.training import recipe_page

    page = recipe_page.QtRecipePage()
    qtbot.addWidget(page)

    def data(key: str) -> tuple[str, ...]:
        box = page.fields[key]
        return tuple(box.itemData(i) for i in range(box.count()))

    assert data("optimizer") == vocab.OPTIMIZERS
    assert data("schedule") == vocab.SCHEDULES
    assert data("device") == vocab.DEVICES


# A new optimiser is added to the vocabulary before anything reads it; the command line, the
# run-folder check and the app's list then all know it. (A fresh interpreter: the modules
# read the vocabulary when they are imported.)
_ADDED = """
import json, sys
from trainer import vocab
vocab.OPTIMIZERS = (*vocab.OPTIMIZERS, "lion")
from trainer.cli.main import build_parser
from trainer.train.run_folder import validate_run_config
from PySide6.QtWidgets import QApplication
from desktop_app.training.recipe_page import QtRecipePage

app = QApplication([])
cli = build_parser().parse_args(["train", "--optimizer", "lion"]).optimizer
folder = validate_run_config({"optimizer": "lion"}).optimizer
page = QtRecipePage()
box = page.fields["optimizer"]
gui = [box.itemData(i) for i in range(box.count())]
print(json.dumps({"cli": cli, "folder": folder, "gui": gui}))
"""


@pytest.mark.gui
def test_an_optimiser_added_to_the_vocabulary_appears_everywhere() -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run(
        [sys.executable, "-c", _ADDED], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["cli"] == "lion" and seen["folder"] == "lion"
    assert seen["gui"][-1] == "lion"
