"""Turning raw captures into model inputs, per modality."""

from spoofguard.modalities.preprocessing import CROPS, MODALITIES, Preprocessing, Source, Views

__all__ = ["CROPS", "MODALITIES", "Preprocessing", "Source", "Views"]
