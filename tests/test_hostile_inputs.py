"""Issue 14: hostile input never crashes, hangs, exhausts memory or leaks a patient's name.

One section per point of the issue; each test failed before the fix. The inputs come from
``tests/hostile_inputs.py`` (small versions: the memory tests check that decoding is lazy and
that nothing is held, not how many bytes a process uses).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import sys
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.uid import RLELossless

import trainer.io as tio
import trainer.io.dicom as tdicom
from tests.dicom_factory import make_dicom
from tests.hostile_inputs import (
    SECRETS,
    good_files,
    malformed_dicoms,
    many_frames,
    many_pages,
    odd_paths,
    rle_panic,
)
from trainer.cli.main import main as cli
from trainer.io.guard import guarded

MINI = Path(__file__).parent / "data" / "mini"


def _assert_no_secrets(text: str, where: str) -> None:
    for secret in SECRETS:  # as a word: "does" is not "DOE"
        pattern = rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])"
        assert re.search(pattern, text, re.IGNORECASE) is None, f"{secret!r} leaked into {where}"


def _predict_json(model: Path, paths: list[Path], capsys: pytest.CaptureFixture) -> tuple:
    code = cli(["predict", "--model", str(model), *map(str, paths), "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


# --- 1. a decoder that panics loses one file, never the batch ------------------------------------


@pytest.fixture
def rle_plugin_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the Rust RLE plugin, whose panic the mutant triggers (pydicom's own decoder, the
    fallback, copes with the mutant)."""
    monkeypatch.setitem(tdicom.PERMISSIVE_PLUGINS, RLELossless, ("pylibjpeg",))


def test_a_rust_panic_is_a_per_file_error(tmp_path: Path, rle_plugin_only: None) -> None:
    panic = rle_panic(tmp_path / "panic.dcm")
    with pytest.raises(tio.UnreadableInputError) as caught:
        tio.read_scan(panic)
    assert caught.value.path == panic
    assert caught.value.reason == "DICOM pixel data could not be decoded (PanicException)"
    good = good_files(tmp_path / "good")
    scans, errors = tio.load_paths([tmp_path])
    assert [e.path for e in errors] == [panic]
    assert {s.source for s in scans} >= set(good[:2])


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom's RLE decoder notes the damage
def test_the_fallback_decoder_reads_the_file_the_rust_one_panics_on(tmp_path: Path) -> None:
    scan = tio.read_scan(rle_panic(tmp_path / "panic.dcm"))
    assert scan.slices[0].data.shape == (64, 64)


