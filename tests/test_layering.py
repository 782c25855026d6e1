"""``trainer`` is usable from scripts without Qt; ``desktop_app`` sits on top of it."""

from __future__ import annotations

import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import trainer

ROOT = Path(__file__).resolve().parents[1]


def test_importing_all_of_trainer_loads_no_qt():
    modules = [m.name for m in pkgutil.walk_packages(trainer.__path__, "trainer.")]
    modules = [m for m in modules if not m.endswith("__main__")]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph', 'desktop_app')]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(modules) > 30


def test_import_linter_contracts():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        import pytest

        pytest.skip("import-linter not installed (pip install brainmri[dev])")
    proc = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cli_help_does_not_load_torch():
    code = (
        "import sys\n"
        "from trainer.cli.main import build_parser\n"
        "build_parser().format_help()\n"
        "sys.exit(1 if 'torch' in sys.modules else 0)\n"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
