"""Strict JSON text: what every JSON file and ``--json`` output of brainmri is made of.

Python's :mod:`json` writes ``NaN`` and ``Infinity`` by default, which no other JSON parser
accepts (a script reading ``brainmri predict --json`` would fail on the whole list). A value
that is not a finite number has no JSON spelling, so it becomes ``null`` here, and
``allow_nan=False`` makes any value that slipped past this an error rather than invalid output.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

__all__ = ["finite", "json_text"]


def finite(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float (numpy scalars included) replaced by None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    return finite(_plain(obj))


def json_text(obj: Any, indent: int | None = 2) -> str:
    """``obj`` as strict JSON (RFC 8259): non-finite numbers written as null."""
    return json.dumps(finite(obj), indent=indent, allow_nan=False)


def _plain(obj: Any) -> Any:
    """numpy scalars and arrays, paths: their JSON-friendly value, without importing numpy."""
    if hasattr(obj, "item") and getattr(obj, "ndim", 0) == 0:
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return obj.as_posix()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
