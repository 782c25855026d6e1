"""Entry script of the bundled ``brainmri-app`` (PyInstaller needs a script, not a function).

``desktop_app.main`` imports torch before any Qt module: on Windows the other order makes torch's
DLLs fail to load. ``freeze_support`` lets DataLoader worker processes start in a frozen program:
they start from a fresh process everywhere (forkserver on Linux, spawn on Windows and macOS; see
``trainer.data.sources.worker_context``), and both re-run this executable.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from desktop_app.main import main

    sys.exit(main())
