"""Tests for trainer.cam: target layers, the CAM engine's pitfalls, and the overlay helpers.

Models are built here (pretrained=False, nothing downloaded) with the same attribute names as the
product's ``BrainTumorClassifier`` (``.backbone`` + ``.head``), so these tests do not depend on
``trainer.model``.
"""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pytest
import timm
import torch
from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, XGradCAM
from torch import nn

from trainer.cam import (
    CAM_METHODS,
    CamEngine,
    cam_to_original,
    find_target_layer,
    render_overlay,
    side_by_side,
)
from trainer.cam.overlay import HEAT_COLORMAP, HEAT_FLOOR, heat_rgba
from trainer.preprocess import normalize_batch, to_model_square

N_CLASSES = 4
METHODS = sorted(CAM_METHODS)
# EigenCAM ignores the class
GRADIENT_METHODS = ["gradcam", "gradcam++", "layercam", "hirescam", "xgradcam"]


# --------------------------------------------------------------------------------------------
# Models and images
# --------------------------------------------------------------------------------------------


class Classifier(nn.Module):
    """Stand-in for trainer.model.BrainTumorClassifier: same attributes, same head."""

    def __init__(self, backbone: nn.Module, n_features: int, n_classes: int = N_CLASSES) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Sequential(
            nn.BatchNorm1d(n_features),
            nn.Linear(n_features, 256),
            nn.ReLU(),
            nn.Dropout(0.3),
            nn.Linear(256, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def timm_classifier(name: str, seed: int = 0) -> Classifier:
    torch.manual_seed(seed)
    backbone = timm.create_model(name, pretrained=False, num_classes=0, global_pool="max")
    return Classifier(backbone, backbone.num_features).eval()


def _conv_block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


def tiny_classifier(n_classes: int = 2, seed: int = 0) -> Classifier:
    """A plain CNN without timm's feature_info: exercises the hook-scan path and trains fast."""
    torch.manual_seed(seed)
    backbone = nn.Sequential(
        *_conv_block(3, 8),
        nn.MaxPool2d(2),
        *_conv_block(8, 16),
        nn.MaxPool2d(2),
        *_conv_block(16, 16),
        nn.AdaptiveMaxPool2d(1),  # global max pooling, as in the product
        nn.Flatten(),
    )
    return Classifier(backbone, 16, n_classes).eval()


@pytest.fixture
def effnet() -> Classifier:
    return timm_classifier("test_efficientnet")


@pytest.fixture(scope="module")
def resnet() -> Classifier:
    return timm_classifier("resnet10t")


def blob_images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Grey float images in [0, 1], each with a bright blob somewhere else."""
    rng = np.random.default_rng(seed)
    imgs = rng.normal(0.15, 0.05, (n, size, size))
    yy, xx = np.mgrid[:size, :size]
    for img in imgs:
        cy, cx = rng.uniform(0.2 * size, 0.8 * size, 2)
        img += 0.8 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (size / 8) ** 2))
    return np.clip(imgs, 0.0, 1.0)


def to_inputs(grey01: np.ndarray) -> torch.Tensor:
    """(N, S, S) grey in [0, 1] -> the model's normalised (N, 3, S, S), as the product does."""
    return normalize_batch(torch.from_numpy(np.rint(grey01 * 255.0).astype(np.uint8)))


def hook_count(model: nn.Module) -> int:
    return sum(
        len(m._forward_hooks)
        + len(m._forward_pre_hooks)
        + len(m._backward_hooks)
        + len(m._backward_pre_hooks)
        for m in model.modules()
    )


# --------------------------------------------------------------------------------------------
# Registry and target layers
# --------------------------------------------------------------------------------------------


def test_cam_methods_names_the_library_classes() -> None:
    expected = {
        "gradcam": GradCAM,
        "gradcam++": GradCAMPlusPlus,
        "eigencam": EigenCAM,
        "layercam": LayerCAM,
        "hirescam": HiResCAM,
        "xgradcam": XGradCAM,
    }
    assert expected == CAM_METHODS


def test_efficientnet_target_is_bn2_after_conv_head(effnet: Classifier) -> None:
    assert find_target_layer(effnet) is effnet.backbone.bn2
    plain = timm.create_model("test_efficientnet", pretrained=False, num_classes=3)
    assert find_target_layer(plain) is plain.bn2


def test_timm_cnn_target_is_last_feature_info_stage(resnet: Classifier) -> None:
    assert find_target_layer(resnet) is resnet.backbone.layer4


def test_plain_cnn_target_found_by_scanning_outputs() -> None:
    model = tiny_classifier()
    # the ReLU of the last conv block; not the 1x1 global pool, not Flatten
    assert find_target_layer(model) is model.backbone[-3]


class _TokenModel(nn.Module):
    """A minimal ViT-like model without feature_info: conv patch embedding, then tokens."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 8, 16, stride=16)
        self.mix = nn.Linear(8, 8)
        self.fc = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch(x).flatten(2).transpose(1, 2)
        return self.fc(self.mix(tokens).mean(1))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: timm.create_model("test_vit", pretrained=False, num_classes=2), "reshape"),
        (_TokenModel, "tokens"),
        (
            lambda: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2)),
            "no spatial",
        ),
    ],
    ids=["timm-vit", "token-model", "pool-first"],
)
def test_models_without_spatial_map_are_rejected(build, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        find_target_layer(build())


# --------------------------------------------------------------------------------------------
# Engine: output contract
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("arch", ["effnet", "resnet"])
def test_maps_have_image_size_and_unit_range(
    method: str, arch: str, effnet: Classifier, resnet: Classifier
) -> None:
    model = effnet if arch == "effnet" else resnet
    x = to_inputs(blob_images(3, 96))
    with CamEngine(model, method) as engine:
        maps = engine(x)
    assert maps.shape == (3, 96, 96)
    assert maps.dtype == np.float32
    assert np.isfinite(maps).all()
    assert maps.min() >= 0.0
    assert maps.max() <= 1.0
    # each map is scaled on its own: it peaks at 1, or is blank where nothing speaks for the
    # class (an untrained ResNet's Grad-CAM can be negative everywhere, hence zero after ReLU)
    peaks = maps.max(axis=(1, 2))
    assert np.all(np.isclose(peaks, 1.0, atol=1e-3) | (peaks == 0.0))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("value", [0.0, 0.5, 1.0])
def test_constant_images_give_finite_maps(method: str, value: float, effnet: Classifier) -> None:
    x = to_inputs(np.full((2, 64, 64), value))
    for model in (effnet, tiny_classifier()):
        maps = CamEngine(model, method)(x)
        assert maps.shape == (2, 64, 64)
        assert np.isfinite(maps).all()
        assert 0.0 <= maps.min() <= maps.max() <= 1.0


@pytest.mark.parametrize("method", METHODS)
def test_each_image_in_a_batch_gets_its_own_map(method: str, effnet: Classifier) -> None:
    x = to_inputs(blob_images(4, 96, seed=1))
    engine = CamEngine(effnet, method)
    # XGrad-CAM divides by each channel's summed activation: float noise between a batched
    # and a single pass is amplified where that sum is small
    atol = 1e-3 if method == "xgradcam" else 1e-4
    for targets in (None, [3, 2, 1, 0]):
        batch = engine(x, targets)
        for i in range(4):
            alone = engine(x[i : i + 1], None if targets is None else [targets[i]])[0]
            np.testing.assert_allclose(batch[i], alone, atol=atol)
        for i in range(1, 4):
            assert np.abs(batch[i] - batch[0]).max() > 0.05, "maps should differ between images"


def reference_gradcam(model: Classifier, x: torch.Tensor, layer: nn.Module) -> np.ndarray:
    """Grad-CAM written out with plain autograd, back-propagating all the way (no graph cut)."""
    seen: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda module, args, out: seen.append(out))
    try:
        logits = model(x)
    finally:
        handle.remove()
    picked = logits.gather(1, logits.argmax(1, keepdim=True)).sum()
    (grads,) = torch.autograd.grad(picked, seen[0])
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cams = torch.relu((weights * seen[0]).sum(1)).detach().numpy()
    size = (x.shape[3], x.shape[2])
    # min-max, resize (with the library's cv2 bilinear), min-max again, as the library does
    return np.stack([_min_max(cv2.resize(_min_max(cam), size)) for cam in cams])


def _min_max(a: np.ndarray) -> np.ndarray:
    a = a - a.min()
    return a / (a.max() + 1e-7)


def test_gradcam_matches_a_plain_autograd_reference(effnet: Classifier) -> None:
    x = to_inputs(blob_images(3, 96, seed=4))
    expected = reference_gradcam(effnet, x, effnet.backbone.bn2)
    assert np.all(expected.max(axis=(1, 2)) > 0.99)  # a real map, not blank against blank
    np.testing.assert_allclose(CamEngine(effnet, "gradcam")(x), expected, atol=1e-4)


def test_target_class_changes_the_map_and_none_means_predicted(effnet: Classifier) -> None:
    x = to_inputs(blob_images(1, 96, seed=2))
    engine = CamEngine(effnet, "gradcam")
    with torch.no_grad():
        predicted = int(effnet(x).argmax(1))
    other = (predicted + 1) % N_CLASSES
    np.testing.assert_array_equal(engine(x), engine(x, [predicted]))
    assert np.abs(engine(x, [predicted]) - engine(x, [other])).max() > 0.05


@pytest.mark.parametrize("grad_context", ["inference_mode", "no_grad"])
def test_frozen_model_in_gradient_free_context_still_gets_maps(
    grad_context: str, effnet: Classifier
) -> None:
    for p in effnet.backbone.parameters():
        p.requires_grad_(False)
    if grad_context == "no_grad":
        for p in effnet.head.parameters():
            p.requires_grad_(False)
    context = torch.inference_mode() if grad_context == "inference_mode" else torch.no_grad()
    engine = CamEngine(effnet, "gradcam")
    with context:
        x = to_inputs(blob_images(2, 96, seed=3))
        assert x.is_inference() == (grad_context == "inference_mode")
        maps = engine(x)
    assert np.allclose(maps.max(axis=(1, 2)), 1.0, atol=1e-3)  # gradients arrived for both
    assert all(not p.requires_grad for p in effnet.backbone.parameters())


def test_call_leaves_modes_grads_and_flags_as_it_found_them(effnet: Classifier) -> None:
    effnet.train()
    frozen_bn = effnet.backbone.bn1
    frozen_bn.eval()  # a typical fine-tuning mix: frozen BatchNorm inside a training model
    modes = {name: m.training for name, m in effnet.named_modules()}
    last = effnet.head[-1]
    sentinel = torch.full_like(last.weight, 0.25)
    last.weight.grad = sentinel
    flags = [p.requires_grad for p in effnet.parameters()]

    CamEngine(effnet, "gradcam++")(to_inputs(blob_images(2, 64)))

    assert {name: m.training for name, m in effnet.named_modules()} == modes
    assert last.weight.grad is sentinel
    assert torch.equal(sentinel, torch.full_like(last.weight, 0.25))
    assert all(p.grad is None for p in effnet.backbone.parameters())
    assert [p.requires_grad for p in effnet.parameters()] == flags


def test_bfloat16_autocast_elsewhere_does_not_break_the_map(effnet: Classifier) -> None:
    x = to_inputs(blob_images(2, 64))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        maps = CamEngine(effnet, "gradcam")(x)
    assert maps.dtype == np.float32
    assert np.isfinite(maps).all()


def test_explicit_target_layer_is_used(effnet: Classifier) -> None:
    engine = CamEngine(effnet, "gradcam", target_layer=effnet.backbone.blocks[-1])
    assert engine.target_layer is effnet.backbone.blocks[-1]
    maps = engine(to_inputs(blob_images(2, 96)))
    assert maps.shape == (2, 96, 96)
    assert np.isfinite(maps).all()


# --------------------------------------------------------------------------------------------
# Engine: errors, hooks, memory
# --------------------------------------------------------------------------------------------


def test_bad_arguments_are_clear_errors(effnet: Classifier) -> None:
    x = to_inputs(blob_images(2, 64))
    with pytest.raises(ValueError, match="unknown CAM method"):
        CamEngine(effnet, "scorecam")
    engine = CamEngine(effnet)
    with pytest.raises(ValueError, match="one target class per image"):
        engine(x, [1])  # the library would silently give image 2 an empty map
    with pytest.raises(ValueError, match="out of range"):
        engine(x, [0, N_CLASSES])
    with pytest.raises(ValueError, match="out of range"):
        engine(x, [-1, 0])
    with pytest.raises(TypeError):
        engine(x, [0.5, 1.0])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        engine(x[0])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        engine(torch.zeros((1, 3, 64, 64), dtype=torch.uint8))


def test_closed_engine_refuses_and_context_manager_closes(effnet: Classifier) -> None:
    with CamEngine(effnet) as engine:
        assert engine(to_inputs(blob_images(1, 64))).shape == (1, 64, 64)
    with pytest.raises(RuntimeError, match="closed"):
        engine(to_inputs(blob_images(1, 64)))


def test_no_hooks_outlive_a_call_even_when_it_fails(effnet: Classifier) -> None:
    baseline = hook_count(effnet)
    engines = [CamEngine(effnet, m) for m in METHODS]
    assert hook_count(effnet) == baseline  # nothing registered between calls
    x = to_inputs(blob_images(2, 64))
    for i in range(40):
        engine = engines[i % len(engines)]
        engine(x)
        if i == 10:
            with pytest.raises(ValueError):
                engine(x, [0, 99])  # fails inside the library, after its hooks are on
        if i == 20:
            with pytest.raises(RuntimeError):
                engine(torch.zeros((1, 5, 64, 64)))  # fails inside the model's forward
        assert hook_count(effnet) == baseline
    with torch.no_grad():  # ordinary predictions still run clean alongside live engines
        assert effnet(x).shape == (2, N_CLASSES)


def _rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096


def _tensor_objects() -> int:
    gc.collect()
    return sum(issubclass(type(o), torch.Tensor) for o in gc.get_objects())


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="RSS read from /proc")
def test_memory_stays_flat_over_200_calls() -> None:
    model = tiny_classifier()
    engine = CamEngine(model, "gradcam")
    hooks = hook_count(model)
    # 2 x 3 x 48 x 48 float32 = 55 kB per call: keeping inputs or graphs alive would add > 11 MB.
    x = to_inputs(blob_images(2, 48))
    for _ in range(20):  # warm-up: allocator pools, lazy imports, first-call caches
        engine(x)
    tensors, rss = _tensor_objects(), _rss_bytes()
    tracemalloc.start()
    try:
        traced = tracemalloc.get_traced_memory()[0]
        for _ in range(200):
            engine(x)
        traced_growth = tracemalloc.get_traced_memory()[0] - traced
    finally:
        tracemalloc.stop()
    assert traced_growth < 100_000
    assert _tensor_objects() <= tensors
    assert _rss_bytes() - rss < 4_000_000
    assert hook_count(model) == hooks


# --------------------------------------------------------------------------------------------
# Does the map point at what decides? A tiny model trained here to find a square.
# --------------------------------------------------------------------------------------------

DETECTOR_SIZE = 48
Box = tuple[int, int, int, int]  # top, left, height, width


def square_scenes(
    rng: np.random.Generator, n: int, height: int = DETECTOR_SIZE, width: int = DETECTOR_SIZE
) -> tuple[np.ndarray, np.ndarray, list[Box | None], list[Box]]:
    """Noise + a bright bar (a distractor, in every image) + in half of them a bright square.

    Label 1 = "square present". The bar is as bright as the square, so a map that merely
    follows brightness would fail; it has to follow what the model decides on.
    """
    imgs = np.clip(rng.normal(0.1, 0.04, (n, height, width)), 0.0, 1.0)
    labels = rng.integers(0, 2, n)
    squares: list[Box | None] = []
    bars: list[Box] = []
    for img, label in zip(imgs, labels, strict=True):
        bar = _place(rng, height, width, *((2, 12) if rng.random() < 0.5 else (12, 2)))
        _paint(img, bar)
        bars.append(bar)
        square = None
        if label:
            side = int(rng.integers(8, 13))
            square = _place(rng, height, width, side, side)
            _paint(img, square)
        squares.append(square)
    return imgs, labels, squares, bars


def _place(rng: np.random.Generator, height: int, width: int, h: int, w: int) -> Box:
    return int(rng.integers(0, height - h)), int(rng.integers(0, width - w)), h, w


def _paint(img: np.ndarray, box: Box) -> None:
    top, left, h, w = box
    img[top : top + h, left : left + w] = 0.9


def _mask(shape: tuple[int, int], box: Box) -> np.ndarray:
    top, left, h, w = box
    mask = np.zeros(shape, dtype=bool)
    mask[top : top + h, left : left + w] = True
    return mask


@pytest.fixture(scope="module")
def square_detector() -> Classifier:
    return train_square_detector()


def train_square_detector() -> Classifier:
    """~2 s on a 2-core CPU; seeded, and checked for accuracy before any map is judged."""
    model = tiny_classifier(n_classes=2, seed=0).train()
    rng = np.random.default_rng(0)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(80):
        imgs, labels, _, _ = square_scenes(rng, 32)
        loss = nn.functional.cross_entropy(model(to_inputs(imgs)), torch.from_numpy(labels))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    imgs, labels, _, _ = square_scenes(np.random.default_rng(99), 64)
    with torch.no_grad():
        accuracy = (model(to_inputs(imgs)).argmax(1).numpy() == labels).mean()
    assert accuracy >= 0.95, f"the toy detector did not learn (accuracy {accuracy:.2f})"
    return model


@pytest.mark.parametrize("method", GRADIENT_METHODS)
def test_map_highlights_the_square_not_the_distractor(
    method: str, square_detector: Classifier
) -> None:
    imgs, labels, squares, bars = square_scenes(np.random.default_rng(1), 48)
    positive = [i for i in range(len(imgs)) if labels[i]]
    maps = CamEngine(square_detector, method)(to_inputs(imgs[positive]), [1] * len(positive))
    shape = (DETECTOR_SIZE, DETECTOR_SIZE)
    wins = []
    for cam, i in zip(maps, positive, strict=True):
        inside = _mask(shape, squares[i])
        on_bar = _mask(shape, bars[i]) & ~inside
        wins.append(
            cam[inside].mean() > 2 * cam[~inside].mean() and cam[inside].mean() > cam[on_bar].mean()
        )
    assert np.mean(wins) >= 0.85, f"{method}: square highlighted in {np.mean(wins):.0%}"


@pytest.mark.parametrize(
    ("height", "width", "square"),
    [(32, 64, (1, 44, 12, 12)), (64, 32, (2, 1, 12, 12))],
    ids=["landscape", "portrait"],
)
def test_cam_to_original_puts_the_hot_spot_where_the_square_was(
    height: int, width: int, square: Box, square_detector: Classifier
) -> None:
    # Padded to 64 x 64 (16 black rows or columns on each side), then resized 64 -> 48. Near the
    # padded edge, stretching the square map onto the original instead of cropping the padding
    # off would move the hot spot by about 3.5 px; we allow 2.
    rng = np.random.default_rng(5)
    grey = np.clip(rng.normal(0.1, 0.04, (height, width)), 0.0, 1.0)
    _paint(grey, square)
    x = to_inputs(to_model_square(grey, DETECTOR_SIZE)[None].astype(np.float64) / 255.0)
    cam_square = CamEngine(square_detector, "gradcam")(x, [1])[0]
    cam = cam_to_original(cam_square, height, width)
    assert cam.shape == (height, width)
    assert cam.dtype == np.float32
    inside = _mask((height, width), square)
    assert cam[inside].mean() > 2 * cam[~inside].mean()
    hot_rows, hot_cols = np.nonzero(cam >= 0.5)
    top, left, h, w = square
    assert abs(hot_rows.mean() - (top + h / 2)) < 2
    assert abs(hot_cols.mean() - (left + w / 2)) < 2


# --------------------------------------------------------------------------------------------
# Display helpers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("height", "width"), [(40, 64), (64, 40), (48, 48)])
def test_cam_to_original_shape_and_range(height: int, width: int) -> None:
    cam = np.random.default_rng(0).random((48, 48)).astype(np.float32)
    out = cam_to_original(cam, height, width)
    assert out.shape == (height, width)
    assert out.dtype == np.float32
    assert 0.0 <= out.min() <= out.max() <= 1.0


def test_cam_to_original_crops_the_padding_away() -> None:
    # Original 32 x 64 pads to 64 x 64 with 16 black rows on top: 12 rows of a 48 map.
    cam = np.zeros((48, 48), dtype=np.float32)
    cam[:9] = 1.0  # heat only over the top padding
    assert cam_to_original(cam, 32, 64).max() < 0.05
    with pytest.raises(ValueError, match="square"):
        cam_to_original(np.zeros((48, 40), dtype=np.float32), 32, 64)


@pytest.fixture
def picture() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    grey = rng.random((30, 50))
    cam = np.linspace(0.0, 1.0, 30 * 50).reshape(30, 50)
    return grey, cam


def test_overlay_opacity_zero_is_the_grey_image(picture: tuple[np.ndarray, np.ndarray]) -> None:
    grey, cam = picture
    overlay = render_overlay(grey, cam, opacity=0.0)
    expected = np.repeat(np.rint(grey * 255.0).astype(np.uint8)[..., None], 3, axis=2)
    assert overlay.dtype == np.uint8
    assert overlay.shape == (30, 50, 3)
    np.testing.assert_array_equal(overlay, expected)
    np.testing.assert_array_equal(
        render_overlay((grey * 255).round().astype(np.uint8), cam, 0.0), expected
    )


def test_overlay_opacity_one_without_a_floor_is_the_colour_map(
    picture: tuple[np.ndarray, np.ndarray],
) -> None:
    grey, cam = picture
    for name in ("jet", "viridis", "inferno"):
        expected = np.rint(matplotlib.colormaps[name](cam)[..., :3] * 255.0).astype(np.uint8)
        np.testing.assert_array_equal(render_overlay(grey, cam, 1.0, name, floor=0.0), expected)


def test_overlay_leaves_the_weak_part_of_the_map_uncoloured(
    picture: tuple[np.ndarray, np.ndarray],
) -> None:
    """Below the floor (half of the peak) the picture is the grey image, untouched; at the
    peak, with opacity 1, it is the colour map's brightest colour."""
    grey, cam = picture
    overlay = render_overlay(grey, cam, 1.0)
    plain = render_overlay(grey, cam, 0.0)
    weak = cam < HEAT_FLOOR
    np.testing.assert_array_equal(overlay[weak], plain[weak])
    strong = cam >= HEAT_FLOOR + 0.25
    assert (np.abs(overlay[strong].astype(int) - plain[strong].astype(int)).sum(axis=1) > 0).all()
    peak = np.rint(np.array(matplotlib.colormaps[HEAT_COLORMAP](1.0)[:3]) * 255).astype(np.uint8)
    np.testing.assert_array_equal(overlay[-1, -1], peak)
    rgba = heat_rgba(cam)
    assert rgba.shape == (30, 50, 4)
    assert (rgba[..., 3][weak] == 0).all() and rgba[-1, -1, 3] == 255


def test_overlay_opacity_and_colormap_change_the_pixels(
    picture: tuple[np.ndarray, np.ndarray],
) -> None:
    grey, cam = picture
    pure = render_overlay(grey, cam, 1.0).astype(int)  # the strong half is coloured
    distances = [
        np.abs(render_overlay(grey, cam, a).astype(int) - pure).mean() for a in (0.2, 0.5, 0.8)
    ]
    assert distances[0] > distances[1] > distances[2] > 0
    assert not np.array_equal(
        render_overlay(grey, cam, 0.5, "jet"), render_overlay(grey, cam, 0.5, "gray")
    )


def test_overlay_rejects_bad_arguments(picture: tuple[np.ndarray, np.ndarray]) -> None:
    grey, cam = picture
    with pytest.raises(ValueError, match="colormap"):
        render_overlay(grey, cam, colormap="no-such-map")
    with pytest.raises(ValueError, match="cam_to_original"):
        render_overlay(grey, cam[:, :40])
    with pytest.raises(ValueError, match="opacity"):
        render_overlay(grey, cam, opacity=1.5)


def test_side_by_side_is_original_then_overlay(picture: tuple[np.ndarray, np.ndarray]) -> None:
    grey, cam = picture
    overlay = render_overlay(grey, cam, 0.6)
    both = side_by_side(grey, overlay)
    assert both.shape == (30, 100, 3)
    assert both.dtype == np.uint8
    np.testing.assert_array_equal(both[:, :50], render_overlay(grey, cam, 0.0))
    np.testing.assert_array_equal(both[:, 50:], overlay)
    with pytest.raises(ValueError, match="overlay"):
        side_by_side(grey, overlay[:, :40])
