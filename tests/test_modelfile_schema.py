"""Issue 14, point 8: model-file metadata is untrusted input, checked against a typed schema.

Every hostile metadata below used to give a traceback, NaN probabilities with exit status 0, a
3-GB allocation, or a network request from timm; now each is a ModelFileError that says what
is wrong, before anything is built.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from trainer.assets import default_model_path
from trainer.cli.main import main as cli
from trainer.errors import ModelFileError
from trainer.modelfile import META_KEY, load_model_file, read_metadata, validate_metadata

MINI = Path(__file__).parent / "data" / "mini"


def _meta(path: Path) -> dict[str, Any]:
    with safe_open(str(path), framework="pt") as fh:
        return json.loads(fh.metadata()[META_KEY])


def _rewrite(source: Path, target: Path, raw: str) -> Path:
    save_file(load_file(str(source)), str(target), metadata={META_KEY: raw})
    return target


def _with(meta: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``meta`` with ``value`` at ``path`` ("head.hidden"); ``...`` deletes the key."""
    meta = json.loads(json.dumps(meta))
    *parents, key = path.split(".")
    node = meta
    for part in parents:
        node = node[part]
    if value is ...:
        del node[key]
    else:
        node[key] = value
    return meta


CASES = [
    ("format_version", "abc", "format_version must be a positive integer"),
    ("format_version", 99, "written by a newer brainmri"),
    ("backbone", "hf-hub:attacker/evil-model", "backbone must be a timm architecture name"),
    ("backbone", "local-dir:/tmp", "backbone must be a timm architecture name"),
    ("backbone", "no_such_net", "is not an architecture this timm knows"),
    ("backbone", 7, "backbone must be a timm architecture name"),
    ("head", ..., "lacks head"),
    ("head.hidden", ..., "head keys: missing hidden"),
    ("head.colour", "red", "head keys: unknown colour"),
    ("head.hidden", "256", "head.hidden must be an integer"),
    ("head.dropout", 1.5, "head.dropout must be a number in [0, 1)"),
    ("input_size", 0, "input_size must be an integer from 32 to 1024"),
    ("input_size", -5, "input_size must be an integer from 32 to 1024"),
    ("input_size", "abc", "input_size must be an integer from 32 to 1024"),
    ("input_size", 40000, "input_size must be an integer from 32 to 1024"),
    ("input_size", True, "input_size must be an integer from 32 to 1024"),
    ("mean", [0.5, 0.5], "mean must be a list of 3 finite numbers"),
    ("mean", [0.5, "x", 0.5], "mean must be a list of 3 finite numbers"),
    ("std", [0.5, 0.0, 0.5], "std must be a list of 3 positive numbers"),
    ("temperature", 0, "temperature must be a finite number > 0"),
    ("temperature", -1.0, "temperature must be a finite number > 0"),
    ("temperature", "1", "temperature must be a finite number > 0"),
    ("classes", [1, 2, 3, 4], "classes must be a list of 1 to 1000 distinct"),
    ("classes", ["a", "a", "b", "c"], "classes must be a list of 1 to 1000 distinct"),
    ("classes", [], "classes must be a list of 1 to 1000 distinct"),
    ("ood.threshold", "high", "ood must be an object with a finite, positive threshold"),
    ("metrics", [1], "metrics must be an object"),
    ("notes", "one note", "notes must be a list of strings"),
]


@pytest.mark.parametrize(
    ("key", "value", "message"), CASES, ids=[f"{c[0]}={c[1]!r}" for c in CASES]
)
def test_bad_metadata_is_a_clear_model_file_error(
    tiny_model_file: Path, tmp_path: Path, key: str, value: Any, message: str
) -> None:
    bad = _rewrite(
        tiny_model_file,
        tmp_path / "bad.safetensors",
        json.dumps(_with(_meta(tiny_model_file), key, value)),
    )
    with pytest.raises(ModelFileError, match="model metadata: ") as caught:
        load_model_file(bad)
    assert message in str(caught.value) and str(bad) in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("[1, 2, 3]", "must be a JSON object, not a list"),
        ('"text"', "must be a JSON object, not a string"),
        ("[" * 100_000 + "]" * 100_000, "nested deeper than 32 levels"),
        ('{"a": ' * 5_000 + "1" + "}" * 5_000, "nested deeper than 32 levels"),
        ("{not json", "not valid JSON"),
    ],
    ids=["list", "string", "deep-list", "deep-object", "broken"],
)
def test_metadata_that_is_not_an_object(
    tiny_model_file: Path, tmp_path: Path, raw: str, message: str
) -> None:
    bad = _rewrite(tiny_model_file, tmp_path / "bad.safetensors", raw)
    with pytest.raises(ModelFileError, match=message):
        read_metadata(bad)


def test_a_model_file_never_makes_timm_download(
    tiny_model_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import timm.models._hub as hub

    def no_network(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("timm tried to download")

    monkeypatch.setattr(hub, "hf_hub_download", no_network)
    for name in ("hf-hub:attacker/evil-model", "local-dir:/etc", "timm/resnet18.a1_in1k"):
        meta = _with(_meta(tiny_model_file), "backbone", name)
        bad = _rewrite(tiny_model_file, tmp_path / "bad.safetensors", json.dumps(meta))
        with pytest.raises(ModelFileError):
            load_model_file(bad)


def test_predict_with_a_zero_temperature_model_fails_cleanly(
    tiny_model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    meta = _with(_meta(tiny_model_file), "temperature", 0)
    bad = _rewrite(tiny_model_file, tmp_path / "bad.safetensors", json.dumps(meta))
    image = next(MINI.rglob("*.jpg"))
    assert cli(["predict", "--model", str(bad), str(image), "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "temperature must be a finite number > 0" in err


def test_good_model_files_still_load(tiny_model_file: Path) -> None:
    loaded = load_model_file(tiny_model_file)
    schema = validate_metadata(loaded.meta)
    assert schema.input_size == 64 and schema.classes == tuple(loaded.classes)
    shipped = default_model_path()
    if shipped.is_file():
        meta = read_metadata(shipped)
        assert validate_metadata(meta).backbone == meta["backbone"]
        load_model_file(shipped)


@pytest.mark.parametrize(
    "backbone", ["efficientnet_b3", "tf_efficientnet_lite2", "test_efficientnet"]
)
def test_the_presets_backbones_are_allowed(tiny_model_file: Path, backbone: str) -> None:
    assert (
        validate_metadata(_with(_meta(tiny_model_file), "backbone", backbone)).backbone == backbone
    )
