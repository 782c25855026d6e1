"""File names and class names made safe to print in a line of text.

A file may be named ``spoof.jpg: notumor 99.9% …\\nzz.jpg``: printed as it is, its newline
starts a line that looks exactly like a result. Names shown in line-oriented output (the
command line's text output and error lines, the PDF report) go through :func:`printable`,
which writes control characters, line and paragraph separators and undecodable bytes as
visible escapes, so a name takes one line and says what it really is.
"""

from __future__ import annotations

import unicodedata

__all__ = ["printable"]

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(name: object) -> str:
    """``name`` on one line: ``\\n``, ``\\x1b``, ``\\u2028``, ``\\udcff`` (a byte that was not
    UTF-8) and other invisible or line-breaking characters as escapes; the rest untouched."""
    out = []
    for char in str(name):
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp", "Cf"):
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)
