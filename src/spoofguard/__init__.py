"""spoofguard: presentation attack detection (PAD) for fingerprints and faces.

Public API::

    import spoofguard
    result = spoofguard.train(data="data/fingerprints", out="runs/fp", modality="fingerprint")
    cv = spoofguard.cross_validate(data="data/fingerprints", out="cv", folds=5, subject_pattern=r"^(\d+)_")
    detector = spoofguard.Detector.from_file(result.bundle)
    prediction = detector.predict("probe.png")   # .score (higher = more bona fide), .verdict, .probabilities
"""

from __future__ import annotations

__version__ = "0.1.0"

from spoofguard.errors import SpoofguardError

__all__ = ["Detector", "Prediction", "SpoofguardError", "create_model", "cross_validate", "list_models", "load_bundle", "train",
           "__version__"]


def __getattr__(name: str):
    # Heavy imports (torch, lightning) only when asked for, so `import spoofguard` stays cheap.
    if name in ("Detector", "Prediction"):
        from spoofguard.inference import detector

        return getattr(detector, name)
    if name == "load_bundle":
        from spoofguard.inference.bundle import load_bundle

        return load_bundle
    if name == "train":
        from spoofguard.training.train import train

        return train
    if name == "cross_validate":
        from spoofguard.cv import cross_validate

        return cross_validate
    if name in ("create_model", "list_models"):
        from spoofguard import models

        return getattr(models, name)
    raise AttributeError(f"module 'spoofguard' has no attribute {name!r}")
