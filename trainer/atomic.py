"""Atomic file output: a reader never sees half a file, and a crash never leaves one.

Everything the project writes goes through here: a temporary file in the same folder
(so ``os.replace`` is a rename on one file system), flushed and fsynced, then renamed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    For libraries that insist on writing to a path themselves (matplotlib, safetensors,
    torch.save). ``suffix`` keeps the extension for writers that infer the format from it.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=suffix or target.suffix + ".tmp", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get the usual mode
        os.replace(tmp, target)
    except OSError as exc:
        # A write error (a full disk) names no file, or the hidden temporary one: name the
        # file the user asked for, so the one-line message says which.
        if exc.filename is None or exc.filename == tmp_name:
            exc.filename = str(target)
        raise
    finally:
        if tmp.exists():
            tmp.unlink()


def _read_umask() -> int:
    """Read once at import: os.umask can only be read by setting it, which is not
    thread-safe, so never do it while worker threads may be creating files."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_open(target: str | Path, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file for writing; it replaces ``target`` only if the block succeeds."""
    with atomic_path(target) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh


def write_text(target: str | Path, text: str) -> None:
    with atomic_open(target, "w", encoding="utf-8") as fh:
        fh.write(text)


def write_bytes(target: str | Path, data: bytes) -> None:
    with atomic_open(target, "wb") as fh:
        fh.write(data)


def write_json(target: str | Path, obj: Any) -> None:
    """Strict JSON (:mod:`trainer.jsontext`): a NaN metric is written as null, never NaN."""
    from trainer.jsontext import json_text

    write_text(target, json_text(obj) + "\n")


def check_writable(target: str | Path, folder: bool = False) -> None:
    """Raise the OSError that writing ``target`` (a file, or with ``folder`` a folder to
    write files into) would raise, before any work is done: a read-only or full disk, a
    missing permission or a folder in the way should be said in the first second, not after
    minutes of work. Creates the folders on the way, as a write would; leaves no file."""
    target = Path(target)
    where = target if folder else target.parent
    if not folder and target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "a folder is in the way", str(target))
    where.mkdir(parents=True, exist_ok=True)
    fd, probe = tempfile.mkstemp(prefix=".brainmri-write-test.", dir=where)
    try:
        os.write(fd, b"\0")  # a full disk fails here (creating an empty file may still work)
        os.fsync(fd)
    finally:
        os.close(fd)
        os.unlink(probe)
