"""Synthetic data sets for demos, tests and benchmarks: self-made, labelled, deterministic given a seed.

One module per modality (``fingerprint``; ``face``), each writing the folder layout that
``spoofguard data scan`` reads plus a ``manifest.csv``.
"""
