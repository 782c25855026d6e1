"""CSV cells that a spreadsheet shows as text, never runs as a formula.

Excel, LibreOffice and Google Sheets treat a cell that starts with ``=``, ``+``, ``-`` or
``@`` (and, after a tab or carriage return, the same) as a formula: a scan named
``=HYPERLINK("http://…")`` or a model whose class is called ``=cmd|…`` would put a live link
or a command into every table we write. The OWASP rule ("CSV injection") is applied to every
text cell of every CSV brainmri writes: such a cell gets a leading ``'``, which spreadsheets
hide and treat as "this is text". A cell that is a plain number (``-0.25``) is a number to a
spreadsheet too, not a formula, so it is left as it is. :func:`read_cell` undoes the prefix
for our own readers (the app reads a run's predictions table back).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["FORMULA_START", "csv_table", "read_cell", "safe_cell"]

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` as a cell: text that a spreadsheet could run gets a leading ``'``."""
    if not isinstance(value, str) or not value.startswith(FORMULA_START) or _is_number(value):
        return value
    return "'" + value


def read_cell(text: str) -> str:
    """A cell as :func:`safe_cell` wrote it, back to the value it was made from."""
    if text.startswith("'") and text[1:].startswith(FORMULA_START) and not _is_number(text[1:]):
        return text[1:]
    return text


def csv_table(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """The whole table as CSV text, every cell through :func:`safe_cell`."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([safe_cell(c) for c in header])
    for row in rows:
        writer.writerow([safe_cell(c) for c in row])
    return buf.getvalue()


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip() == text  # " -1" or "-1\t" is not what we write for a number
