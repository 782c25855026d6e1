"""Time and memory of a long series in the viewer: reading, classifying every slice for the
strip, and how long the GUI's event loop ever waits meanwhile.

    .venv/bin/python benchmarks/series_strip.py [--slices 300] [--size 256] [--model FILE]

Writes a synthetic MR series (pydicom, no patient attributes that mean anything) to a
temporary folder, then, offscreen:

1. ``trainer.io.load_paths`` on the folder: seconds and peak RSS growth;
2. the viewer tab: seconds until every slice of the strip has its prediction, and the longest
   gap between two event-loop turns (a 10 ms timer's lateness) while the strip fills;
3. the same, moving one slice every 50 ms meanwhile (``state.step``, as a click or a drag on
   the strip does: each move asks for the new slice at once), so that the nearest-first
   scheduling is exercised.

For each pass it prints the longest gap between two event-loop turns, the 99th percentile and
how many gaps passed 100 ms, and the load average, since on a shared machine the numbers move
with it. Run it at normal priority, as the app runs. The garbage collector runs as in the app
(``desktop_app.gc_guard``: in the GUI thread, with the start-up heap frozen once the model is
ready); without it a full collection would run in the reading worker and stall the GUI as
long, holding the interpreter (about 0.2 s once torch is loaded, as ``add_model`` does here).

Without ``--model`` the bundled default model is used. Numbers go to stdout; nothing is
asserted (a benchmark, not a test: tests/test_gui_series.py checks the behaviour).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def write_series(folder: Path, slices: int, size: int) -> Path:
    from dicom_factory import make_series

    rng = np.random.default_rng(0)
    volume = rng.integers(0, 4096, size=(slices, size, size), dtype=np.uint16)
    make_series(folder, volume, series_description="BENCH AX", bits_stored=12)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--model", help="model file (default: the bundled default model)")
    parser.add_argument("--timeout", type=float, default=1800.0)
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    with tempfile.TemporaryDirectory(prefix="brainmri-bench-") as tmp:
        os.environ["BRAINMRI_HOME"] = tmp
        folder = write_series(Path(tmp) / "series", args.slices, args.size)
        import desktop_app.main  # noqa: F401  (torch before Qt, see its docstring)
        import trainer.io as tio

        before = _rss_mb()
        start = time.perf_counter()
        scans, errors = tio.load_paths([folder])
        read_s = time.perf_counter() - start
        print(
            f"read {args.slices} slices of {args.size}² in {read_s:.2f} s "
            f"(peak RSS +{_rss_mb() - before:.0f} MB, {len(errors)} errors)"
        )
        del scans

        from PySide6.QtCore import QEventLoop, QTimer
        from PySide6.QtWidgets import QApplication

        from desktop_app.event_loop_probe import QtEventLoopProbe
        from desktop_app.gc_guard import install_gc_guard
        from desktop_app.models import QtModelRegistry
        from desktop_app.settings import AppSettings
        from desktop_app.viewer.tab import QtViewerTab
        from desktop_app.workers import wait_for_all

        app = QApplication.instance() or QApplication([])
        install_gc_guard(app)  # as the app does: the collector runs in the GUI thread
        settings = AppSettings.in_file(Path(tmp) / "settings.ini")
        registry = QtModelRegistry(settings, device="cpu")
        from trainer.api import default_model_path

        registry.add_model(Path(args.model) if args.model else default_model_path(), activate=True)
        tab = QtViewerTab(registry, settings)
        tab.resize(1200, 800)
        tab.show()

        def spin(until, scroll: bool) -> tuple[float, list[float]]:
            """(seconds until ``until()``, how late each 10 ms tick came, in ms)."""

            def move(elapsed_s: float) -> None:
                if scroll and tab.state.current is not None and (elapsed_s * 1000) % 50 < 10:
                    tab.state.step(1)

            probe = QtEventLoopProbe(10, on_tick=move)
            started = probe.start()
            loop = QEventLoop()
            poll = QTimer()
            poll.setInterval(50)
            poll.timeout.connect(
                lambda: (until() or time.perf_counter() - started > args.timeout) and loop.quit()
            )
            poll.start()
            loop.exec()
            poll.stop()
            return probe.stop(), probe.late_ms()

        spin(lambda: registry.predictor is not None or not registry.is_loading, False)
        if registry.predictor is None:
            print(f"no model: {registry.last_error}")
            return 1
        for scroll in (False, True):
            tab.clear()
            before = _rss_mb()
            tab.open_paths([folder])

            def done() -> bool:
                items = tab.state.items
                return bool(items) and all(
                    (i.id, p) in tab.state.predictions for i in items for p in range(i.n_slices)
                )

            seconds, gaps = spin(done, scroll)
            load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
            print(
                f"strip of {args.slices} slices filled in {seconds:.1f} s"
                f"{' while scrolling' if scroll else ''}; longest event-loop stall "
                f"{max(gaps, default=0):.0f} ms, 99th percentile "
                f"{np.percentile(gaps, 99) if gaps else 0:.0f} ms, "
                f"{sum(g > 100 for g in gaps)} over 100 ms; "
                f"peak RSS +{_rss_mb() - before:.0f} MB; load average {load}"
            )
        tab.shutdown()
        wait_for_all(30.0)
        del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
