"""The model zoo: ``create_model(name, classes=[...], in_chans=3, **kwargs)`` and friends.

Registered models (one file each): ``padnet`` (default, fast), ``spoofnet`` (VGG-style baseline),
``seed-cnn`` (classic fingerprint-liveness baseline), ``siamese`` (padnet embedding + class prototypes;
new species by enrolment), ``temporal`` (per-frame padnet features -> GRU over a clip of video frames), ``texture`` (LBP + LPQ + WLD
histograms of the finger and a linear classifier, fitted without gradients), ``minifasnet-v1``, ``minifasnet-v2``,
``minifasnet-v1se``, ``minifasnet-v2se`` (Minivision's Silent-Face-Anti-Spoofing face networks, 80x80; their
published weights load through ``spoofguard.models.published.load_minifasnet``).
"""

from spoofguard.models.registry import Capabilities, capabilities, create_model, list_models, model_info, register_model

# Importing the model files registers them.
from spoofguard.models import minifasnet, padnet, seed_cnn, siamese, spoofnet, temporal, texture  # noqa: E402,F401  isort: skip

__all__ = ["Capabilities", "capabilities", "create_model", "list_models", "model_info", "register_model"]
