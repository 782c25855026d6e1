"""Reading a whole study: series grouped by study, titled without identifiers, duplicates
collapsed, mixed series split, DICOMDIR exports opened, and the series call of the slices."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicom_factory import make_dicom, make_non_image, make_series, pydicom_sample
from pydicom.fileset import FileSet
from pydicom.uid import generate_uid

import trainer.io as tio
from trainer.cli.main import main as cli
from trainer.io.geometry import SliceGeometry, direction_letters
from trainer.io.series import series_title
from trainer.prediction_table import prediction_csv
from trainer.series_call import CLASS, NOT_MRI, UNSURE, series_call, slice_call

CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]
PATIENT = {"patient_name": "Doe^Jane", "patient_id": "SECRET123"}
SECRETS = ("Doe", "Jane", "SECRET123", "19700101", "20240102", "ACC0001", "Test Hospital")
DESCRIPTIONS = ("T1", "FLAIR", "T2 COR")


def _study(folder: Path, number: int) -> tuple[str, list[list[Path]]]:
    """One study of three series (3, 2 and 4 slices), all with the same patient."""
    uid = generate_uid()
    extra = {"StudyInstanceUID": uid, "StudyTime": "101010", "StudyID": f"S{number}"}
    series = []
    for k, (count, text) in enumerate(zip((3, 2, 4), DESCRIPTIONS, strict=True)):
        volume = np.stack([np.full((8, 8), 100 * s + number, np.uint16) for s in range(count)])
        series.append(
            make_series(
                folder / f"study{number}" / f"series{k + 1}",
                volume,
                series_number=k + 1,
                series_description=text,
                extra=extra,
                **PATIENT,
            )
        )
    return uid, series


@pytest.fixture
def two_studies(tmp_path: Path) -> Path:
    root = tmp_path / "export"
    _study(root, 1)
    _study(root, 2)
    return root


def _no_secrets(text: str) -> None:
    for secret in SECRETS:
        assert secret.lower() not in text.lower(), f"{secret!r} in {text!r}"


def test_two_studies_of_three_series_are_grouped_and_titled(two_studies: Path) -> None:
    scans, errors = tio.load_paths([two_studies])
    assert errors == []
    assert len(scans) == 6
    studies: dict[str, list[str]] = {}
    for scan in scans:
        assert scan.series is not None and scan.kind == "dicom-series"
        studies.setdefault(scan.series.study, []).append(scan.description)
    assert len(studies) == 2
    for titles in studies.values():
        assert titles == [
            "MR series 1 – T1 (3 slices)",
            "MR series 2 – FLAIR (2 slices)",
            "MR series 3 – T2 COR (4 slices)",
        ]


def test_titles_and_study_keys_hold_no_identifier(two_studies: Path) -> None:
    scans, _ = tio.load_paths([two_studies])
    uids = set()
    for path in two_studies.rglob("*.dcm"):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        uids |= {ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID}
    for scan in scans:
        assert scan.series is not None
        shown = f"{scan.description} {scan.series} {scan.series.study}"
        _no_secrets(shown)
        assert not any(uid in shown for uid in uids)


def test_a_description_holding_the_patients_name_is_left_out_of_the_title(
    tmp_path: Path,
) -> None:
    make_series(
        tmp_path / "s", np.zeros((2, 4, 4), np.uint16), series_description="Jane T1", **PATIENT
    )
    (scan,), _ = tio.load_paths([tmp_path / "s"])
    assert scan.description == "MR series 1 (2 slices)"


def test_series_title_rule() -> None:
    assert series_title("4", "T1 AX", "MR", 24) == "MR series 4 – T1 AX (24 slices)"
    assert series_title("", "", "", 1) == "DICOM series (1 slice)"
    assert series_title("7", "", "CT", 3, 2, 2) == "CT series 7 – stack 2 of 2 (3 slices)"
    assert series_title("7", "T2", "", 3, 1, 2) == "Series 7 – T2, stack 1 of 2 (3 slices)"


def test_duplicate_instances_are_one_slice(tmp_path: Path) -> None:
    paths = make_series(tmp_path / "a", np.zeros((3, 4, 4), np.uint16))
    copies = tmp_path / "a" / "copies"
    copies.mkdir()
    for path in paths:  # the same SOP Instance UIDs again, as another file each
        shutil.copy(path, copies / f"copy_{path.name}")
    (scan,), errors = tio.load_paths([tmp_path / "a"])
    assert errors == []
    assert len(scan.slices) == 3
    assert scan.series is not None
    assert scan.series.notes == ("3 duplicate copies of the same images left out",)


def test_pydicoms_eight_encodings_of_one_image_are_one_slice(tmp_path: Path) -> None:
    """pydicom ships MR_small in several transfer syntaxes: one SOP Instance UID."""
    names = ["MR_small.dcm", "MR_small_RLE.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm"]
    for name in names:
        shutil.copy(pydicom_sample(name), tmp_path / name)
    scans, errors = tio.load_paths([tmp_path])
    assert errors == []
    assert len(scans) == 1 and len(scans[0].slices) == 1


def test_a_series_of_mixed_sizes_becomes_separate_stacks(tmp_path: Path) -> None:
    uid = generate_uid()
    folder = tmp_path / "mixed"
    make_series(folder, np.zeros((3, 8, 8), np.uint16), series_uid=uid, series_description="T1")
    make_series(
        folder,
        np.ones((2, 3, 3), np.uint16),
        series_uid=uid,
        series_description="T1",
        names=["small_0.dcm", "small_1.dcm"],
    )
    scans, errors = tio.load_paths([folder])
    assert errors == []
    assert [scan.description for scan in scans] == [
        "MR series 1 – T1, stack 1 of 2 (3 slices)",
        "MR series 1 – T1, stack 2 of 2 (2 slices)",
    ]
    assert {scan.slices[0].data.shape for scan in scans} == {(8, 8), (3, 3)}
    for scan in scans:
        assert scan.series is not None
        assert "2 different sizes or orientations" in scan.series.notes[0]


def test_oblique_orientation_gives_markers_and_order(tmp_path: Path) -> None:
    c, s = round(math.cos(math.radians(40)), 6), round(math.sin(math.radians(40)), 6)
    oblique = (c, s, 0.0, 0.0, 0.0, -1.0)  # rows towards left-posterior, columns downwards
    paths = make_series(
        tmp_path / "obl", np.zeros((3, 4, 4), np.uint16), orientation=oblique, instances=[None] * 3
    )
    normal = np.cross(oblique[:3], oblique[3:])
    for k, path in enumerate(paths):  # slices along the normal, written in reverse
        ds = pydicom.dcmread(path)
        ds.ImagePositionPatient = [round(float(v), 4) for v in normal * (10.0 * (2 - k))]
        ds.save_as(path)
    (scan,), errors = tio.load_paths([tmp_path / "obl"])
    assert errors == []
    geometry = scan.slices[0].geometry
    assert geometry is not None
    assert geometry.markers() == {"right": "LP", "left": "RA", "bottom": "I", "top": "S"}
    assert geometry.plane() == "oblique"
    assert [s.source for s in scan.slices] == paths[::-1]  # ordered along the normal
    assert [s.geometry.location() for s in scan.slices] == pytest.approx(
        [0.0, 10.0, 20.0], abs=1e-3
    )
    assert geometry.describe() == "Pos 0.0 mm  ·  Thk 5 mm"
    assert geometry.spacing == (0.5, 0.5)


def test_direction_letters_and_planes() -> None:
    assert direction_letters((1.0, 0.0, 0.0)) == "L"
    assert direction_letters((0.0, -1.0, 0.0)) == "A"
    assert direction_letters((0.0, 0.2, -0.98)) == "I"  # a small tilt stays one letter
    axial = SliceGeometry(row=(1, 0, 0), column=(0, 1, 0))
    assert axial.markers() == {"right": "L", "left": "R", "bottom": "P", "top": "A"}
    assert axial.plane() == "axial"
    coronal = SliceGeometry(row=(1, 0, 0), column=(0, 0, -1))
    assert coronal.plane() == "coronal" and coronal.markers()["top"] == "S"
    assert SliceGeometry().markers() == {} and SliceGeometry().describe() == ""


def _file_set(studies_root: Path, out: Path) -> Path:
    fs = FileSet()
    for path in sorted(studies_root.rglob("*.dcm")):
        fs.add(path)
    fs.write(out)
    # FileSet stages copies in a TemporaryDirectory it never removes itself; left to the
    # garbage collector it warns (ResourceWarning, an error under this suite's settings)
    fs._stage["t"].cleanup()
    return out


def test_a_dicomdir_folder_shows_each_series_once(two_studies: Path, tmp_path: Path) -> None:
    cd = _file_set(two_studies, tmp_path / "cd")
    assert (cd / "DICOMDIR").is_file()
    for given in (cd, cd / "DICOMDIR"):
        scans, errors = tio.load_paths([given])
        assert errors == [], given
        assert sorted(scan.description for scan in scans) == sorted(
            [
                "MR series 1 – T1 (3 slices)",
                "MR series 2 – FLAIR (2 slices)",
                "MR series 3 – T2 COR (4 slices)",
            ]
            * 2
        )
        assert len({scan.series.study for scan in scans if scan.series}) == 2


def test_pydicoms_own_dicomdir_reads_every_image_it_lists() -> None:
    index = pydicom_sample("DICOMDIR")
    scans, errors = tio.load_paths([index])
    assert errors == []
    ds = pydicom.dcmread(index)
    listed = sum(r.DirectoryRecordType == "IMAGE" for r in ds.DirectoryRecordSequence)
    read = sum(len(scan.slices) for scan in scans)
    assert 0 < read <= listed  # duplicates of one instance are one slice
    # the single-file readers still say what a DICOMDIR is
    with pytest.raises(tio.UnreadableInputError, match="DICOMDIR index of other files"):
        tio.read_scan(index)


def test_a_dicomdir_that_lists_nothing_or_escapes_its_folder_is_an_error(
    tmp_path: Path,
) -> None:
    (tmp_path / "empty").mkdir()
    empty = make_non_image(tmp_path / "empty" / "DICOMDIR", "DICOMDIR")
    _, errors = tio.load_paths([empty])
    assert [e.reason for e in errors] == ["a DICOMDIR index that lists no images"]

    (tmp_path / "evil").mkdir()
    make_dicom(tmp_path / "secret.dcm", np.zeros((2, 2), np.uint16))
    index = make_non_image(tmp_path / "evil" / "DICOMDIR", "DICOMDIR")
    ds = pydicom.dcmread(index)
    record = pydicom.Dataset()
    record.DirectoryRecordType = "IMAGE"
    record.ReferencedFileID = ["..", "secret.dcm"]
    ds.DirectoryRecordSequence = [record]
    ds.save_as(index)
    scans, errors = tio.load_paths([index])
    assert scans == []
    assert [e.reason for e in errors] == ["DICOMDIR lists a file outside its folder; not read"]


def test_a_missing_listed_file_is_named(two_studies: Path, tmp_path: Path) -> None:
    cd = _file_set(two_studies, tmp_path / "cd")
    victim = next((cd / "PT000000").rglob("IM000000"))
    victim.unlink()
    _, errors = tio.load_paths([cd / "DICOMDIR"])
    assert [(e.path, e.reason) for e in errors] == [
        (victim, "listed in the DICOMDIR but not found")
    ]


# --- the series call ----------------------------------------------------------------------------


def _p(top: str, p: float, ood: bool = False) -> dict[str, object]:
    rest = (1.0 - p) / (len(CLASSES) - 1)
    return {
        "probabilities": {c: (p if c == top else rest) for c in CLASSES},
        "ood": ood,
    }


def test_slice_call_states() -> None:
    assert slice_call(_p("glioma", 0.97)).state == CLASS
    assert slice_call(_p("glioma", 0.97)).headline() == "glioma 97.0%"
    unsure = slice_call(_p("glioma", 0.48))
    assert unsure.state == UNSURE and unsure.predicted_class is None
    assert unsure.headline() == "Unsure (glioma 48.0% at most)"
    ood = slice_call(_p("notumor", 0.99, ood=True))
    assert ood.state == NOT_MRI and ood.headline() == "Not like a brain MRI"
    assert ood.label == "not like a brain MRI"


def test_a_tumour_on_some_slices_outweighs_no_tumour_on_the_rest() -> None:
    slices = [_p("notumor", 0.95)] * 10 + [_p("glioma", 0.9), _p("glioma", 0.98)] * 2
    call = series_call(slices, CLASSES)
    assert call.state == CLASS and call.predicted_class == "glioma"
    assert call.counts == {"glioma": 4, "meningioma": 0, "notumor": 10, "pituitary": 0}
    assert call.strongest["glioma"].slice == 11 and call.strongest["glioma"].probability == 0.98
    assert call.summary == "glioma on 4 of 14 slices, strongest at slice 12 (98%)"


def test_disagreeing_slices_make_the_series_unsure() -> None:
    slices = [_p("glioma", 0.9)] * 5 + [_p("meningioma", 0.9)] * 4 + [_p("notumor", 0.9)] * 3
    call = series_call(slices, CLASSES)
    assert call.state == UNSURE and call.predicted_class is None
    assert call.summary.startswith("Unsure: slices disagree (glioma on 5, meningioma on 4")


def test_one_confident_slice_is_not_a_finding_and_no_majority_is_unsure() -> None:
    slices = [_p("glioma", 0.99)] + [_p("notumor", 0.9)] * 6 + [_p("notumor", 0.5)] * 3
    assert series_call(slices, CLASSES).predicted_class == "notumor"
    slices = [_p("notumor", 0.9)] * 2 + [_p("glioma", 0.4)] * 4
    call = series_call(slices, CLASSES)
    assert call.state == UNSURE and call.unsure == 4


def test_mostly_out_of_distribution_is_not_a_brain_mri() -> None:
    slices = [_p("glioma", 0.99, ood=True)] * 3 + [_p("glioma", 0.99)] * 2
    call = series_call(slices, CLASSES)
    assert call.state == NOT_MRI and call.not_mri == 3
    assert call.summary == "Not like a brain MRI on 3 of 5 slices"
    assert series_call([], CLASSES).state == NOT_MRI


# --- brainmri predict ---------------------------------------------------------------------------


def test_predict_json_on_a_dicomdir_folder_has_one_series_row_per_series(
    tiny_model_file: Path, two_studies: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cd = _file_set(two_studies, tmp_path / "cd")
    code = cli(["predict", "--model", str(tiny_model_file), str(cd), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    rows = json.loads(out.out)
    series = [r for r in rows if r["kind"] == "series"]
    assert len(series) == 6
    assert sorted(r["slices"] for r in series) == [2, 2, 3, 3, 4, 4]
    assert {r["study"] for r in series} == {1, 2}
    # each series row follows its own slice rows
    position = 0
    for r in rows:
        if r["kind"] == "slice":
            position += 1
            continue
        assert r["kind"] == "series" and r["slices"] == position
        assert sum(r["counts"].values()) + r["unsure"] + r["not_mri"] == r["slices"]
        assert set(r["call"]) == {"state", "predicted_class", "summary"}
        for best in r["strongest"].values():
            assert 0 <= best["slice"] < r["slices"]
        _no_secrets(json.dumps(r))
        position = 0


def test_predict_csv_has_the_same_series_rows(
    tiny_model_file: Path, two_studies: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = ["--model", str(tiny_model_file)]
    assert cli(["predict", *model, str(two_studies), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    out = tmp_path / "p.csv"
    assert cli(["predict", *model, str(two_studies), "--csv", str(out)]) == 0
    with out.open(encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert [r["kind"] for r in table] == [r["kind"] for r in rows]
    for json_row, csv_row in zip(rows, table, strict=True):
        if json_row["kind"] == "series":
            assert csv_row["slices"] == str(json_row["slices"])
            assert csv_row["summary"] == json_row["call"]["summary"]
            assert csv_row["series"] == json_row["series"]
            for c in CLASSES:
                assert csv_row[f"n_{c}"] == str(json_row["counts"][c])
        else:
            assert csv_row["call"] == slice_call(json_row).label
    assert out.read_bytes().decode("utf-8") == prediction_csv(rows, CLASSES)
