"""A short fuzz run in the suite: byte-flip and truncation mutants of valid JPEG, PNG, TIFF and
DICOM files (8/16-bit, RLE, JPEG 2000, JPEG-LS, JPEG), from a fixed seed, through the public
reading API. Each gives a result or a clean per-file error: never another exception, never a
hang. ``benchmarks/fuzz_inputs.py`` runs the same for longer."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from tests.fuzzing import mutants, read_outcome, write_seeds

MUTANTS_PER_SEED = 8


@pytest.mark.filterwarnings("ignore")  # a mutant may make a decoder warn; the reader decides
def test_mutants_give_a_result_or_a_clean_error(tmp_path: Path) -> None:
    rng = np.random.default_rng(14)
    cases: list[Path] = []
    for seed in write_seeds(tmp_path / "seeds"):
        data = seed.read_bytes()
        for k, (_kind, mutant) in enumerate(mutants(data, rng, MUTANTS_PER_SEED)):
            path = tmp_path / "mutants" / f"{k}_{seed.name}"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(mutant)
            cases.append(path)
    outcomes: dict[Path, str] = {}
    crashes: list[tuple[Path, BaseException]] = []

    def run() -> None:
        for path in cases:
            try:
                outcomes[path] = read_outcome(path)
            except BaseException as exc:  # the thing this test looks for
                crashes.append((path, exc))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(600)  # a hang guard: the run takes seconds
    assert not worker.is_alive(), f"hung after {len(outcomes) + len(crashes)} of {len(cases)}"
    assert crashes == []
    assert len(outcomes) == len(cases) == 11 * MUTANTS_PER_SEED
    assert set(outcomes.values()) == {"ok", "error"}  # both kinds occur: the mutants bite
