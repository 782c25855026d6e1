"""Find the images of a data set and the classes they belong to.

Two layouts are understood, both with classes taken from folder names, sorted:

* the public data set's: ``ROOT/Training/<class>/…`` and ``ROOT/Testing/<class>/…``;
* any folder of class sub-folders: ``ROOT/<class>/…``.

Nothing here opens an image: discovery must be instant even on a slow network share. Which
files can actually be read is decided by :mod:`trainer.data.validation`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trainer.errors import DatasetError

TRAINING_DIR = "Training"
TESTING_DIR = "Testing"


@dataclass(frozen=True)
class Sample:
    """One labelled file. ``rel`` is the POSIX path relative to the data root, as split files
    list it."""

    path: Path
    rel: str
    label: int
    folder: str  # "Training", "Testing" or "" for a flat layout


@dataclass(frozen=True)
class DatasetIndex:
    root: Path
    classes: tuple[str, ...]
    samples: tuple[Sample, ...]
    layout: str  # "train-test" or "flat"
    skipped: tuple[tuple[str, str], ...] = ()  # (relative path, reason) of files not taken

    def in_folder(self, folder: str) -> list[Sample]:
        return [s for s in self.samples if s.folder == folder]


def _is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _find_dir(root: Path, name: str) -> Path | None:
    """Case-insensitive child lookup, so ``training/`` works as well as ``Training/``."""
    for child in sorted(root.iterdir()):
        if child.is_dir() and child.name.lower() == name.lower():
            return child
    return None


def _class_dirs(folder: Path) -> dict[str, Path]:
    return {
        d.name: d for d in sorted(folder.iterdir()) if d.is_dir() and not d.name.startswith(".")
    }


def _files_under(class_dir: Path, root: Path, skipped: list[tuple[str, str]]) -> list[Path]:
    """Regular files under ``class_dir`` (``trainer.io.walk``: no recursion limit, no link
    loops, no pipes); a broken link or an unreadable folder goes to ``skipped``."""
    from trainer.io.walk import walk_files

    files: list[Path] = []
    for found in walk_files([class_dir]):
        if isinstance(found, Path):
            files.append(found)
        else:
            skipped.append((_relative(found.path, root), found.reason))
    files = [p for p in files if not _is_hidden(p, root)]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def discover(root: str | Path) -> DatasetIndex:
    """Index ``root``. Raises :class:`DatasetError` when no class folder holds a file."""
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    train_dir, test_dir = _find_dir(root, TRAINING_DIR), _find_dir(root, TESTING_DIR)
    if train_dir is not None:
        folders = {TRAINING_DIR: train_dir}
        if test_dir is not None:
            folders[TESTING_DIR] = test_dir
        layout = "train-test"
    else:
        folders = {"": root}
        layout = "flat"

    per_folder = {name: _class_dirs(path) for name, path in folders.items()}
    classes = tuple(sorted(set().union(*[set(d) for d in per_folder.values()])))
    if not classes:
        raise DatasetError(
            f"{root}: no class folders found (expected {TRAINING_DIR}/<class>/… or <class>/…)"
        )
    label_of = {c: i for i, c in enumerate(classes)}
    samples: list[Sample] = []
    skipped: list[tuple[str, str]] = []
    for folder_name, class_dirs in per_folder.items():
        for cls, cdir in class_dirs.items():
            for f in _files_under(cdir, root, skipped):
                samples.append(
                    Sample(f, f.relative_to(root).as_posix(), label_of[cls], folder_name)
                )
    if not samples:
        raise DatasetError(f"{root}: the class folders {list(classes)} hold no files")
    return DatasetIndex(root, classes, tuple(samples), layout, tuple(skipped))
