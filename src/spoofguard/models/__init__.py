"""The model zoo: ``create_model(name, classes=[...], in_chans=3, **kwargs)`` and friends.

Registered models (one file each): ``padnet`` (default, fast), ``spoofnet`` (VGG-style baseline),
``seed-cnn`` (classic fingerprint-liveness baseline), ``siamese`` (padnet embedding + class prototypes;
new species by enrolment), ``temporal`` (per-frame padnet features -> GRU over a clip of video frames), ``texture`` (LBP + LPQ + WLD
histograms of the finger and a linear classifier, fitted without gradients).
"""

from spoofguard.models.registry import create_model, list_models, model_info, register_model

# Importing the model files registers them.
from spoofguard.models import padnet, seed_cnn, siamese, spoofnet, temporal, texture  # noqa: E402,F401  isort: skip

__all__ = ["create_model", "list_models", "model_info", "register_model"]
