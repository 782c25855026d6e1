"""The paper's split must equal the shipped split files exactly."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from trainer.data.discovery import discover
from trainer.data.splits import (
    DEFAULT_VAL_FRACTION,
    SplitSpec,
    applicable_method,
    fraction_split,
    has_testing_folder,
    limit_per_class,
    make_split,
    paper_halves,
)
from trainer.errors import DatasetError

# sha256 of splits/seed_protocol_{val,test}.txt as shipped with the data set
VAL_SHA = "62b2280527b114385922d2cf3130700966877186e7416b9a1e99025965f25da3"
TEST_SHA = "f35ff173f87ae8176a049345d08997c5ae57351b956dd0c03915414d5b570a8d"


def public_testing_names() -> list[str]:
    """The 1311 Testing paths of the public data set, rebuilt from its naming scheme:
    ``Te-xxTr_0000..0009`` then ``Te-xx_0010..`` per class."""
    counts = {
        "glioma": ("gl", 300),
        "meningioma": ("me", 306),
        "notumor": ("no", 405),
        "pituitary": ("pi", 300),
    }
    names = []
    for cls, (p, n) in counts.items():
        names += [f"Testing/{cls}/Te-{p}Tr_{i:04d}.jpg" for i in range(10)]
        names += [f"Testing/{cls}/Te-{p}_{i:04d}.jpg" for i in range(10, n)]
    return names


def digest(paths: list[str]) -> str:
    return hashlib.sha256(("\n".join(sorted(paths)) + "\n").encode()).hexdigest()


def test_paper_recipe_reproduces_the_shipped_split_files_without_the_data():
    names = public_testing_names()
    assert len(names) == 1311
    val, test = paper_halves(names)
    assert (len(val), len(test)) == (655, 656)
    assert digest(val) == VAL_SHA
    assert digest(test) == TEST_SHA


def test_sorting_is_code_point_order():
    # "Te-glTr_" sorts before "Te-gl_" because 'T' (84) < '_' (95)
    val, test = paper_halves(["a/Te-gl_0010.jpg", "a/Te-glTr_0000.jpg"])
    assert sorted(val + test) == ["a/Te-glTr_0000.jpg", "a/Te-gl_0010.jpg"]


@pytest.mark.shared_data
def test_paper_split_matches_shared_split_files(shared_data: Path):
    split = make_split(discover(shared_data), "paper")
    read = lambda name: (shared_data / "splits" / name).read_text().split()  # noqa: E731
    assert [s.rel for s in split.val] == sorted(read("seed_protocol_val.txt"))
    assert [s.rel for s in split.test] == sorted(read("seed_protocol_test.txt"))
    assert len(split.train) == 5712


def test_paper_split_on_mini(mini_data: Path):
    index = discover(mini_data)
    assert index.classes == ("glioma", "meningioma", "notumor", "pituitary")
    split = make_split(index)
    assert len(split.train) == 24 and len(split.val) + len(split.test) == 16
    assert {s.rel for s in split.val}.isdisjoint({s.rel for s in split.test})
    assert all(s.folder == "Testing" for s in split.val + split.test)


def test_flat_folder_needs_fraction(tmp_path: Path):
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(10):
            (tmp_path / c / f"{i}.png").write_bytes(b"x")
    index = discover(tmp_path)
    with pytest.raises(DatasetError, match="val-fraction"):
        make_split(index, "paper")
    split = fraction_split(index, 0.2, seed=1)
    for part in (split.val, split.test):  # stratified: 2 of each class
        assert sorted(s.label for s in part) == [0, 0, 1, 1]
    assert len(split.train) == 12


def test_split_files_and_limit(mini_data: Path, tmp_path: Path):
    index = discover(mini_data)
    testing = [s.rel for s in index.in_folder("Testing")]
    (tmp_path / "val.txt").write_text("# comment\n" + "\n".join(testing[:5]) + "\n")
    (tmp_path / "test.txt").write_text("\n".join(testing[5:]) + "\n")
    split = make_split(
        index, split_files={"val": tmp_path / "val.txt", "test": tmp_path / "test.txt"}
    )
    assert [s.rel for s in split.val] == sorted(testing[:5])
    assert len(split.train) == 24
    limited = limit_per_class(split, 2, 4)
    assert len(limited.train) == 8
    (tmp_path / "bad.txt").write_text("Testing/glioma/nope.jpg\n")
    with pytest.raises(DatasetError, match=r"nope\.jpg"):
        make_split(index, split_files={"val": tmp_path / "bad.txt"})


def _flat(root: Path) -> Path:
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(20):
            (root / c / f"{i}.png").write_bytes(b"x")
    return root


def test_the_testing_folder_rule_and_the_default_fraction(mini_data: Path, tmp_path: Path):
    """One rule, asked by check-data and the app: the paper split needs a Testing folder;
    without one a stratified split of DEFAULT_VAL_FRACTION applies (training refuses)."""
    mini, flat = discover(mini_data), discover(_flat(tmp_path / "flat"))
    assert has_testing_folder(mini) and not has_testing_folder(flat)
    assert applicable_method(mini, "paper") == "paper"
    assert applicable_method(flat, "paper") == "fraction"
    assert applicable_method(flat, "paper", val_fraction=0.2) == "paper"  # make_split: fraction
    assert applicable_method(flat, "paper", split_files={"val": "v.txt"}) == "paper"
    assert applicable_method(flat, "fraction") == "fraction"

    assert SplitSpec("paper").applied_to(mini) == SplitSpec("paper")
    applied = SplitSpec("paper").applied_to(flat)
    assert applied == SplitSpec("fraction")
    assert applied.config_values() == {
        "split": "fraction",
        "split_files": {},
        "val_fraction": DEFAULT_VAL_FRACTION,
    }
    # make_split's own default is the same fraction (of each class, for val and for test)
    split = make_split(flat, "fraction")
    assert split.details["val_fraction"] == DEFAULT_VAL_FRACTION
    assert len(split.val) == len(split.test) == 2 * round(20 * DEFAULT_VAL_FRACTION)


def test_split_spec_config_values():
    assert SplitSpec().config_values() == {
        "split": "paper",
        "split_files": {},
        "val_fraction": None,
    }
    assert SplitSpec("fraction", val_fraction=0.25).config_values()["val_fraction"] == 0.25
    files = SplitSpec("files", split_files={"val": "v.txt"}).config_values()
    assert files == {"split": "files", "split_files": {"val": "v.txt"}, "val_fraction": None}
