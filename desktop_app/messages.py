"""Error text for people: what went wrong, without Python's or the command line's words.

The library's messages are written for the command line too, so some carry advice such as
"use ``--pretrained PATH``" or "pip install brainmri[offline-lite2]", and an unexpected error
arrives as ``SomeError: details``. A clinician or a student needs neither. Every message the
app shows for a failure goes through :func:`plain_message`, which keeps what happened and
drops class names, command-line flags and install commands; the full text still goes to the
log (and the training log view) for whoever debugs it.
"""

from __future__ import annotations

import html
import re

__all__ = ["plain_message", "rich"]

# "PretrainedWeightsError: ", "OSError: ", "huggingface_hub.errors.LocalEntryNotFoundError: "
_CLASS_NAME = re.compile(
    r"\b(?:[A-Za-z_][\w]*\.)*[A-Z]\w*(?:Error|Exception|Warning|Interrupt|Exit)\b:?\s*"
)
# A clause that tells someone to type something: a flag, an install command, a code span.
_CLI_CLAUSE = re.compile(r"(--[a-z]|`|pip install|python -m|brainmri\[)", re.IGNORECASE)


def plain_message(error: BaseException | str) -> str:
    """One message without exception class names or command-line advice.

    Clauses (split at ``;`` and at sentence ends) that tell the reader to run a command are
    dropped; if nothing else is left, a generic sentence stands in.
    """
    text = str(error) if isinstance(error, BaseException) else error
    if isinstance(error, BaseException) and not text:
        text = "an unexpected problem occurred"
    text = _CLASS_NAME.sub("", text)
    text = re.sub(r"\(\s*:?\s*", "(", text)
    clauses = re.split(r"(?<=;)\s+|(?<=[.!?])\s+(?=[A-Z])", text.strip())
    kept = [c for c in clauses if c and not _CLI_CLAUSE.search(c)]
    out = " ".join(kept).strip().rstrip(";,").strip()
    out = re.sub(r"\(\s*\)", "", out)
    out = re.sub(r"\s{2,}", " ", out).strip()
    return out or "an unexpected problem occurred (details in the log)"


def rich(text: str) -> str:
    """``text`` made safe for a rich-text label: file names and folder names such as
    ``Training/<class>`` must show as typed, never be parsed as HTML."""
    return html.escape(text, quote=False)
