"""``brainmri``: train, evaluate, prepare, check-data, predict, info.

Each sub-command lives in its own module with ``add_parser(subparsers)`` and ``run(args)``;
this file only wires them up, so ``brainmri --help`` stays fast (torch is imported by the
command that needs it, not here).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from trainer import NOT_FOR_CLINICAL_USE, __version__
from trainer.errors import BrainMRIError, os_error_text
from trainer.names import printable

COMMANDS = ("train", "evaluate", "predict", "prepare", "check_data", "info", "export")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="brainmri",
        description=f"Brain-tumor MRI classification. {NOT_FOR_CLINICAL_USE}",
    )
    parser.add_argument("--version", action="version", version=f"brainmri {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"trainer.cli.{name}")
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrainMRIError as exc:  # a usage, model-file or run-folder error: status 2
        print(f"brainmri: error: {printable(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file that could not be read or written: which, and why
        print(f"brainmri: error: {os_error_text(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("brainmri: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
