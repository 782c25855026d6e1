"""Can the app open a window here? Checked before Qt starts, because Qt cannot say it well.

Without a display, or with a system library missing from Qt's X11 (``xcb``) plugin, Qt
aborts the whole process (SIGABRT) with a message that names the wrong library
(``libxcb-cursor0``) and never mentions the command line. :func:`display_problem` finds the
same conditions first and says, in one line, what is wrong and what to do instead; the app
prints it and exits with status 2. Nothing here imports Qt.

``install.sh`` runs ``python -m desktop_app.display --libraries`` after installing, so a
missing library is named with the command that installs it before the app is ever started.

:func:`virtual_display` starts a private Xvfb server for scripts and tests that need a real
X11 window (screenshots, the real-window test): a missing library then fails there, not on a
user's machine.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = ["DEBIAN_PACKAGES", "display_problem", "missing_libraries", "virtual_display"]

CLI_HINT = "without a display, use the command line instead: brainmri predict PATH..."
# What Debian and Ubuntu call the package that holds each library Qt's xcb plugin loads.
DEBIAN_PACKAGES = {
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb.so.1": "libxcb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}


def _pyside_dir() -> Path | None:
    spec = importlib.util.find_spec("PySide6")  # finds the package without loading Qt
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def xcb_plugin() -> Path | None:
    """PySide6's X11 platform plugin, or None where there is none (Windows, macOS)."""
    base = _pyside_dir()
    plugin = base / "Qt" / "plugins" / "platforms" / "libqxcb.so" if base else None
    return plugin if plugin is not None and plugin.is_file() else None


def missing_libraries(plugin: Path | None = None) -> list[str]:
    """Shared libraries the xcb plugin needs and the system lacks (e.g. ``libxcb-icccm.so.4``).

    ``ldd`` lists all of them at once; without ``ldd`` the dynamic loader's own error names
    the first one.
    """
    plugin = plugin or xcb_plugin()
    if plugin is None:
        return []
    ldd = shutil.which("ldd")
    if ldd is not None:
        try:
            out = subprocess.run(
                [ldd, str(plugin)], capture_output=True, text=True, timeout=30, check=False
            ).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        return sorted(set(re.findall(r"^\s*(\S+)\s+=>\s+not found", out, re.MULTILINE)))
    try:
        ctypes.CDLL(str(plugin))
    except OSError as exc:
        found = re.match(r"(\S+\.so[.\d]*): cannot open shared object", str(exc))
        return [found.group(1)] if found else []
    return []


def install_command(libraries: list[str]) -> str:
    """The command that installs ``libraries`` on Debian and Ubuntu."""
    packages = sorted({DEBIAN_PACKAGES.get(lib, lib) for lib in libraries})
    return "sudo apt-get install " + " ".join(packages)


def _x_server_reachable(display: str) -> bool:
    """Connect to the X server once through libxcb, as Qt will (no Qt needed)."""
    name = ctypes.util.find_library("xcb")
    if name is None:
        return True  # cannot tell here; missing_libraries() reports a missing libxcb
    try:
        xcb = ctypes.CDLL(name)
    except OSError:
        return True
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    conn = xcb.xcb_connect(display.encode(), None)
    try:
        return conn is not None and xcb.xcb_connection_has_error(conn) == 0
    finally:
        if conn is not None:
            xcb.xcb_disconnect(conn)


def display_problem(env: Mapping[str, str] | None = None) -> str | None:
    """Why Qt would abort instead of opening a window here, as one plain line; None if it
    should work (or if this cannot be told: Windows, macOS, Wayland, offscreen...)."""
    env = os.environ if env is None else env
    if not sys.platform.startswith("linux"):
        return None
    platform = env.get("QT_QPA_PLATFORM", "").split(":")[0].strip().lower()
    if platform and platform != "xcb":
        return None  # offscreen, vnc, wayland...: Qt was told what to use
    if not platform and env.get("WAYLAND_DISPLAY"):
        return None
    display = env.get("DISPLAY", "")
    if not display:
        return f"no display to open a window on (DISPLAY is not set); {CLI_HINT}"
    missing = missing_libraries()
    if missing:
        return (
            f"cannot open a window: system libraries missing ({', '.join(missing)}); "
            f"install them with: {install_command(missing)}"
        )
    if not _x_server_reachable(display):
        return f"cannot connect to the display {display}; {CLI_HINT}"
    return None


@contextlib.contextmanager
def virtual_display(width: int = 1280, height: int = 800) -> Iterator[str]:
    """Start a private Xvfb server; yields its ``DISPLAY`` value (``":N"``) and stops it at
    the end. Raises FileNotFoundError when Xvfb is not installed (``apt-get install xvfb``).

    ``-displayfd`` lets Xvfb choose a free display number and report it, so parallel runs
    never collide on a number.
    """
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        raise FileNotFoundError("Xvfb is not installed (Debian/Ubuntu: apt-get install xvfb)")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [
            xvfb,
            "-displayfd",
            str(write_fd),
            "-screen",
            "0",
            f"{width}x{height}x24",
            "-nolisten",
            "tcp",
        ],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        with os.fdopen(read_fd, "rb") as pipe:
            number = pipe.readline().decode().strip()  # written once the server listens
        if not number.isdigit():
            raise RuntimeError(f"Xvfb did not start (exit status {proc.poll()})")
        yield f":{number}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m desktop_app.display",
        description="Check that the app can open a window here (Linux: X11 libraries, display).",
    )
    parser.add_argument(
        "--libraries",
        action="store_true",
        help="check only the system libraries (no display needed)",
    )
    args = parser.parse_args(argv)
    if args.libraries:
        missing = missing_libraries()
        if missing:
            print(
                f"The app's window needs system libraries that are missing: "
                f"{', '.join(missing)}.\nInstall them with:  {install_command(missing)}\n"
                "(the command line, brainmri, works without them)"
            )
            return 1
        return 0
    problem = display_problem()
    print(problem or "ok: the app can open a window here")
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main())
