"""One training at a time per run folder: a lock file naming its owner.

Two trainings writing into one folder leave a mix (one's recipe, the other's model and
history), and two resumes of one run each continue it. :func:`run_lock` creates
``<run>/run.lock`` holding the owner's process id, computer name and start time, created
complete or not at all (written beside it, then hard-linked into place, which fails if the
name exists). A lock whose owner was on this computer and is no longer running is stale (a
killed run) and is taken over; a lock from another computer (a shared drive) cannot be
checked, so it is refused with the lock file's path: delete it if that training is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trainer.errors import RunLockedError

__all__ = ["LOCK_FILE", "run_lock"]

LOCK_FILE = "run.lock"


@contextlib.contextmanager
def run_lock(run_dir: str | Path) -> Iterator[Path]:
    """Hold the lock of ``run_dir`` (created if needed) for the block; RunLockedError if held."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    mine = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "token": os.urandom(8).hex(),
    }
    _acquire(path, mine)
    try:
        yield path
    finally:
        if (_owner(path) or {}).get("token") == mine["token"]:
            path.unlink(missing_ok=True)


def _acquire(path: Path, mine: dict[str, Any]) -> None:
    for _ in range(3):
        if _create(path, mine):
            return
        owner = _owner(path)
        if owner is None and _age_s(path) < 10:
            owner = {}  # just being created by another process (or unreadable): held
        if owner is not None and not _stale(owner):
            raise RunLockedError(_held_message(path, owner))
        _break(path, owner)
    raise RunLockedError(_held_message(path, _owner(path) or {}))


def _create(path: Path, body: dict[str, Any]) -> bool:
    """Create ``path`` with ``body`` complete, or return False when it exists."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(body, fh)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: exclusive create instead
            try:
                with open(path, "x", encoding="utf-8") as fh:
                    json.dump(body, fh)
            except FileExistsError:
                return False
        return True
    finally:
        os.unlink(tmp)


def _owner(path: Path) -> dict[str, Any] | None:
    try:
        owner = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"gone": True}
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


def _age_s(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


def _stale(owner: dict[str, Any]) -> bool:
    """True when the owner is known to be gone: the lock vanished, or its process, on this
    computer, no longer runs. Unknown owners (another computer) are taken as alive."""
    if owner.get("gone"):
        return True
    pid = owner.get("pid")
    if owner.get("host") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return False
    return not _alive(pid)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill(pid, 0) would send Ctrl-C on Windows
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # type: ignore[attr-defined]
        if not handle:
            return False
        code = ctypes.c_ulong()
        ctypes.windll.kernel32.GetExitCodeProcess(handle, ctypes.byref(code))  # type: ignore[attr-defined]
        ctypes.windll.kernel32.CloseHandle(handle)  # type: ignore[attr-defined]
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _break(path: Path, stale: dict[str, Any] | None) -> None:
    """Remove a stale lock. Renamed aside first, so that of two processes breaking it at once
    only one removes it; a lock that turns out not to be the stale one is put back."""
    aside = path.with_name(f".{path.name}.stale.{os.getpid()}.{os.urandom(4).hex()}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    taken = _owner(aside)
    if stale and taken is not None and taken.get("token") != stale.get("token"):
        with contextlib.suppress(OSError):
            os.link(aside, path)  # someone's fresh lock: back in place (unless replaced)
    aside.unlink(missing_ok=True)


def _held_message(path: Path, owner: dict[str, Any]) -> str:
    who = f"process {owner['pid']}" if isinstance(owner.get("pid"), int) else "another process"
    if owner.get("host"):
        who += f" on {owner['host']}"
    since = f" since {owner['started']}" if owner.get("started") else ""
    return (
        f"{path.parent}: another training is using this run folder ({who}{since}); wait for "
        f"it to finish, or delete {path} if it is no longer running"
    )
