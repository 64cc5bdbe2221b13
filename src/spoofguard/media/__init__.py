"""The ground floor: reading media. ``images`` decodes and checks still images (pixel limits from the
header, before decoding); ``video`` decodes and samples video frames. Both depend on nothing in
spoofguard but :mod:`spoofguard.errors`, so ``data/``, ``modalities/``, ``inference/`` and ``serve/``
all read media through them without importing each other."""
