"""Fuzz the public reading API with mutants of valid scans; count crashes and hangs.

    python benchmarks/fuzz_inputs.py --mutants 2000 --seed 1 --timeout 60

Mutants come from ``tests/fuzzing.py`` (byte flips and truncations of JPEG, PNG, TIFF and
8/16-bit, RLE, JPEG 2000, JPEG-LS and JPEG DICOM files). Each is read by a worker process
(``read_scan``, ``read_grey``, ``iter_slices``); a worker that dies (a native crash) or takes
longer than ``--timeout`` seconds (a hang) is counted and replaced, so one bad mutant does not
end the run. Reported: tried / results / errors / crashes / hangs, and the workers' peak RSS.
A crash or hang keeps its mutant in ``--keep`` for a bug report.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.fuzzing, run from anywhere

import numpy as np

from tests.fuzzing import mutants, write_seeds


def _worker(jobs: mp.Queue, results: mp.Queue) -> None:
    import warnings

    from tests.fuzzing import read_outcome

    warnings.simplefilter("ignore")  # as in the CLI: decoders' warnings are not reasons
    while (path := jobs.get()) is not None:
        try:
            outcome = read_outcome(Path(path))
        except BaseException as exc:  # what the run looks for
            outcome = f"crash: {type(exc).__name__}"
        results.put((path, outcome, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


class _Reader:
    """One worker process at a time, replaced after a crash or a hang."""

    def __init__(self) -> None:
        self.context = mp.get_context("spawn")
        self.peak_kb = 0
        self._start()

    def _start(self) -> None:
        self.jobs, self.results = self.context.Queue(), self.context.Queue()
        self.process = self.context.Process(target=_worker, args=(self.jobs, self.results))
        self.process.start()

    def read(self, path: Path, timeout: float) -> str:
        self.jobs.put(str(path))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                _, outcome, peak = self.results.get(timeout=0.2)
            except Exception:  # queue.Empty: still working, or dead
                if not self.process.is_alive():
                    self.process.join()
                    status = self.process.exitcode
                    self._start()
                    return f"crash: exit status {status}"
                continue
            self.peak_kb = max(self.peak_kb, peak)
            return outcome
        self.process.kill()
        self.process.join()
        self._start()
        return "hang"

    def close(self) -> None:
        self.jobs.put(None)
        self.process.join(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=int, default=500, help="mutants in all (500)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per file (60)")
    parser.add_argument("--keep", type=Path, help="folder for mutants that crash or hang")
    args = parser.parse_args()

    counts = {"tried": 0, "ok": 0, "errors": 0, "crashes": 0, "hangs": 0}
    kept: list[str] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        seeds = write_seeds(Path(tmp) / "seeds")
        rng = np.random.default_rng(args.seed)
        reader = _Reader()
        per_seed = max(1, args.mutants // len(seeds))
        for seed in seeds:
            for k, (kind, data) in enumerate(mutants(seed.read_bytes(), rng, per_seed)):
                path = Path(tmp) / f"{seed.stem}_{k}_{kind}{seed.suffix}"
                path.write_bytes(data)
                outcome = reader.read(path, args.timeout)
                counts["tried"] += 1
                if outcome == "ok":
                    counts["ok"] += 1
                elif outcome == "error":
                    counts["errors"] += 1
                else:
                    counts["hangs" if outcome == "hang" else "crashes"] += 1
                    kept.append(f"{path.name}: {outcome}")
                    if args.keep:
                        args.keep.mkdir(parents=True, exist_ok=True)
                        shutil.copy(path, args.keep / path.name)
                path.unlink()
        reader.close()
    report = {
        **counts,
        "worker_peak_rss_mb": round(reader.peak_kb / 1024, 1),
        "seconds": round(time.monotonic() - started, 1),
        "crashed_or_hung": kept,
    }
    print(json.dumps(report, indent=2))
    return 1 if kept else 0


if __name__ == "__main__":
    sys.exit(main())
