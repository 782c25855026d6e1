"""The paper's head, its regularisation terms, the parameter table, the model file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from trainer.errors import ModelFileError
from trainer.model import HeadConfig, build_model, parameter_table, pooled_width
from trainer.modelfile import base_metadata, load_model_file, read_metadata, save_model_file
from trainer.ood import fit_ood
from trainer.train.regularization import RegularizationConfig, regularization_loss

TINY = "test_efficientnet"


def test_head_layout_matches_the_paper():
    m = build_model(TINY, 4, HeadConfig(dropout=0.45))
    h = m.head
    assert h.fc.out_features == 256 and h.out.out_features == 4
    assert h.bn.momentum == pytest.approx(0.01) and h.bn.eps == pytest.approx(1e-3)
    assert h.drop.p == pytest.approx(0.45)
    logits, emb = m.eval()(torch.rand(2, 3, 64, 64), return_embedding=True)
    assert logits.shape == (2, 4) and emb.shape == (2, 256)


def test_b3_parameter_table_matches_keras_count():
    table = parameter_table(build_model("efficientnet_b3", 4), 224)
    # the paper's Keras total is 11,184,179: ours + BN statistics is 7 fewer, the size of
    # Keras' built-in Normalization layer (mean 3 + variance 3 + count 1)
    assert "11,093,804" in table and "11,184,172" in table and "393,472" in table


def test_regularization_terms_are_the_keras_ones():
    m = build_model(TINY, 3)
    emb = torch.randn(8, 256)
    cfg = RegularizationConfig(l2_kernel=0.016, l1_activity=0.006, l1_bias=0.006)
    got = regularization_loss(m.head, emb, cfg)
    want = (
        0.016 * m.head.fc.weight.pow(2).sum()
        + 0.006 * m.head.fc.bias.abs().sum()
        + 0.006 * torch.relu(emb).abs().sum() / 8
    )
    assert torch.allclose(got, want)
    zero = regularization_loss(m.head, emb, RegularizationConfig(0, 0, 0))
    assert float(zero) == 0.0


def test_regularization_gradient_reaches_the_kernel():
    m = build_model(TINY, 3)
    emb = m.head.embed(torch.randn(4, m.backbone.num_features))
    regularization_loss(m.head, emb, RegularizationConfig(0.016, 0, 0)).backward()
    assert torch.allclose(m.head.fc.weight.grad, 2 * 0.016 * m.head.fc.weight, atol=1e-6)


def _meta(m, classes=("a", "b", "c")):
    return base_metadata(TINY, list(classes), 64, m.head_cfg, (0.5,) * 3, (0.25,) * 3)


def test_model_file_round_trip(tmp_path: Path):
    m = build_model(TINY, 3).eval()
    emb = np.random.default_rng(0).normal(size=(60, 256)).astype(np.float32)
    ood = fit_ood(emb, np.repeat([0, 1, 2], 20), 3)
    path = save_model_file(tmp_path / "m.safetensors", m, {**_meta(m), "metrics": {"x": 1}}, ood)
    loaded = load_model_file(path)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(loaded.model(x), m(x), atol=1e-6)
    assert loaded.classes == ["a", "b", "c"] and loaded.ood is not None
    assert loaded.ood.threshold == pytest.approx(ood.threshold)
    assert read_metadata(path)["metrics"] == {"x": 1}
    half = save_model_file(tmp_path / "h.safetensors", m, _meta(m), half=True)
    assert half.stat().st_size < path.stat().st_size * 0.6
    with torch.no_grad():
        assert torch.allclose(load_model_file(half).model(x), m(x), atol=5e-2)


def test_model_file_refuses_other_files(tmp_path: Path):
    pickle_file = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(1)}, pickle_file)
    with pytest.raises(ModelFileError, match="not a safetensors"):
        load_model_file(pickle_file)
    bare = tmp_path / "bare.safetensors"
    save_file({"w": torch.zeros(1)}, str(bare))
    with pytest.raises(ModelFileError, match="without brainmri metadata"):
        load_model_file(bare)
    with pytest.raises(ModelFileError, match="no such model file"):
        load_model_file(tmp_path / "missing.safetensors")


def test_loading_a_model_file_leaves_the_global_rng_alone(tmp_path: Path):
    m = build_model(TINY, 3).eval()
    path = save_model_file(tmp_path / "m.safetensors", m, _meta(m))
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    loaded = load_model_file(path)
    assert torch.equal(torch.rand(3), expected)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(loaded.model(x), m(x), atol=1e-6)


def test_the_head_is_sized_from_the_pooled_width_not_num_features(mini_data: Path, tmp_path):
    """MobileNetV3 ends in a ``conv_head`` after the pooling: it gives 1024 features while
    ``num_features`` says 288. A head sized from ``num_features`` failed at the first batch
    (issue 23); a 1-epoch training on it must run and write a model that loads."""
    from test_train_e2e import tiny_config

    from trainer.train.engine import fit
    from trainer.train.events import FitFinished

    name = "mobilenetv3_small_050"
    m = build_model(name, 4).eval()
    assert m.backbone.num_features != m.head.bn.num_features  # the case this test is about
    with torch.no_grad():
        assert m(torch.rand(2, 3, 64, 64)).shape == (2, 4)
    with torch.device("meta"):  # as a model file is opened: built on the meta device
        assert build_model(name, 4).head.fc.in_features == m.head.fc.in_features
    assert str(m.head.bn.num_features) in parameter_table(m, 64)
    del m.backbone.head_hidden_size  # a backbone that does not state it is measured
    assert pooled_width(m.backbone) == m.head.bn.num_features and m.backbone.training is False

    cfg = tiny_config(mini_data, epochs=1)
    cfg.backbone, cfg.img_size = name, 64
    events = list(fit(cfg, tmp_path / "run"))
    assert isinstance(events[-1], FitFinished) and not events[-1].cancelled, events[-1]
    loaded = load_model_file(tmp_path / "run" / "model.safetensors")
    assert loaded.model.head.bn.num_features == m.head.bn.num_features
