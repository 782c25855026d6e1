"""Named recipes: a preset plus the few values a published model changed, in one place.

Why: the shipped default model was made by ``--preset lite2-cpu`` with four values changed
(assets/models/README.md). The wizard's "Reproduce the default model", its description and the
model card's command must not drift apart, so all three are made from
:data:`DEFAULT_MODEL_RECIPE` (a test reads the model card and compares its command with
:meth:`Recipe.command_options` and its numbers with :meth:`Recipe.facts`).

Pure data, no torch: the command line and the wizard import it in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainer.config import PRESETS, TrainConfig, preset_config

__all__ = ["DEFAULT_MODEL_RECIPE", "RECIPES", "Recipe"]


@dataclass(frozen=True)
class Recipe:
    """A preset and the settings changed on top of it, by :func:`trainer.config.apply_overrides`
    name. ``minutes`` is the measured duration on the machine the model card names."""

    key: str
    label: str
    preset: str
    settings: tuple[tuple[str, Any], ...]
    minutes: int

    def config(self) -> TrainConfig:
        """The full recipe: the preset's values, then these settings."""
        return preset_config(self.preset, **dict(self.settings))

    def command_options(self) -> str:
        """The options of ``brainmri train`` that make this recipe (data and output aside),
        in the model card's order: ``--preset lite2-cpu --img-size 260 …``."""
        parts = [f"--preset {self.preset}"]
        parts += [f"--{key.replace('_', '-')} {value}" for key, value in self.settings]
        return " ".join(parts)

    def facts(self) -> list[str]:
        """The recipe's numbers as the model card writes them; the wizard's note says them
        in the same words."""
        cfg = self.config()
        out = [f"{cfg.img_size} px"]
        if cfg.freeze_stages:
            out.append(f"stages 0–{cfg.freeze_stages - 1} frozen")
        out += [f"{cfg.epochs} epochs", f"seed {cfg.seed}", f"{self.minutes} minutes"]
        return out

    def note(self) -> str:
        """The wizard's text for this recipe, for a student."""
        cfg = self.config()
        schedule = {"onecycle": "a one-cycle learning-rate schedule"}.get(
            cfg.schedule, f"the {cfg.schedule} schedule"
        )
        img, frozen, epochs, seed, minutes = self.facts()
        return (
            f"Exactly the recipe of the app's default model (its model card): EfficientNet-Lite2 "
            f"from the ImageNet weights that come with the app, at {img}, stem and {frozen}, "
            f"{epochs}, {seed}, {schedule}. It took {minutes} on a 2-core computer. Every "
            "value is shown under Advanced settings; change one and it is your own recipe."
        )


DEFAULT_MODEL_RECIPE = Recipe(
    key="default-model",
    label="Reproduce the default model — EfficientNet-Lite2 at 260 px, 8 epochs, about an hour "
    "on a CPU",
    preset="lite2-cpu",
    settings=(("img_size", 260), ("freeze_stages", 2), ("epochs", 8), ("seed", 1)),
    minutes=49,
)

RECIPES: dict[str, Recipe] = {
    r.key: r for r in (DEFAULT_MODEL_RECIPE,) if r.preset in PRESETS and r.key not in PRESETS
}
