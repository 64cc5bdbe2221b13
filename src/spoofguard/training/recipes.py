"""Optimisation recipes per architecture: what each model was designed to be trained with."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Recipe:
    optimizer: str = "adamw"  # "adamw" | "adam"
    lr: float = 2e-3
    weight_decay: float = 0.01
    label_smoothing: float = 0.0
    scheduler: str = "cosine"  # "cosine" (to zero over the run) | "cosine-restarts" | "none"
    batch_size: int = 32

    def to_dict(self) -> dict:
        return asdict(self)


RECIPES = {
    # compact depthwise-separable network: AdamW with cosine decay
    "padnet": Recipe(optimizer="adamw", lr=2e-3, weight_decay=0.02, scheduler="cosine"),
    # SpoofNet's reference recipe: label-smoothing cross-entropy, AdamW, cosine annealing with warm restarts
    "spoofnet": Recipe(optimizer="adamw", lr=1e-3, weight_decay=1e-4, label_smoothing=0.1, scheduler="cosine-restarts"),
    # the Keras-era baseline: plain Adam, constant learning rate
    "seed-cnn": Recipe(optimizer="adam", lr=1e-3, weight_decay=0.0, scheduler="none"),
}


def recipe_for(model: str, **overrides) -> Recipe:
    base = asdict(RECIPES.get(model, Recipe()))
    base.update({k: v for k, v in overrides.items() if v is not None})
    return Recipe(**base)
