"""brainmri trainer: the Qt-free core of the brain-tumor MRI classifier.

Research and education only — not for clinical use.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("brainmri")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

NOT_FOR_CLINICAL_USE = "Research and education only — not for clinical use."
