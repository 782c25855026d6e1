"""Shared fixtures: the shipped mini data set, the shared data set where it exists."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MPLBACKEND", "Agg")

TESTS = Path(__file__).resolve().parent
MINI = TESTS / "data" / "mini"
SHARED_DATA = TESTS.parents[1] / "shared" / "data" / "brain-tumor-mri"


@pytest.fixture
def mini_data(tmp_path: Path) -> Path:
    """A private copy of the shipped mini data set (tests may add broken files to it)."""
    dst = tmp_path / "mini"
    shutil.copytree(MINI, dst)
    return dst


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("the shared data set (../shared/data/brain-tumor-mri) is not here")
    return SHARED_DATA
