"""Issue 23: what brainmri writes is never forged, never invalid, never a live formula.

Strict JSON (NaN is null), CSV cells neutralised against spreadsheet formulas, names escaped
in text lines and in the PDF report.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from trainer.cli.main import main as cli
from trainer.csv_cells import FORMULA_START, csv_table, read_cell, safe_cell
from trainer.jsontext import json_text
from trainer.names import printable

MINI = Path(__file__).parent / "data" / "mini"
HOSTILE = ["=cmd|' /C calc'!A0", '=HYPERLINK("http://x.example/?q=1")', "+1+2", "@SUM(A1)", "-2+3"]


def _strict(text: str):
    def refuse(name: str):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_json_files_and_output_are_strict(tmp_path: Path) -> None:
    from trainer.atomic import write_json

    value = {"p": float("nan"), "q": [float("inf"), np.float32("nan"), 0.5], "r": np.int64(3)}
    assert _strict(json_text(value)) == {"p": None, "q": [None, None, 0.5], "r": 3}
    write_json(tmp_path / "h.json", [{"val_loss": math.nan, "loss": 1.0}])
    assert _strict((tmp_path / "h.json").read_text()) == [{"val_loss": None, "loss": 1.0}]


def test_predict_json_is_strict_even_for_nan_probabilities(
    tiny_model_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from trainer.predict import PredictionRow

    real = PredictionRow.to_json

    def with_nan(self):  # a model whose outputs overflow: the JSON must stay JSON
        row = real(self)
        row["probabilities"] = {c: math.nan for c in row["probabilities"]}
        row["ood_score"] = math.inf
        return row

    monkeypatch.setattr(PredictionRow, "to_json", with_nan)
    image = next(MINI.rglob("*.jpg"))
    assert cli(["predict", "--model", str(tiny_model_file), str(image), "--json"]) == 0
    rows = _strict(capsys.readouterr().out)
    assert set(rows[0]["probabilities"].values()) == {None} and rows[0]["ood_score"] is None


def test_every_csv_cell_is_safe_from_formulas() -> None:
    from trainer.prediction_table import prediction_csv

    classes = ['=HYPERLINK("http://evil")', "@x", "notumor"]
    rows = [
        {
            "path": path,
            "slice": None,
            "predicted_class": classes[0],
            "probabilities": {c: 0.25 for c in classes},
            "ood": False,
            "ood_score": -1.5,
            "warnings": ["-warn", "\tx"],
            "error": "+err",
            "cam": "\rcam.png",
        }
        for path in HOSTILE
    ]
    table = list(csv.reader(io.StringIO(prediction_csv(rows, classes))))
    for row in table:
        for cell in row:
            number = _is_float(cell)
            assert number or not cell.startswith(FORMULA_START), cell
    assert table[1][0] == "'" + HOSTILE[0] and table[1][2].startswith("'=HYPERLINK")
    assert table[1][table[0].index("ood_score")] == "-1.5000"  # a number stays a number
    assert [read_cell(r[0]) for r in table[1:]] == HOSTILE  # our readers get the name back


def test_history_and_pairs_tables_use_the_same_rule(tmp_path: Path) -> None:
    assert safe_cell("-0.25") == "-0.25" and safe_cell(-3) == -3
    assert safe_cell("-1+cmd") == "'-1+cmd" and read_cell("'-1+cmd") == "-1+cmd"
    text = csv_table(["path", "n"], [["=1+1", 2], ["@a", "-7"]])
    assert text.splitlines()[1:] == ["'=1+1,2", "'@a,-7"]


def test_predict_csv_with_formula_file_names(
    tmp_path: Path, tiny_model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit's case: ``cd DIR && brainmri predict . --csv o.csv`` on hostile names."""
    image = next(MINI.rglob("*.jpg"))
    for name in ("=cmd|x.jpg", "+sum.jpg", "@at.jpg", "-dash.jpg", "\tTab.jpg"):
        shutil.copy(image, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    assert cli(["predict", "--model", str(tiny_model_file), ".", "--csv", "o.csv"]) == 0
    text = (tmp_path / "o.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) == 6
    for row in rows[1:]:
        assert not row[0].startswith(FORMULA_START), row[0]


def test_text_output_cannot_forge_a_result_line(
    tmp_path: Path, tiny_model_file: Path, capsys: pytest.CaptureFixture
) -> None:
    image = next(MINI.rglob("*.jpg"))
    spoof = tmp_path / "spoof.jpg: notumor 99.9% (glioma 0.1%)\nzz.jpg"
    shutil.copy(image, spoof)
    assert cli(["predict", "--model", str(tiny_model_file), str(spoof)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len([line for line in lines if not line.startswith("    warning:")]) == 2
    assert "\\nzz.jpg" in lines[0] and not any(line.startswith("zz.jpg") for line in lines)
    assert printable("a\x1b[31mb\u2028c\udcff") == "a\\x1b[31mb\\u2028c\\udcff"


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_pdf_names_stay_on_their_line(tmp_path: Path) -> None:
    from test_report import model_meta

    from trainer import NOT_FOR_CLINICAL_USE
    from trainer.prediction_row import Prediction
    from trainer.report import _build_figure, write_pdf_report

    grey = np.zeros((32, 32), np.float32)
    pred = Prediction("x", None, "glioma", {"glioma": 0.9, "notumor": 0.1}, False, None)
    meta = model_meta(name="m\nNOT A MODEL", backbone="b")
    from datetime import datetime

    for label in (
        f"x.dcm\n{NOT_FOR_CLINICAL_USE} -- ignore this line\ny",
        "n" * 251 + ".jpg",
        "caf\udce9.jpg",  # a Latin-1 byte in a file name, as os.listdir gives it
    ):
        fig = _build_figure(grey, None, pred, meta, label, ["Window: " + label], {}, datetime.now())
        texts = [t.get_text() for t in fig.texts]
        assert texts.count(NOT_FOR_CLINICAL_USE) == 2  # banner and footer, on their own
        for text in texts:
            if "Source" in text or "Window" in text or "NOT A MODEL" in text:
                assert "\n" not in text and len(text) <= 110, text
        out = write_pdf_report(tmp_path / "r.pdf", grey, None, pred, meta, label)
        assert out.read_bytes().startswith(b"%PDF")


def test_model_file_metadata_is_written_as_strict_json(tmp_path: Path) -> None:
    """A metric that is NaN (an empty split) or infinite is written as null, never as the
    bare ``NaN`` that no other JSON reader accepts; the file still loads."""
    from safetensors import safe_open

    from trainer.model import build_model
    from trainer.modelfile import META_KEY, base_metadata, read_metadata, save_model_file

    model = build_model("test_efficientnet", 2).eval()
    meta = base_metadata(
        "test_efficientnet", ["a", "b"], 64, model.head_cfg, (0.5,) * 3, (0.2,) * 3
    )
    meta["metrics"] = {"val": {"loss": math.nan, "ece": np.float32("inf")}, "test": {}}
    path = save_model_file(tmp_path / "m.safetensors", model, meta)
    with safe_open(str(path), framework="pt") as fh:
        raw = fh.metadata()[META_KEY]
    assert _strict(raw)["metrics"]["val"] == {"loss": None, "ece": None}
    assert read_metadata(path)["metrics"]["val"]["loss"] is None


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_model_file_metadata_with_nan_or_infinity_is_refused(
    tiny_model_file: Path, tmp_path: Path, token: str
) -> None:
    from safetensors import safe_open
    from safetensors.torch import save_file

    from trainer.errors import ModelFileError
    from trainer.modelfile import META_KEY, parse_metadata, read_metadata

    with safe_open(str(tiny_model_file), framework="pt") as fh:
        raw = fh.metadata()[META_KEY]
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (not a dict)
    meta = json.loads(raw)
    meta["metrics"] = {"test": {"loss": 0.123456}}
    forged = json.dumps(meta).replace("0.123456", token)
    bad = tmp_path / "forged.safetensors"
    save_file(tensors, str(bad), metadata={META_KEY: forged})
    with pytest.raises(ModelFileError, match="not strict JSON") as caught:
        read_metadata(bad)
    assert str(bad) in str(caught.value)
    with pytest.raises(ModelFileError, match="not strict JSON"):
        parse_metadata(forged, bad)
