"""check-data and the duplicate search: a toy data set with known twins, plus the public set.

The toy set (built once per module with Pillow) has three classes whose image size and mode
give the class away, byte copies and a re-encoded copy within and across splits, a
cross-label twin and a corrupt file, so every number in the report is known in advance.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import imagehash
import numpy as np
import pytest
from PIL import Image

from trainer.data import duplicates
from trainer.data.checks import (
    DataReport,
    check_dataset,
    format_report,
    near_duplicate_rows,
    write_dedup_list,
    write_pairs_csv,
)
from trainer.data.discovery import discover
from trainer.data.duplicates import (
    dedup_subset,
    min_distances,
    near_duplicate_pairs,
    phash,
    phash_many,
)
from trainer.data.splits import make_split

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "brain-tumor-mri"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} not present")

# class -> (size, PIL mode): the shortcut the toy set plants
LOOK = {"glioma": ((40, 40), "L"), "notumor": ((56, 48), "RGB"), "pituitary": ((48, 40), "L")}


def _picture(seed: int, cls: str) -> Image.Image:
    """Smooth random blobs: distinct seeds give pHashes about 32 bits apart."""
    (w, h), mode = LOOK[cls]
    low = np.random.default_rng(seed).random((6, 6)) * 255
    grey = Image.fromarray(low.astype(np.uint8)).resize((w, h), Image.Resampling.BICUBIC)
    return grey.convert(mode)


def _save(img: Image.Image, path: Path, fmt: str = "PNG") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, fmt, **({"quality": 90} if fmt == "JPEG" else {}))


def _build_toy(root: Path) -> dict[str, list[str]]:
    """Write the toy set; return the val/test lists (relative paths)."""
    seed = iter(range(1000))
    for cls in LOOK:
        for k in range(4):
            _save(_picture(next(seed), cls), root / f"Training/{cls}/tr_{k}.png")
            _save(_picture(next(seed), cls), root / f"Testing/{cls}/te_{k}.png")
    tr, te = root / "Training", root / "Testing"
    shutil.copy(tr / "glioma/tr_0.png", tr / "glioma/tr_copy.png")  # within train, same bytes
    with Image.open(tr / "notumor/tr_1.png") as im:  # within train, resized: new size
        _save(im.resize((60, 52), Image.Resampling.BILINEAR), tr / "notumor/tr_resized.png")
    (tr / "pituitary/broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    with Image.open(tr / "glioma/tr_2.png") as im:  # train -> test, re-encoded as JPEG
        _save(im, te / "glioma/te_jpeg.jpg", "JPEG")
    shutil.copy(tr / "notumor/tr_2.png", te / "notumor/te_copy.png")  # train -> val
    shutil.copy(te / "pituitary/te_0.png", te / "pituitary/te_copy.png")  # val -> test
    shutil.copy(tr / "glioma/tr_3.png", te / "pituitary/te_mislabelled.png")  # cross-label, val
    val = [f"Testing/{c}/te_0.png" for c in LOOK]
    val += ["Testing/notumor/te_copy.png", "Testing/pituitary/te_mislabelled.png"]
    test = [f"Testing/{c}/te_{k}.png" for c in LOOK for k in (1, 2, 3)]
    test += ["Testing/glioma/te_jpeg.jpg", "Testing/pituitary/te_copy.png"]
    return {"val": sorted(val), "test": sorted(test)}


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    root = tmp_path_factory.mktemp("toy")
    lists = _build_toy(root / "data")
    files = {}
    for name, rels in lists.items():
        files[name] = root / f"{name}.txt"
        files[name].write_text("\n".join(rels) + "\n", encoding="utf-8")
    return root / "data", files


@pytest.fixture(scope="module")
def report(toy: tuple[Path, dict[str, Path]]) -> DataReport:
    data, files = toy
    return check_dataset(data, split_files=files, workers=2)


# --------------------------------------------------------------------------- duplicates.py


def test_phash_matches_imagehash_on_l_conversion(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    _save(_picture(7, "notumor"), path)
    with Image.open(path) as im:
        expected = int(str(imagehash.phash(im.convert("L"), hash_size=8)), 16)
        grey01 = np.asarray(im.convert("L"), dtype=np.float32) / 255
    assert phash(path) == expected
    assert phash(grey01) == expected  # a float grey image hashes like its file


def test_phash_many_marks_unreadable_files(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.png", tmp_path / "bad.jpg"
    _save(_picture(1, "glioma"), good)
    bad.write_bytes(b"not an image")
    assert phash_many([good, bad, good], workers=2) == [phash(good), None, phash(good)]


def _brute_pairs(a: np.ndarray, b: np.ndarray | None, limit: int) -> list[tuple[int, int, int]]:
    other = a if b is None else b
    out = []
    for i, x in enumerate(a.tolist()):
        for j, y in enumerate(other.tolist()):
            if (b is not None or j > i) and (d := bin(x ^ y).count("1")) <= limit:
                out.append((i, j, d))
    return out


def _clustered_hashes(n: int, seed: int) -> np.ndarray:
    """Random 64-bit hashes with planted near twins (a few flipped bits)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 2**64, size=n, dtype=np.uint64)
    twins = base[rng.integers(0, n, size=n // 3)]
    flips = np.uint64(1) << rng.integers(0, 64, size=(n // 3, 3)).astype(np.uint64)
    twins = twins ^ flips[:, 0] ^ flips[:, 1] ^ flips[:, 2]
    return np.concatenate([base, twins, base[:3]])  # base[:3]: exact copies


def test_near_duplicate_pairs_equal_brute_force_across_blocks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(duplicates, "_BLOCK_ELEMENTS", 500)  # many small blocks
    a, b = _clustered_hashes(90, 1), _clustered_hashes(40, 2)
    within = near_duplicate_pairs(a, max_distance=4)
    assert within == _brute_pairs(a, None, 4)
    assert len(within) >= 30  # the planted twins are found
    assert near_duplicate_pairs(a, b, max_distance=6) == _brute_pairs(a, b, 6)
    assert near_duplicate_pairs(a.tolist(), max_distance=4) == within  # Python ints work too


def test_dedup_subset_ignores_labels_and_handles_empty_reference() -> None:
    ref = [0b1111, 2**63 + 5]
    far = (2**63 + 5) ^ (0b11111 << 10)  # 5 bits from its nearest reference
    test = [0b1110, 2**40 + 2**41 + 2**42, 2**63 + 4, far]
    assert min_distances(test, ref).tolist() == [1, 6, 1, 5]
    assert dedup_subset(test, ref, max_distance=4) == [1, 3]
    assert dedup_subset(test, [], max_distance=4) == [0, 1, 2, 3]


# --------------------------------------------------------------------------- check_dataset


def test_counts_per_folder_and_split(report: DataReport) -> None:
    assert report.classes == ("glioma", "notumor", "pituitary")
    assert report.counts_by_folder == {
        "Training": {"glioma": 5, "notumor": 5, "pituitary": 5},
        "Testing": {"glioma": 5, "notumor": 5, "pituitary": 6},
    }
    assert report.counts_by_split == {
        "train": {"glioma": 5, "notumor": 5, "pituitary": 5},
        "val": {"glioma": 1, "notumor": 2, "pituitary": 2},
        "test": {"glioma": 4, "notumor": 3, "pituitary": 4},
    }
    assert (report.files_found, report.files_inspected) == (31, 31)


def test_corrupt_file_is_listed_with_reason_and_does_not_stop_the_check(
    report: DataReport,
) -> None:
    assert [rel for rel, _ in report.unreadable] == ["Training/pituitary/broken.jpg"]
    assert report.unreadable[0][1]  # a reason, whatever trainer.io calls it
    assert report.images.images == 30
    assert any("1 unreadable file(s)" in w for w in report.warnings)


def test_image_statistics(report: DataReport) -> None:
    im = report.images
    assert im.common_sizes[0] == (40, 40, 11)  # 10 glioma + the mislabelled copy
    assert im.distinct_sizes == 4
    assert im.width == (40, 48.0, 60) and im.height == (40, 40.0, 52)
    assert im.common_size_share == {"glioma": 1.0, "notumor": 0.0, "pituitary": 0.1}
    assert im.modes["Training"] == {
        "glioma": {"L": 5},
        "notumor": {"RGB": 5},
        "pituitary": {"L": 4},
    }


def test_duplicate_pairs_by_split(report: DataReport) -> None:
    rows = {(r["path_a"], r["path_b"]): r for r in near_duplicate_rows(report)}
    assert set(rows) == {
        ("Training/glioma/tr_0.png", "Training/glioma/tr_copy.png"),
        ("Training/notumor/tr_1.png", "Training/notumor/tr_resized.png"),
        ("Testing/glioma/te_jpeg.jpg", "Training/glioma/tr_2.png"),
        ("Testing/notumor/te_copy.png", "Training/notumor/tr_2.png"),
        ("Testing/pituitary/te_0.png", "Testing/pituitary/te_copy.png"),
        ("Testing/pituitary/te_mislabelled.png", "Training/glioma/tr_3.png"),
    }
    assert rows[("Training/glioma/tr_0.png", "Training/glioma/tr_copy.png")]["hamming"] == 0
    mislabelled = ("Testing/pituitary/te_mislabelled.png", "Training/glioma/tr_3.png")
    assert rows[mislabelled]["same_label"] is False
    groups = {(g.a, g.b): g for g in report.duplicates.by_split}
    as_counts = {
        k: (g.pairs, g.cross_label_pairs, g.identical_bytes_pairs) for k, g in groups.items()
    }
    assert as_counts == {
        ("train", "train"): (2, 0, 1),
        ("val", "val"): (0, 0, 0),
        ("test", "test"): (0, 0, 0),
        ("train", "val"): (2, 1, 2),
        ("train", "test"): (1, 0, 0),
        ("val", "test"): (1, 0, 1),
    }
    folders = {(g.a, g.b): g.pairs for g in report.duplicates.by_folder}
    assert folders == {
        ("Training", "Training"): 2,
        ("Testing", "Testing"): 1,
        ("Testing", "Training"): 3,
    }


def test_matches_leakage_warning_and_dedup_list(report: DataReport, tmp_path: Path) -> None:
    matches = {(m.split, m.reference): m for m in report.duplicates.matches}
    assert (matches["val", "train"].matched, matches["val", "train"].matched_same_label) == (2, 1)
    assert (matches["test", "train"].images, matches["test", "train"].matched) == (11, 1)
    assert matches["test", "val"].matched == 1
    leak = [w for w in report.warnings if w.startswith("LEAKAGE") and "test images" in w]
    assert leak and "1 of 11 test images have a near-duplicate in training" in leak[0]
    assert "de-duplicated" in leak[0]
    assert any("2 of 5 validation images" in w for w in report.warnings)

    dedup = [f"Testing/{c}/te_{k}.png" for c in LOOK for k in (1, 2, 3)]
    assert list(report.duplicates.dedup_test) == sorted(dedup)
    out = tmp_path / "dedup.txt"
    write_dedup_list(report, out)
    assert out.read_text(encoding="utf-8") == "".join(f"{r}\n" for r in sorted(dedup))


def test_shortcut_size_and_mode_predict_the_class(report: DataReport) -> None:
    scores = {s.split: s for s in report.shortcut}
    test = scores["test"]
    assert test.accuracy["size+mode"] == 1.0 and test.accuracy["size"] == 1.0
    assert test.accuracy["mode"] == pytest.approx(7 / 11)  # L is glioma or pituitary
    assert test.chance == pytest.approx(4 / 11)
    assert scores["val"].accuracy["size+mode"] == pytest.approx(4 / 5)  # the mislabelled twin
    assert scores["test_dedup"].images == 9 and scores["test_dedup"].accuracy["size"] == 1.0
    warning = [w for w in report.warnings if w.startswith("SHORTCUT")]
    assert warning and "100.0 % accuracy on test" in warning[0] and "chance 36.4 %" in warning[0]


def test_report_serialises_and_formats(report: DataReport, tmp_path: Path) -> None:
    as_json = json.loads(json.dumps(report.to_dict()))
    assert as_json["duplicates"]["total_pairs"] == 6
    assert as_json["images"]["common_sizes"][0] == {"width": 40, "height": 40, "count": 11}
    text = format_report(report)
    for needle in ("Training/pituitary/broken.jpg", "LEAKAGE WARNING", "SHORTCUT WARNING", "40×40"):
        assert needle in text
    out = tmp_path / "pairs.csv"
    write_pairs_csv(report, out)
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 and {r["same_label"] for r in rows} == {"true", "false"}


def test_paper_split_and_flat_fallback(toy: tuple[Path, dict[str, Path]], tmp_path: Path) -> None:
    data, _ = toy
    paper = check_dataset(data, workers=2)
    assert paper.split_method == "paper"
    assert {k: sum(v.values()) for k, v in paper.counts_by_split.items()} == {
        "train": 15,
        "val": 8,
        "test": 8,
    }
    flat = tmp_path / "flat"
    shutil.copytree(data / "Training", flat)
    report = check_dataset(flat, workers=2)
    assert report.layout == "flat" and report.split_method == "fraction"
    assert report.notes and report.duplicates.by_folder == ()


# --------------------------------------------------------------------------- the public set


def _shared_lines(name: str) -> list[str]:
    return (SHARED / "splits" / name).read_text(encoding="utf-8").splitlines()


@pytest.mark.shared_data
@needs_shared
def test_shared_counts_and_paper_split_equal_readme() -> None:
    index = discover(SHARED)
    counts: dict[str, dict[str, int]] = {}
    for s in index.samples:
        per = counts.setdefault(s.folder, {})
        per[index.classes[s.label]] = per.get(index.classes[s.label], 0) + 1
    assert counts == {
        "Training": {"glioma": 1321, "meningioma": 1339, "notumor": 1595, "pituitary": 1457},
        "Testing": {"glioma": 300, "meningioma": 306, "notumor": 405, "pituitary": 300},
    }
    split = make_split(index)
    assert [s.rel for s in split.val] == _shared_lines("seed_protocol_val.txt")
    assert [s.rel for s in split.test] == _shared_lines("seed_protocol_test.txt")


@pytest.fixture(scope="module")
def shared_report() -> DataReport:
    return check_dataset(SHARED)


@pytest.mark.shared_data
@pytest.mark.slow
@needs_shared
def test_shared_dedup_list_and_duplicate_numbers_equal_readme(
    shared_report: DataReport, tmp_path: Path
) -> None:
    dup = shared_report.duplicates
    assert list(dup.dedup_test) == _shared_lines("test_dedup.txt")
    out = tmp_path / "test_dedup.txt"
    write_dedup_list(shared_report, out)
    assert out.read_bytes() == (SHARED / "splits" / "test_dedup.txt").read_bytes()

    matches = {(m.split, m.reference): m.matched for m in dup.matches}
    assert matches["test", "train"] == 360 and matches["test", "val"] == 105
    folder_match = dup.folder_matches[0]
    assert (folder_match.matched, folder_match.matched_same_label) == (724, 723)
    folders = {(g.a, g.b): g.pairs for g in dup.by_folder}
    assert folders == {
        ("Training", "Training"): 3977,
        ("Testing", "Testing"): 280,
        ("Testing", "Training"): 2277,
    }
    assert sum(g.cross_label_pairs for g in dup.by_folder) == 33
    with (SHARED / "duplicates.csv").open(encoding="utf-8", newline="") as fh:
        readme_rows = {
            (r["path_a"], r["path_b"], int(r["hamming"]), r["same_label"] == "true")
            for r in csv.DictReader(fh)
        }
    mine = {tuple(r.values()) for r in near_duplicate_rows(shared_report)}
    assert mine == readme_rows


@pytest.mark.shared_data
@pytest.mark.slow
@needs_shared
def test_shared_images_and_shortcut(shared_report: DataReport) -> None:
    im = shared_report.images
    assert shared_report.unreadable == ()
    assert im.distinct_sizes == 387 and im.common_sizes[:2] == ((512, 512, 4742), (225, 225, 332))
    assert (im.width[0], im.width[2], im.height[0], im.height[2]) == (150, 1920, 168, 1446)
    assert round(im.common_size_share["glioma"], 3) == 1.0
    assert round(im.common_size_share["notumor"], 3) == 0.010
    test = {s.split: s for s in shared_report.shortcut}["test"]
    assert test.accuracy["size+mode"] > test.chance + 0.2
    assert any(w.startswith("SHORTCUT WARNING") for w in shared_report.warnings)
