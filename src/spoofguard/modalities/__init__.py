"""Turning raw captures into model inputs, per modality."""

from spoofguard.modalities.preprocessing import MODALITIES, Preprocessing

__all__ = ["MODALITIES", "Preprocessing"]
