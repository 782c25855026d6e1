"""Shared fixtures: the shipped mini data set, the shared data set where it exists."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MPLBACKEND", "Agg")
# The engine that classifies is measured per machine (trainer.backend); tests take a fixed one,
# so that they do not depend on the machine. BRAINMRI_BACKEND=onnxruntime runs the suite on
# the other engine.
os.environ.setdefault("BRAINMRI_BACKEND", "torch-channels-last")

TESTS = Path(__file__).resolve().parent
MINI = TESTS / "data" / "mini"
SHARED_DATA = TESTS.parents[1] / "shared" / "data" / "brain-tumor-mri"


def pytest_configure(config: pytest.Config) -> None:
    # The suite makes warnings errors (pyproject.toml). pydicom warns about a malformed value
    # as it converts it, and a user's process shows that warning (or, inside a trainer.io read,
    # drops it: trainer.io.quiet) and goes on; as an error it would change what a read
    # returns. So pydicom's warnings stay warnings here, as they are for users.
    config.addinivalue_line("filterwarnings", "ignore::UserWarning:pydicom.*")


@pytest.fixture(autouse=True, scope="session")
def _private_user_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Exported graphs and speed calibrations go to a folder of the session, never into the
    user's cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BRAINMRI_CACHE", str(tmp_path_factory.mktemp("user-cache")))
        yield


@pytest.fixture
def mini_data(tmp_path: Path) -> Path:
    """A private copy of the shipped mini data set (tests may add broken files to it)."""
    dst = tmp_path / "mini"
    shutil.copytree(MINI, dst)
    return dst


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("the shared data set (../shared/data/brain-tumor-mri) is not here")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained but complete model file (timm's tiny ``test_efficientnet``, 64 px, the
    mini data set's classes, an OOD model fitted on real embeddings of the mini images):
    everything that reads model files can be tested in seconds without training."""
    import numpy as np

    from trainer.data.discovery import discover
    from trainer.io import read_grey
    from trainer.model import build_model
    from trainer.modelfile import base_metadata, save_model_file
    from trainer.ood import fit_ood
    from trainer.preprocess import IMAGENET_MEAN, IMAGENET_STD, normalize_batch, to_model_square

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    index = discover(MINI)
    model = build_model("test_efficientnet", len(index.classes)).eval()
    # Never "notumor": the viewer withholds the heat map of a "no tumour" answer, and the
    # tests of the map's plumbing need one drawn (the withholding has tests of its own).
    with torch.no_grad():
        model.head.out.bias[list(index.classes).index("notumor")] -= 5.0
    squares = torch.stack(
        [torch.from_numpy(to_model_square(read_grey(s.path), 64)) for s in index.samples]
    )
    with torch.no_grad():
        _, emb = model(normalize_batch(squares, IMAGENET_MEAN, IMAGENET_STD), return_embedding=True)
    labels = np.array([s.label for s in index.samples])
    ood = fit_ood(emb.numpy(), labels, len(index.classes))
    meta = base_metadata(
        "test_efficientnet", list(index.classes), 64, model.head_cfg, IMAGENET_MEAN, IMAGENET_STD
    )
    meta.update(name="tiny-test-model", metrics={"test": {"accuracy": 0.5, "n": 16, "loss": 1.0}})
    return save_model_file(tmp_path_factory.mktemp("model") / "tiny.safetensors", model, meta, ood)