def test_predict_keeps_every_good_result_past_a_panic(
    tmp_path: Path, tiny_model_file: Path, rle_plugin_only: None, capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "in"
    good = good_files(folder)
    panic = rle_panic(folder / "panic.dcm")
    code, rows, err = _predict_json(tiny_model_file, [folder], capsys)
    assert code == 1
    assert {Path(r["path"]) for r in rows if r["error"] is None} == set(good)
    assert [(Path(r["path"]), r["error"]) for r in rows if r["error"]] == [
        (panic, "DICOM pixel data could not be decoded (PanicException)")
    ]
    assert "PanicException" in err


class _NativeCrash(BaseException):
    """What a native plugin may raise: not an ``Exception``."""


def test_the_guard_turns_any_failure_but_an_interrupt_into_an_error(tmp_path: Path) -> None:
    for failure in (_NativeCrash("x"), RecursionError(), MemoryError(), KeyError("DOE^JANE")):
        with pytest.raises(tio.UnreadableInputError) as caught, guarded(tmp_path, "broken"):
            raise failure
        assert caught.value.reason == f"broken ({type(failure).__name__})"
        _assert_no_secrets(str(caught.value), "the reason")
    for stop in (KeyboardInterrupt(), SystemExit(3)):
        with pytest.raises(type(stop)), guarded(tmp_path):
            raise stop


def test_check_data_and_training_readers_go_through_the_guard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainer.data.discovery import discover
    from trainer.data.validation import inspect_files

    for cls in ("glioma", "notumor"):
        (tmp_path / "data" / cls).mkdir(parents=True)
    path = make_dicom(tmp_path / "data" / "glioma" / "a.dcm", np.eye(4, dtype=np.uint16))
    make_dicom(tmp_path / "data" / "notumor" / "b.dcm", np.eye(4, dtype=np.uint16))

    def crash(*_args: object, **_kwargs: object) -> None:
        raise _NativeCrash("native decoder died")

    monkeypatch.setattr(tdicom._FrameDecoder, "decode", crash)
    infos = inspect_files(discover(tmp_path / "data").samples)
    assert [i.reason for i in infos] == ["DICOM image could not be read (_NativeCrash)"] * 2
    with pytest.raises(tio.UnreadableInputError, match="_NativeCrash"):
        tio.read_grey(path)  # the training loader's reader


# --- 2 and 3. malformed DICOMs never show an identifier --------------------------------------


def test_malformed_dicoms_show_no_identifier(tmp_path: Path) -> None:
    files = malformed_dicoms(tmp_path / "m")
    scans, errors = tio.load_paths([tmp_path / "m"])
    assert {e.path for e in errors} == {
        files["long_modality"],
        files["long_series_description"],
        files["vr_byte"],
    }
    for error in errors:
        _assert_no_secrets(str(error), "an error")
    assert {s.source for s in scans} == {files["ds_name"], files["cs_name"]}
    for scan in scans:
        _assert_no_secrets(scan.description, "a description")
        _assert_no_secrets(repr(scan.slices[0].meta), "the metadata")
    meta = next(s for s in scans if s.source == files["ds_name"]).slices[0].meta
    # a DS holding a name is not a number: not shown at all ("Slice thickness DOE^JANE mm")
    assert "Slice thickness" not in meta and "Window" not in meta
    assert "Spacing between slices" not in meta
    assert meta["Modality"] == "MR" and meta["Pixel spacing"] == "0.5 × 0.5 mm"
    for path in files.values():  # the identifiers are in the files, just never shown
        assert b"DOE^JANE" in path.read_bytes()


def test_values_must_parse_as_their_declared_vr(tmp_path: Path) -> None:
    from tests.hostile_inputs import corrupt_length, identified_dicom

    path = corrupt_length(identified_dicom(tmp_path / "a.dcm"), "SeriesNumber", "IS", 12)
    ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    meta = tio.display_metadata(ds)
    assert "Series number" not in meta
    _assert_no_secrets(repr(meta), "the metadata")
    _assert_no_secrets(repr(tio.display_metadata(ds)), "the metadata")


def test_predict_outputs_hold_no_identifier(
    tmp_path: Path, tiny_model_file: Path, capsys: pytest.CaptureFixture
) -> None:
    from trainer.predict import Predictor
    from trainer.report import write_pdf_report

    folder = tmp_path / "in"
    malformed_dicoms(folder)
    code, rows, err = _predict_json(tiny_model_file, [folder], capsys)
    assert code == 1 and len(rows) == 5
    _assert_no_secrets(json.dumps(rows), "the JSON")
    _assert_no_secrets(err, "stderr")
    out_csv = tmp_path / "p.csv"
    cli(["predict", "--model", str(tiny_model_file), str(folder), "--csv", str(out_csv)])
    _assert_no_secrets(out_csv.read_text(encoding="utf-8"), "the CSV")
    _assert_no_secrets("".join(capsys.readouterr()), "the console")
    # the PDF report of each readable one, as the app writes it (identifiers not asked for)
    import matplotlib

    predictor = Predictor(tiny_model_file, device="cpu")
    scans, _ = tio.load_paths([folder])
    for scan in scans:
        slc = scan.slices[0]
        pred = predictor.predict_slices([slc])[0]
        pdf = tmp_path / f"{scan.source.stem}.pdf"
        with matplotlib.rc_context({"pdf.compression": 0}):
            write_pdf_report(
                pdf,
                slc.render(),
                None,
                pred,
                predictor.info,
                scan.description,
                [f"{k}: {v}" for k, v in slc.meta.items()],
            )
        _assert_no_secrets(pdf.read_bytes().decode("latin-1"), "the PDF")


# --- 4. check-data on readable DICOMs ----------------------------------------------------------


def test_check_data_on_a_folder_of_dicoms(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from trainer.data.duplicates import phash

    root = tmp_path / "data"
    for cls in ("glioma", "notumor"):
        (root / cls).mkdir(parents=True)
        for k in range(3):
            pixels = (np.arange(64 * 64).reshape(64, 64) * (k + 1) % 4096).astype(np.uint16)
            make_dicom(root / cls / f"{k}.dcm", pixels, bits_stored=12)
    assert (
        cli(["check-data", str(root), "--split", "fraction", "--val-fraction", "0.3", "--json"])
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["unreadable"] == []
    # the hash of a DICOM is the hash of what the reader shows
    assert phash(root / "glioma" / "0.dcm") == phash(tio.read_grey(root / "glioma" / "0.dcm"))


def test_phash_of_an_image_is_unchanged() -> None:
    import imagehash

    from trainer.data.duplicates import phash

    for path in sorted(MINI.rglob("*.jpg"))[:4]:
        with Image.open(path) as im:
            expected = int(str(imagehash.phash(im.convert("L"), hash_size=8)), 16)
        assert phash(path) == expected


# --- 5. odd paths ------------------------------------------------------------------------------

#: Folders this deep, walked with the recursion limit set below it: ``os.walk`` and
#: ``Path.rglob`` recurse once per level and raised RecursionError (1,100 levels in the issue;
#: fewer here, so that pytest's own clean-up, which recurses too, can remove them).
DEPTH = 300


@contextlib.contextmanager
def _shallow_stack() -> Iterator[None]:
    saved = sys.getrecursionlimit()
    sys.setrecursionlimit(_frames() + DEPTH // 2)
    try:
        yield
    finally:
        sys.setrecursionlimit(saved)


def _frames() -> int:
    frame, count = sys._getframe(), 0
    while frame is not None:
        frame, count = frame.f_back, count + 1
    return count


def _bottom(folder: Path) -> Path:
    while (folder / "deep").is_dir():
        folder = folder / "deep"
    return folder


def _finishes(work: Any) -> Any:
    """``work()`` in a thread, so that a regression that blocks on a pipe fails this test
    instead of hanging the suite (a hang guard, not a time measurement)."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = work()
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(300)
    assert not thread.is_alive(), "blocked"
    if "error" in result:
        raise result["error"]
    return result["value"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and symlinks")
def test_odd_paths_are_errors_or_skipped(tmp_path: Path) -> None:
    paths = odd_paths(tmp_path / "odd", depth=DEPTH)
    Image.new("L", (4, 4)).save(_bottom(paths["deep"]) / "deepest.png")
    with _shallow_stack():
        scans, errors = _finishes(lambda: tio.load_paths([tmp_path / "odd"]))
    assert [s.source.name for s in scans] == [paths["odd_name"].name, "deepest.png"]
    reasons = {e.path.name: e.reason for e in errors}
    assert reasons == {
        "loop.jpg": "link cannot be followed (missing or loop)",
        "loop_a": "link cannot be followed (missing or loop)",
        "loop_b": "link cannot be followed (missing or loop)",
    }  # and the pipe inside the folder is skipped
    with pytest.raises(tio.UnreadableInputError, match="not a regular file"):
        _finishes(lambda: tio.read_scan(paths["fifo"]))
    _, errors = _finishes(lambda: tio.load_paths([paths["fifo"]]))
    assert [e.reason for e in errors] == [tio.walk.NOT_REGULAR]
    paths["odd_name"].unlink()  # pytest's own reports cannot show this name


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and symlinks")
def test_check_data_walks_deep_folders_and_loops(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from trainer.data.discovery import discover

    root = tmp_path / "data"
    for cls in ("glioma", "notumor"):
        good_files(root / cls)
    odd_paths(root / "glioma" / "odd", depth=DEPTH)
    with _shallow_stack():
        index = _finishes(lambda: discover(root))
    names = sorted(s.path.name for s in index.samples)
    assert "fifo.jpg" not in names and "loop.jpg" not in names
    assert any("loop" in rel for rel, _ in index.skipped)


def test_csv_with_a_file_name_that_is_not_utf8(
    tmp_path: Path, tiny_model_file: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    name = Path(os.fsdecode(bytes(folder) + b"/scan_\xff.png"))
    Image.new("L", (8, 8), 100).save(name, format="PNG")
    out = tmp_path / "p.csv"
    assert cli(["predict", "--model", str(tiny_model_file), str(folder), "--csv", str(out)]) == 0
    assert b"scan_\xff.png" in out.read_bytes()
    assert cli(["predict", "--model", str(tiny_model_file), str(folder)]) == 0  # text output
    assert "scan_\\udcff.png" in capsys.readouterr().out
    name.unlink()  # pytest's own reports cannot show this name


# --- 6. frames and pages are limited ----------------------------------------------------------


def test_frame_and_page_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(tio.UnreadableInputError) as caught:
        tio.read_scan(many_frames(tmp_path / "frames.dcm", 20_000))
    assert caught.value.reason == "file holds 20000 frames, over the limit of 1000 frames per file"
    monkeypatch.setenv("BRAINMRI_MAX_FRAMES", "10")  # as with 3,000 pages and the default
    with pytest.raises(tio.UnreadableInputError) as caught:
        tio.read_scan(many_pages(tmp_path / "pages.tif", 11))
    assert caught.value.reason == "file holds 11 pages, over the limit of 10 pages per file"
    monkeypatch.setenv("BRAINMRI_MAX_FRAMES", "2")
    three = make_dicom(tmp_path / "three.dcm", np.zeros((3, 2, 2), np.uint8))
    with pytest.raises(tio.UnreadableInputError, match="3 frames, over the limit of 2"):
        tio.read_scan(three)
    monkeypatch.setenv("BRAINMRI_MAX_FRAMES", "3")
    assert len(tio.read_scan(three).slices) == 3


# --- 7. one frame at a time --------------------------------------------------------------------


def test_frames_are_decoded_one_at_a_time_when_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_dicom(tmp_path / "frames.dcm", np.arange(5 * 16).reshape(5, 4, 4).astype(np.uint16))
    decoded: list[int] = []
    real = tdicom._as_array

    def spy(path: Path, ds: object, decoder: object, plugin: str, index: int) -> object:
        decoded.append(index)
        array, properties = real(path, ds, decoder, plugin, index)
        assert array.shape == (4, 4)  # one frame, never the volume
        return array, properties

    monkeypatch.setattr(tdicom, "_as_array", spy)
    stream = tio.iter_slices([path])
    first = next(stream)
    assert decoded == [0] and first.index == 0
    assert [s.index for s in stream] == [1, 2, 3, 4] and decoded == [0, 1, 2, 3, 4]


def test_predict_drops_each_slice_before_the_next_is_decoded(
    tmp_path: Path, tiny_model_file: Path
) -> None:
    from trainer.predict import Predictor

    make_dicom(tmp_path / "frames.dcm", np.zeros((20, 32, 32), np.uint16))
    many_pages(tmp_path / "pages.tif", 5)
    alive: list[weakref.ref] = []
    held_at_decode: list[int] = []

    def watched():
        for item in tio.iter_slices([tmp_path]):
            held_at_decode.append(sum(ref() is not None for ref in alive))
            if isinstance(item, tio.ScanSlice):
                alive.append(weakref.ref(item))
            held = [item]
            del item
            yield held.pop()

    predictor = Predictor(tiny_model_file, device="cpu", batch_size=8)
    results = list(predictor.predict_stream(watched()))
    assert len(results) == 25
    assert held_at_decode == [0] * 25  # no earlier slice alive when the next one arrives


def test_render_u8_is_the_quantised_render(tmp_path: Path) -> None:
    from trainer.io.scan import quantise
    from trainer.preprocess import to_model_square

    slices = [
        *tio.read_scan(
            make_dicom(
                tmp_path / "a.dcm",
                np.arange(600, dtype=np.int16).reshape(20, 30),
                slope=2,
                intercept=-100,
                window=(100, 300),
            )
        ).slices,
        *tio.read_scan(
            make_dicom(
                tmp_path / "b.dcm",
                np.arange(600, dtype=np.uint16).reshape(30, 20),
                photometric="MONOCHROME1",
            )
        ).slices,
        *tio.read_scan(good_files(tmp_path / "g")[0]).slices,
    ]
    for slc in slices:
        np.testing.assert_array_equal(slc.render_u8(), quantise(slc.render()))
        window = tio.Window(50.0, 80.0)
        np.testing.assert_array_equal(slc.render_u8(window), quantise(slc.render(window)))
        np.testing.assert_array_equal(
            to_model_square(slc.render_u8(), 24), to_model_square(slc.render(), 24)
        )


# --- the output formats stay valid -------------------------------------------------------------


def test_csv_rows_are_complete(
    tmp_path: Path, tiny_model_file: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "in"
    good_files(folder)
    many_frames(folder / "frames.dcm", 1_500)
    out = tmp_path / "p.csv"
    assert cli(["predict", "--model", str(tiny_model_file), str(folder), "--csv", str(out)]) == 1
    with out.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 5 and sum(bool(r["error"]) for r in rows) == 1
