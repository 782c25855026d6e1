"""``brainmri predict`` and the Predictor on a folder that mixes everything a user may drop."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from dicom_factory import make_dicom, make_non_image, make_series, pydicom_sample
from PIL import Image

from trainer.cli.main import main as cli
from trainer.io import read_grey
from trainer.predict import Predictor
from trainer.preprocess import to_model_square

MINI = Path(__file__).parent / "data" / "mini"


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    """2 JPEGs, a plain MR DICOM, a compressed one, a 3-frame file, a 4-slice series in
    shuffled order, and 4 broken files."""
    root = tmp_path / "scans"
    root.mkdir()
    jpgs = sorted(MINI.rglob("*.jpg"))[:2]
    for p in jpgs:
        (root / p.name).write_bytes(p.read_bytes())
    grey = (read_grey(jpgs[0]) * 4095).astype(np.uint16)
    make_dicom(root / "plain.dcm", grey, bits_stored=12, window=(2048, 4096))
    (root / "compressed.dcm").write_bytes(pydicom_sample("MR_small_RLE.dcm").read_bytes())
    frames = np.stack([grey[::2, ::2]] * 3)
    make_dicom(root / "multiframe.dcm", frames, bits_stored=12)
    vol = np.stack([(np.full((64, 64), k * 500)).astype(np.uint16) for k in range(4)])
    make_series(
        root / "series", vol, write_order=[2, 0, 3, 1], names=["d.dcm", "b.dcm", "a.dcm", "c.dcm"]
    )
    (root / "empty.jpg").write_bytes(b"")
    good = jpgs[0].read_bytes()
    (root / "truncated.jpg").write_bytes(good[: len(good) // 4])
    (root / "notes.txt").write_text("hello")
    make_non_image(root / "report.dcm", "SR")
    return root


def test_predict_json_on_a_mixed_folder(
    tiny_model_file: Path, mixed_folder: Path, tmp_path: Path, capsys
):
    cams = tmp_path / "cams"
    code = cli(
        [
            "predict",
            "--model",
            str(tiny_model_file),
            str(mixed_folder),
            "--json",
            "--cam-dir",
            str(cams),
        ]
    )
    assert code == 1  # some inputs failed, the others were processed
    rows = json.loads(capsys.readouterr().out)
    ok = [r for r in rows if r["kind"] == "slice"]
    failed = {Path(r["path"]).name: r["error"] for r in rows if r["error"]}
    # 2 jpg + plain + compressed + 3 frames + 4 series slices
    assert len(ok) == 2 + 1 + 1 + 3 + 4
    (series,) = [r for r in rows if r["kind"] == "series"]  # after the series' slice rows
    last = max(i for i, r in enumerate(rows) if r["kind"] == "slice" and "series" in r["path"])
    assert rows.index(series) == last + 1
    assert series["slices"] == 4 and series["series"] == "MR series 1 – T1 AX (4 slices)"
    assert set(failed) == {"empty.jpg", "truncated.jpg", "notes.txt", "report.dcm"}
    assert all(reason for reason in failed.values())
    for r in ok:
        assert set(r) >= {
            "path",
            "slice",
            "predicted_class",
            "probabilities",
            "ood",
            "warnings",
            "error",
        }
        assert sum(r["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
        assert r["predicted_class"] == max(r["probabilities"], key=r["probabilities"].get)
        assert isinstance(r["ood"], bool)
    assert sorted(r["slice"] for r in ok if r["path"].endswith("multiframe.dcm")) == [0, 1, 2]
    assert [r["slice"] for r in ok if "series" in r["path"]] == [0, 1, 2, 3]
    pngs = sorted(cams.glob("*.png"))
    assert len(pngs) == len(ok)  # one overlay per slice
    with Image.open(pngs[0]) as im:
        assert im.mode == "RGB"


def test_predict_csv_and_exit_zero_when_all_read(tiny_model_file: Path, tmp_path: Path, capsys):
    out = tmp_path / "p.csv"
    jpgs = sorted(MINI.rglob("*.jpg"))[:3]
    assert (
        cli(["predict", "--model", str(tiny_model_file), *map(str, jpgs), "--csv", str(out)]) == 0
    )
    with out.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3
    assert {"p_glioma", "p_meningioma", "p_notumor", "p_pituitary", "ood"} <= set(rows[0])


def test_the_viewer_exports_the_same_table_as_the_cli(
    tiny_model_file: Path, tmp_path: Path, capsys
):
    """One definition of the columns: the viewer's table of the rows ``--json`` gives is the
    CLI's ``--csv`` table, after a note line."""
    from desktop_app.viewer.export import csv_text

    out = tmp_path / "p.csv"
    inputs = [str(p) for p in sorted(MINI.rglob("*.jpg"))[:2]]
    model = ["--model", str(tiny_model_file)]
    assert cli(["predict", *model, *inputs, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert cli(["predict", *model, *inputs, "--csv", str(out)]) == 0
    cli_table = out.read_bytes().decode("utf-8")
    note, viewer_table = csv_text(rows, ["glioma", "meningioma", "notumor", "pituitary"]).split(
        "\n", 1
    )
    assert note.startswith("# ") and "clinical" in note
    assert viewer_table == cli_table


def test_predict_without_model_says_what_to_do(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("BRAINMRI_ASSETS", str(tmp_path / "nothing"))
    code = cli(["predict", str(next(MINI.rglob("*.jpg")))])
    assert code == 2
    assert "--model" in capsys.readouterr().err


def test_predictor_matches_training_preprocessing_and_tta(tiny_model_file: Path):
    pred = Predictor(tiny_model_file, device="cpu")
    path = next(MINI.rglob("*.jpg"))
    grey = read_grey(path)
    x = pred.to_input(grey)
    assert x.shape == (1, 3, 64, 64)
    square = to_model_square(grey, 64).astype(np.float32) / 255
    expected = (square - 0.485) / 0.229  # channel 0 with ImageNet statistics
    assert np.allclose(x[0, 0].numpy(), expected, atol=1e-5)
    p1, s1 = pred.predict_arrays([grey])
    assert p1.shape == (1, 4) and s1 is not None and s1.shape == (1,)
    pred_tta = Predictor(tiny_model_file, device="cpu", tta=True)
    p2, _ = pred_tta.predict_arrays([grey])
    assert np.isclose(p2.sum(), 1.0)
    cam = pred.explain(grey, "gradcam")
    assert cam.shape == grey.shape and np.isfinite(cam).all()
    assert cam.min() >= 0.0 and cam.max() <= 1.0


def test_channels_last_gives_the_same_answers(tiny_model_file: Path):
    """The Predictor runs the model channels-last (faster on a CPU); the probabilities and
    the out-of-distribution scores are those of the plain contiguous model."""
    import torch

    from trainer.metrics import softmax
    from trainer.modelfile import load_model_file

    pred = Predictor(tiny_model_file, device="cpu")
    assert pred.channels_last
    assert next(pred.model.parameters()).is_contiguous(memory_format=torch.channels_last)
    plain = load_model_file(tiny_model_file)
    greys = [read_grey(p) for p in sorted(Path(__file__).parent.glob("data/mini/Testing/*/*"))]
    probs, scores = pred.predict_arrays(greys)
    x = pred._batch([to_model_square(g, pred.input_size) for g in greys])
    with torch.inference_mode():
        logits, emb = plain.model(x, return_embedding=True)
    assert probs == pytest.approx(softmax(logits.numpy(), plain.temperature), abs=1e-5)
    assert scores == pytest.approx(plain.ood.score(emb.numpy()), rel=1e-4, abs=1e-4)
