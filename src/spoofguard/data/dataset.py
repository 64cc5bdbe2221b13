"""A torch Dataset over manifest samples, through the model's preprocessing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch.utils.data import Dataset

from spoofguard.data.images import load_image
from spoofguard.data.manifest import Manifest, Sample
from spoofguard.errors import SpoofguardError
from spoofguard.modalities import Preprocessing


def class_index(sample: Sample, class_names: list[str]) -> int:
    """Target index: binary models see bona fide (0) / attack (1); multi-class see the species."""
    name = sample.class_name if len(class_names) > 2 else sample.label
    try:
        return class_names.index(name)
    except ValueError:
        raise SpoofguardError(f"{sample.path}: class {name!r} is not one of the model's classes {class_names}.") from None


class SampleDataset(Dataset):
    """Yields ``(uint8 tensor (H, W, C), target)``.

    Decoded, resized inputs may be kept in memory (``cache``); ``augment`` (a callable on uint8
    arrays) is applied after the cache, so every epoch sees fresh augmentations.
    ``attack_simulation`` (a probability, faces only) turns a bona fide sample into a simulated
    print / replay / cut-out attack, labelled attack: a way to meet attack species the data lacks.
    """

    def __init__(self, samples: list[Sample], class_names: list[str], preprocessing: Preprocessing, cache: bool = False,
                 augment=None, attack_simulation: float = 0.0):
        self.samples = list(samples)
        self.targets = [class_index(s, class_names) for s in self.samples]
        self.preprocessing = preprocessing
        self.augment = augment
        self.attack_simulation = attack_simulation
        self._attack = class_names.index("attack") if "attack" in class_names else None
        self._rng: np.random.Generator | None = None
        self._cache: dict[int, np.ndarray] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        a = self._cache.get(i) if self._cache is not None else None
        if a is None:
            a = self.preprocessing.prepare(self.samples[i].path)
            if self._cache is not None:
                self._cache[i] = a
        target = self.targets[i]
        if self.attack_simulation and target == 0 and self._random().random() < self.attack_simulation:
            from spoofguard.data.synth.face import FACE_SPECIES, PRIOR_EYES, simulate_attack

            # training inputs are face crops: eyes where a portrait has them, no detector per sample
            species = self._random().choice(FACE_SPECIES)
            a, target = simulate_attack(a, species, self._random(), eyes=PRIOR_EYES), self._attack
        if self.augment is not None:
            a = self.augment(a)
        return torch.from_numpy(np.ascontiguousarray(a)), target

    def _random(self) -> np.random.Generator:
        # drawn from numpy's global state, which Lightning seeds per worker process
        if self._rng is None:
            self._rng = np.random.default_rng(np.random.randint(0, 2**31 - 1))
        return self._rng


def check_images(manifest: Manifest, channels: int, workers: int = 4) -> tuple[Manifest, list[tuple[str, str]]]:
    """Decode every image once; return the readable samples and (path, reason) for the others."""

    def check(s: Sample):
        try:
            load_image(s.path, channels)
            return None
        except SpoofguardError as e:
            return str(e)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        problems = list(pool.map(check, manifest))
    good = [s for s, p in zip(manifest, problems) if p is None]
    bad = [(s.path, p) for s, p in zip(manifest, problems) if p is not None]
    return Manifest(good), bad


def balanced_sampler_weights(targets: list[int]) -> torch.Tensor:
    """Per-sample weights that make every class equally likely to be drawn."""
    counts = np.bincount(targets)
    return torch.as_tensor([1.0 / counts[t] for t in targets], dtype=torch.double)
