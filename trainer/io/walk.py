"""Which files a list of user-given paths means: the one folder walk of the project.

Why not ``os.walk`` or ``Path.rglob``: both recurse in Python, so a folder ~1,000 levels deep
raises ``RecursionError``; ``Path.resolve`` raises ``RuntimeError`` on a symlink loop; and a
FIFO named ``scan.jpg`` blocks the first ``open`` forever. This walk keeps its own stack, never
follows a link to a folder (so it cannot loop), yields regular files only (a link to a regular
file counts), and recognises a file seen twice by its device and inode, not by its name.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from trainer.errors import UnreadableInputError

NOT_REGULAR = "is not a regular file (a pipe, socket or device); not read"


def walk_files(
    paths: Iterable[str | Path], *, skip_hidden: bool = True
) -> Iterator[Path | UnreadableInputError]:
    """Every regular file named in ``paths`` or inside a named folder, once each, in a stable
    order (a folder's files sorted, then its sub-folders, depth first). Hidden entries inside a
    folder are skipped, and so are pipes, sockets and devices found there. A missing input, an
    input that is not a regular file, a link that cannot be followed and a folder that cannot
    be listed come as an error in their place."""
    seen: set[tuple[int, int]] = set()
    for raw in paths:
        path = Path(raw)
        for found in _expand(path, skip_hidden):
            if isinstance(found, UnreadableInputError):
                yield found
                continue
            candidate, identity = found
            if identity not in seen:
                seen.add(identity)
                yield candidate


def _expand(
    path: Path, skip_hidden: bool
) -> Iterator[tuple[Path, tuple[int, int]] | UnreadableInputError]:
    try:
        info = path.stat()  # follows a link given by the user
    except FileNotFoundError:
        yield UnreadableInputError(path, _missing_reason(path))
        return
    except OSError as exc:
        yield UnreadableInputError(path, f"cannot be read ({exc.strerror or exc})")
        return
    if stat.S_ISDIR(info.st_mode):
        yield from _walk(path, skip_hidden)
    elif stat.S_ISREG(info.st_mode):
        yield path, (info.st_dev, info.st_ino)
    else:
        yield UnreadableInputError(path, NOT_REGULAR)


def _walk(
    top: Path, skip_hidden: bool
) -> Iterator[tuple[Path, tuple[int, int]] | UnreadableInputError]:
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            yield UnreadableInputError(folder, f"folder cannot be read ({exc.strerror or exc})")
            continue
        subfolders: list[Path] = []
        for entry in entries:
            if skip_hidden and entry.name.startswith("."):
                continue
            child = folder / entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    subfolders.append(child)
                    continue
                info = os.stat(entry.path)  # a link to a file is followed, never one to a folder
            except OSError as exc:
                if entry.is_symlink():
                    yield UnreadableInputError(child, "link cannot be followed (missing or loop)")
                else:
                    yield UnreadableInputError(child, f"cannot be read ({exc.strerror or exc})")
                continue
            if stat.S_ISREG(info.st_mode):
                yield child, (info.st_dev, info.st_ino)
            # links to folders, pipes, sockets and devices inside a folder are skipped
        stack.extend(reversed(subfolders))


def _missing_reason(path: Path) -> str:
    try:
        is_link = path.is_symlink()
    except OSError:  # e.g. a name too long to look up
        is_link = False
    return "link cannot be followed (missing or loop)" if is_link else "file not found"


def is_regular_file(path: Path) -> bool:
    """True for a regular file (or a link to one); never opens it."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False
