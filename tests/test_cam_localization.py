"""Heat maps measured against lesion boxes, occlusion, map specs, and one default everywhere.

Everything runs on generated images with known boxes and on the tiny untrained model file
(``conftest.tiny_model_file``): what is tested is that the scores, the geometry and the
plumbing are right. How well the shipped model's map localises is a measurement, printed by
``benchmarks/cam_localization.py`` and written in the model card, never a threshold here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trainer.cam.localization import (
    BoxedSlice,
    brain_mask,
    control_boxes,
    read_lesion_boxes,
    score_map,
    summarise,
)
from trainer.cam.occlusion import box_fill_drop, fill_boxes, occlusion_map
from trainer.cam.record import localization_sentence, read_localization
from trainer.cam.spec import DEFAULT_MAP, MapSpec, parse_map_spec

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------
# Map specs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("gradcam", MapSpec("gradcam")),
        ("LayerCAM@blocks.5+bn2", MapSpec("layercam", ("blocks.5", "bn2"))),
        ("gradcam:contrast", MapSpec("gradcam", (), "contrast")),
        ("hirescam@bn2:class", MapSpec("hirescam", ("bn2",))),
        ("occlusion", MapSpec("occlusion")),
    ],
)
def test_map_specs_parse_and_print_back(text: str, spec: MapSpec) -> None:
    assert parse_map_spec(text) == spec
    assert parse_map_spec(str(spec)) == spec
    assert MapSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("sorcery", "unknown heat-map method"),
        ("gradcam:elsewhere", "unknown heat-map target"),
        ("gradcam@../../etc", "not a layer name"),
        ("occlusion@bn2", "occlusion reads no layer"),
    ],
)
def test_bad_map_specs_say_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_map_spec(text)


def test_recorded_spec_must_be_well_formed() -> None:
    for bad in ([], {"method": 3}, {"layers": "bn2"}, {"layers": ["a"] * 5}):
        with pytest.raises(ValueError):
            MapSpec.from_json(bad)


# --------------------------------------------------------------------------------------------
# Boxes, brain mask, scores
# --------------------------------------------------------------------------------------------


def write_boxes(path: Path, entries: dict[str, object]) -> Path:
    path.write_text(json.dumps(entries), encoding="utf-8")
    return path


def test_boxes_file_is_read_and_invisible_lesions_are_left_out(tmp_path: Path) -> None:
    path = write_boxes(
        tmp_path / "boxes.json",
        {
            "a/glioma/1.jpg": {"class": "glioma", "certainty": "low", "boxes": [[10, 20, 30, 40]]},
            "a/pituitary/2.jpg": {"class": "pituitary", "visible": False, "boxes": []},
            "a/meningioma/3.jpg": {
                "class": "meningioma",
                "boxes": [[1, 2, 3, 4], [50, 50, 60, 70]],
            },
        },
    )
    slices = read_lesion_boxes(path)
    assert [s.path for s in slices] == ["a/glioma/1.jpg", "a/meningioma/3.jpg"]
    assert slices[0].certainty == "low" and slices[1].certainty == "high"
    assert slices[1].boxes == ((1, 2, 3, 4), (50, 50, 60, 70))


@pytest.mark.parametrize(
    "entry",
    [
        {"class": "glioma", "boxes": [[10, 20, 30]]},
        {"class": "glioma", "boxes": [[30, 20, 10, 40]]},
        {"class": "glioma", "boxes": [[10, 20, 30, 140]]},
        {"class": 7, "boxes": [[10, 20, 30, 40]]},
        "not an object",
    ],
)
def test_malformed_boxes_name_the_file_and_entry(tmp_path: Path, entry: object) -> None:
    path = write_boxes(tmp_path / "boxes.json", {"x.jpg": entry})
    with pytest.raises(ValueError, match=r"boxes\.json: entry 'x\.jpg'"):
        read_lesion_boxes(path)


def test_boxes_in_pixels_and_in_the_model_square_of_a_wide_image() -> None:
    s = BoxedSlice("x.jpg", "glioma", "high", ((50.0, 0.0, 100.0, 50.0),))
    assert s.pixel_boxes(100, 200) == [(100, 0, 200, 50)]
    # 100 x 200 padded to 200 x 200 (50 rows of black above), then resized to 100 px
    assert s.square_boxes(100, 200, 100) == [(50, 25, 100, 50)]


def head(height: int = 120, width: int = 160) -> np.ndarray:
    """A bright oval head on black, with a dark ventricle inside (a hole to be filled)."""
    yy, xx = np.mgrid[:height, :width]
    grey = np.zeros((height, width), dtype=np.float32)
    oval = ((yy - height / 2) / (height * 0.4)) ** 2 + ((xx - width / 2) / (width * 0.4)) ** 2
    grey[oval <= 1] = 0.6
    grey[(abs(yy - height / 2) < 6) & (abs(xx - width / 2) < 10)] = 0.02
    return grey


def test_brain_mask_keeps_the_head_and_its_dark_inside_not_the_background() -> None:
    grey = head()
    mask = brain_mask(grey)
    assert mask[60, 80]  # the dark ventricle in the middle is brain
    assert not mask[2, 2] and not mask[118, 158]
    oval_area = (grey > 0).sum() + 12 * 20
    assert abs(int(mask.sum()) - oval_area) < 0.1 * oval_area


def test_pointing_game_uses_the_tolerance_and_mass_share_the_boxes() -> None:
    brain = np.ones((224, 224), dtype=bool)
    box = (100, 100, 120, 120)
    cam = np.zeros((224, 224), dtype=np.float32)
    cam[110, 110] = 1.0
    assert score_map(cam, [box], brain).hit
    cam[:] = 0
    cam[110, 119 + 15] = 1.0  # 15 px right of the box: the customary tolerance at 224 px
    assert score_map(cam, [box], brain).hit
    cam[:] = 0
    cam[110, 119 + 17] = 1.0
    assert not score_map(cam, [box], brain).hit
    assert not score_map(np.zeros_like(cam), [box], brain).hit  # no evidence is no hit


def test_a_map_flat_on_the_brain_has_a_lift_of_one() -> None:
    grey = head()
    brain = brain_mask(grey)
    boxes = [(60, 40, 90, 70)]
    flat = score_map(brain.astype(np.float32), boxes, brain)
    assert flat.mass_share == pytest.approx(flat.box_share)
    assert summarise([flat]).lift == pytest.approx(1.0)
    on_box = np.zeros_like(grey)
    on_box[40:70, 60:90] = 1.0
    sharp = score_map(on_box, boxes, brain)
    assert sharp.hit and sharp.mass_share == pytest.approx(1.0)
    assert summarise([sharp]).lift == pytest.approx(1.0 / sharp.box_share)


def test_control_boxes_lie_in_the_brain_clear_of_the_lesion() -> None:
    brain = brain_mask(head())
    lesion = [(60, 40, 80, 55)]
    rng = np.random.default_rng(0)
    for _ in range(20):
        placed = control_boxes(brain, lesion, rng)
        assert placed is not None and len(placed) == 1
        x0, y0, x1, y1 = placed[0]
        assert (x1 - x0, y1 - y0) == (20, 15)
        assert brain[y0, x0] and brain[y1 - 1, x1 - 1]
        assert x1 <= 60 or x0 >= 80 or y1 <= 40 or y0 >= 55
    assert control_boxes(brain, [(0, 0, 159, 119)], rng) is None  # no room: said, not faked


# --------------------------------------------------------------------------------------------
# Occlusion
# --------------------------------------------------------------------------------------------


def spot_probability(squares: np.ndarray) -> np.ndarray:
    """A 'model' whose class 1 depends only on the bright spot at rows/cols 40-50."""
    spot = squares[:, 40:50, 40:50].astype(np.float64).mean(axis=(1, 2)) / 255.0
    return np.stack([1 - spot, spot], axis=1)


def test_occlusion_map_peaks_on_what_the_answer_depends_on() -> None:
    square = np.full((100, 100), 20, dtype=np.uint8)
    square[40:50, 40:50] = 255
    square[5:15, 80:95] = 255  # as bright, but the 'model' ignores it
    cam = occlusion_map(spot_probability, square, target=1)
    assert cam.shape == (100, 100) and cam.dtype == np.float32
    assert cam.max() == pytest.approx(1.0) and cam.min() >= 0
    y, x = np.unravel_index(int(cam.argmax()), cam.shape)
    assert 30 <= y < 60 and 30 <= x < 60
    assert cam[5:15, 80:95].max() == 0.0
    # nothing it depends on: an all-zero map, not noise scaled up
    assert occlusion_map(spot_probability, np.zeros((100, 100), np.uint8), 1).max() == 0.0


def test_filling_the_lesion_versus_elsewhere() -> None:
    square = np.full((100, 100), 20, dtype=np.uint8)
    square[40:50, 40:50] = 255
    drops = box_fill_drop(spot_probability, square, 1, [[(40, 40, 50, 50)], [(5, 5, 15, 15)]])
    assert drops[0] == pytest.approx(1.0) and drops[1] == pytest.approx(0.0)
    filled = fill_boxes(square, [(40, 40, 45, 50)])
    assert filled[45, 42] == 0 and filled[45, 47] == 255 and square[45, 42] == 255


# --------------------------------------------------------------------------------------------
# The Predictor's maps: the model's default, any spec, at the original resolution
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(37, 101), (255, 64), (64, 64), (97, 131)])
@pytest.mark.parametrize(
    "method", [None, "gradcam@blocks.2+bn2", "hirescam", "gradcam:contrast", "occlusion"]
)
def test_maps_are_in_unit_range_at_the_original_resolution(
    tiny_model_file: Path, shape: tuple[int, int], method: str | None
) -> None:
    from trainer.predict import Predictor

    predictor = Predictor(tiny_model_file, device="cpu")
    grey = np.random.default_rng(sum(shape)).random(shape).astype(np.float32)
    cam = predictor.explain(grey, method, target_class=1)
    assert cam.shape == shape and cam.dtype == np.float32
    assert np.isfinite(cam).all() and cam.min() >= 0.0 and cam.max() <= 1.0


def test_an_unknown_layer_is_a_clear_error(tiny_model_file: Path) -> None:
    from trainer.predict import Predictor

    predictor = Predictor(tiny_model_file, device="cpu")
    with pytest.raises(ValueError, match=r"no layer blocks\.99"):
        predictor.explain(np.zeros((64, 64), np.float32), "gradcam@blocks.99")


# --------------------------------------------------------------------------------------------
# The benchmark at toy size, and what it records in a model file
# --------------------------------------------------------------------------------------------


@pytest.fixture
def toy_boxes(tmp_path: Path) -> tuple[Path, Path]:
    """Six generated 'slices' (two per tumour class) with a bright lesion in a known box."""
    data = tmp_path / "data"
    entries = {}
    rng = np.random.default_rng(0)
    for label in ("glioma", "meningioma", "pituitary"):
        for i in range(2):
            h, w = (96, 120) if i else (80, 80)
            grey = head(h, w)
            x0, y0 = int(rng.integers(30, 60)), int(rng.integers(25, 45))
            grey[y0 : y0 + 12, x0 : x0 + 12] = 1.0
            rel = f"Testing/{label}/{label}_{i}.png"
            (data / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray((grey * 255).astype(np.uint8)).save(data / rel)
            box = [100 * x0 / w, 100 * y0 / h, 100 * (x0 + 12) / w, 100 * (y0 + 12) / h]
            entries[rel] = {"class": label, "certainty": "low" if i else "high", "boxes": [box]}
    return data, write_boxes(tmp_path / "boxes.json", entries)


def test_benchmark_prints_the_table_and_records_the_chosen_map(
    tmp_path: Path, tiny_model_file: Path, toy_boxes: tuple[Path, Path]
) -> None:
    data, boxes = toy_boxes
    recorded = tmp_path / "recorded.safetensors"
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "cam_localization.py"),
            "--boxes",
            str(boxes),
            "--data",
            str(data),
            "--model",
            str(tiny_model_file),
            "--variants",
            "hirescam@bn2",
            "gradcam",
            "occlusion",
            "--dependence",
            "--json",
            str(tmp_path / "scores.json"),
            "--record",
            str(recorded),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    table = out.stdout
    for variant in ("hirescam@bn2", "gradcam", "occlusion"):
        assert f"| {variant} " in table
    assert "drop: lesion filled" in table and "| pituitary " in table
    scores = json.loads((tmp_path / "scores.json").read_text())
    entry = scores["variants"]["hirescam@bn2"]
    assert entry["all"]["n"] == 6 and entry["all_without_low"]["n"] == 3
    for name in ("glioma", "meningioma", "pituitary"):
        assert 0.0 <= entry[name]["pointing"] <= 1.0 and entry[name]["n"] == 2
    assert set(scores["dependence"]) == {"glioma", "meningioma", "pituitary"}

    # The first variant, and its scores, now travel with the model
    from trainer.modelfile import read_metadata
    from trainer.predict import Predictor

    meta = read_metadata(recorded)
    assert Predictor(recorded, device="cpu").map_spec == MapSpec("hirescam", ("bn2",))
    assert Predictor(tiny_model_file, device="cpu").map_spec == DEFAULT_MAP
    local = read_localization(meta)
    assert set(local) == {"glioma", "meningioma", "pituitary"}
    hits = round(entry["glioma"]["pointing"] * 2)
    assert local["glioma"].hits == hits and local["glioma"].n == 2
    assert f"in {hits} of 2 \u201cglioma\u201d slices" in localization_sentence(meta, "glioma")
    assert "not measured" in localization_sentence(meta, "notumor")
    assert "not been measured" in localization_sentence({}, "glioma")


def test_same_default_map_in_predict_cam_dir(tmp_path: Path, tiny_model_file: Path) -> None:
    """``brainmri predict --cam-dir`` draws the model's own map: with a model that records
    EigenCAM as its map, the PNG is exactly the EigenCAM overlay."""
    from trainer.cam.overlay import render_overlay
    from trainer.cli.main import main
    from trainer.io import read_grey
    from trainer.modelfile import with_metadata
    from trainer.predict import Predictor

    model = with_metadata(
        tiny_model_file, tmp_path / "eigen.safetensors", {"cam": MapSpec("eigencam").to_json()}
    )
    image = ROOT / "tests" / "data" / "mini" / "Testing" / "glioma" / "Te-glTr_0000.jpg"
    assert (
        main(["predict", str(image), "--model", str(model), "--cam-dir", str(tmp_path / "c")]) == 0
    )
    png = np.asarray(Image.open(next((tmp_path / "c").glob("*.png"))).convert("RGB"))
    grey = read_grey(image)
    predictor = Predictor(model, device="cpu")
    expected = render_overlay(grey, predictor.explain(grey, "eigencam"), opacity=0.6)
    np.testing.assert_array_equal(png, expected)
    other = render_overlay(grey, predictor.explain(grey, "gradcam"), opacity=0.6)
    assert not np.array_equal(png, other)
