"""Issue 14 in the app, offscreen: a panicking decoder and malformed DICOMs carrying
identifiers. The loading thread survives and names the file; no identifier reaches the item
list, the metadata panel, the batch table, the PDF report or the saved settings."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from pydicom.uid import RLELossless

import trainer.io.dicom as tdicom
from desktop_app.main_window import QtMainWindow
from tests.hostile_inputs import SECRETS, good_files, malformed_dicoms, rle_panic
from tests.test_gui_viewer import (  # noqa: F401  (fixtures)
    WAIT_MS,
    no_modal_boxes,
    pdf_text,
    settings,
    window,
)
from tests.test_hostile_inputs import _assert_no_secrets

pytestmark = pytest.mark.gui


def test_a_panicking_decoder_does_not_kill_the_loading_thread(
    qtbot,
    window: QtMainWindow,  # noqa: F811  (the fixture imported above)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(tdicom.PERMISSIVE_PLUGINS, RLELossless, ("pylibjpeg",))
    panic = rle_panic(tmp_path / "panic.dcm")
    good = good_files(tmp_path / "good")[0]
    tab = window.viewer
    tab.open_paths([panic, good])
    qtbot.waitUntil(lambda: tab.item_list.count() == 2, timeout=WAIT_MS)
    texts = [tab.item_list.item(i).text() for i in range(2)]
    assert texts[0].startswith("panic.dcm") and "could not be decoded" in texts[0]
    assert tab.state.items[1].scan is not None


def test_malformed_dicoms_show_no_identifier_anywhere_in_the_app(
    qtbot,
    window: QtMainWindow,  # noqa: F811  (the fixture imported above)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import matplotlib
    from PySide6.QtWidgets import QFileDialog

    files = malformed_dicoms(tmp_path / "m")
    tab = window.viewer
    tab.open_paths(sorted(files.values()))
    qtbot.waitUntil(lambda: tab.item_list.count() == len(files), timeout=WAIT_MS)
    readable = [item for item in tab.state.items if item.scan is not None]
    assert len(readable) == 2
    for i in range(tab.item_list.count()):
        _assert_no_secrets(tab.item_list.item(i).text(), "the item list")
        _assert_no_secrets(tab.item_list.item(i).toolTip(), "a tooltip")
    for item in readable:
        tab.state.select(item)
        qtbot.waitUntil(lambda: tab.is_view_complete(), timeout=WAIT_MS)
        panel = " ".join(f"{k} {v}" for k, v in tab.metadata_panel.rows())
        _assert_no_secrets(panel, "the metadata panel")
        assert "Slice thickness" not in panel or "DOE" not in panel
        pdf = tmp_path / f"{item.name}.pdf"
        monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, p=pdf, **k: (str(p), ""))
        with matplotlib.rc_context({"pdf.compression": 0}):
            worker = tab.export_pdf()
            assert worker is not None
            with qtbot.waitSignal(worker.finished, timeout=WAIT_MS):
                pass
        _assert_no_secrets(pdf_text(pdf), "the PDF report")
    dialog = tab.classify_all()
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.export_button.isEnabled(), timeout=WAIT_MS)
    table = " ".join(
        dialog.table.item(r, c).text()
        for r in range(dialog.table.rowCount())
        for c in range(dialog.table.columnCount())
        if dialog.table.item(r, c) is not None
    )
    _assert_no_secrets(table, "the batch table")
    out = dialog.export_csv(tmp_path / "all.csv")
    assert out is not None
    _assert_no_secrets(out.read_text(encoding="utf-8"), "the batch CSV")
    window.settings.sync()
    settings_file = Path(window.settings.store.fileName())
    _assert_no_secrets(settings_file.read_text(encoding="utf-8", errors="replace"), "settings")
    assert SECRETS  # the identifiers are in the files (see tests/test_hostile_inputs.py)
