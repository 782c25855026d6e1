"""The recipe "Reproduce the default model" and the model card say the same, from one source."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from trainer.train.recipes import DEFAULT_MODEL_RECIPE, RECIPES

CARD = Path(__file__).resolve().parents[1] / "assets" / "models" / "README.md"


def _card_train_command() -> str:
    """The model card's ``brainmri train`` command (the "Reproduce" block), one line."""
    text = CARD.read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    joined = [re.sub(r"\\\n\s*", "", b) for b in blocks]
    commands = [line for b in joined for line in b.splitlines() if "brainmri train" in line]
    assert len(commands) == 1, commands
    return " ".join(commands[0].split())


def test_the_model_cards_command_is_the_recipe() -> None:
    from trainer.cli.main import build_parser
    from trainer.cli.train import config_from_args

    command = _card_train_command()
    assert DEFAULT_MODEL_RECIPE.command_options() in command
    argv = shlex.split(command)[1:]  # without "brainmri"
    args = build_parser().parse_args(argv)
    card = config_from_args(args).to_dict()
    ours = DEFAULT_MODEL_RECIPE.config().to_dict()
    # what the command adds beyond the recipe: where the data is, and a time box
    for key in ("data", "max_minutes"):
        card.pop(key), ours.pop(key)
    assert card == ours
    cfg = DEFAULT_MODEL_RECIPE.config()
    assert (cfg.img_size, cfg.freeze_stages, cfg.epochs, cfg.seed) == (260, 2, 8, 1)
    assert cfg.schedule == "onecycle" and cfg.backbone == "tf_efficientnet_lite2"


def test_the_recipe_text_says_the_cards_numbers_in_its_words() -> None:
    card = " ".join(CARD.read_text(encoding="utf-8").split())
    note = DEFAULT_MODEL_RECIPE.note()
    for fact in DEFAULT_MODEL_RECIPE.facts():
        assert fact in card, fact
        assert fact in note, fact
    first = card.split("## What it is")[0]
    assert f"`brainmri train {DEFAULT_MODEL_RECIPE.command_options()}`" in first
    assert RECIPES[DEFAULT_MODEL_RECIPE.key] is DEFAULT_MODEL_RECIPE
