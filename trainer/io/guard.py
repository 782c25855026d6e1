"""The one decode boundary: whatever a decoder does with a hostile file, it becomes a per-file
:class:`~trainer.errors.UnreadableInputError` naming the file, and the batch goes on.

Why ``BaseException``: native decoders can fail in ways that are not ``Exception``. A Rust
plugin that panics raises ``pyo3_runtime.PanicException``, which derives from ``BaseException``
so that ``except Exception`` does not swallow it; one flipped byte in an RLE file used to end a
whole ``predict`` run with it. Only the three exceptions that mean "stop the program"
(``KeyboardInterrupt``, ``SystemExit``) or "stop this generator" (``GeneratorExit``) pass.

Why only the exception's type in the reason: a parser's message may quote raw bytes of the file
(a corrupt length makes one element swallow the next ones, patient name included), so the text
of a foreign exception never reaches a message.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from trainer.errors import UnreadableInputError
from trainer.io.quiet import quiet

T = TypeVar("T")

#: Exceptions that are never a property of the file being read.
PASS_THROUGH: tuple[type[BaseException], ...] = (KeyboardInterrupt, SystemExit, GeneratorExit)


@contextmanager
def guarded(path: str | Path, reason: str = "could not be read") -> Iterator[None]:
    """Run the body; any failure other than :data:`PASS_THROUGH` becomes
    ``UnreadableInputError(path, f"{reason} ({type})")``. An ``UnreadableInputError`` raised
    inside keeps its own, more specific reason."""
    try:
        with quiet():  # the file's problems are reported here, not in pydicom's words
            yield
    except UnreadableInputError:
        raise
    except PASS_THROUGH:
        raise
    except BaseException as exc:  # the point of this module, see its docstring
        raise UnreadableInputError(path, f"{reason} ({type(exc).__name__})") from exc


def iterate_guarded(
    path: str | Path, items: Iterator[T], reason: str = "could not be read"
) -> Iterator[T]:
    """Each ``next(items)`` under :func:`guarded`: a generator that decodes lazily (one frame
    at a time) fails at the frame that is broken, as a per-file error."""
    held: list[T] = []
    while True:
        with guarded(path, reason):
            try:
                held.append(next(items))
            except StopIteration:
                return
        yield held.pop()  # see release()


def release(item: T) -> list[T]:
    """``[item]``, for ``yield held.pop()``: a generator suspended at ``yield item`` keeps
    ``item`` alive in its frame until it resumes, so a stream of 100-megapixel slices would
    hold two at a time. Yielding from a list keeps none."""
    return [item]
