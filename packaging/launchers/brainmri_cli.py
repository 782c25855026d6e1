"""Entry script of the bundled ``brainmri`` command line (see brainmri_app.py)."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from trainer.cli.main import main

    sys.exit(main())
