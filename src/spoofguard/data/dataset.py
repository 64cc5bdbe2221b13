"""A torch Dataset over manifest samples, through the model's preprocessing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch.utils.data import Dataset

from spoofguard.media.images import load_image
from spoofguard.data.manifest import Manifest, Sample
from spoofguard.errors import SpoofguardError
from spoofguard.modalities import Preprocessing, Source


def class_index(sample: Sample, class_names: list[str]) -> int:
    """Target index: binary models see bona fide (0) / attack (1); multi-class see the species."""
    species_classes = len(class_names) > 2 or class_names[1] != "attack"  # also one species as its own class
    name = sample.class_name if species_classes else sample.label
    try:
        return class_names.index(name)
    except ValueError:
        raise SpoofguardError(f"{sample.path}: class {name!r} is not one of the model's classes {class_names}.") from None


class SampleDataset(Dataset):
    """Yields ``(uint8 tensor (H, W, C), target)``: one *view* of a sample per item.

    A view is what the model looks at (see :class:`~spoofguard.modalities.Preprocessing`): the whole
    resized image, or a native-resolution fingerprint patch. For training, every sample appears
    ``views_per_sample`` times per epoch and each appearance draws a fresh random view
    (``all_views=False``); for validation, ``all_views=True`` lists every view the detector would
    score, so dev figures are computed on exactly the inputs used at inference.

    Face crops: ``sources`` (path -> Source, from :func:`face_sources`) holds each sample's crops,
    found once before training; the face detector never runs per epoch.

    Decoded captures may be kept in memory (``cache``); ``augment`` (a callable on uint8 arrays) is
    applied after the cache, so every epoch sees fresh augmentations. ``attack_simulation`` (a
    probability, faces only) turns a bona fide sample into a simulated print / replay / cut-out
    attack, labelled attack: a way to meet attack species the data lacks; ``attack_species`` says
    which of them (default all three).
    """

    def __init__(self, samples: list[Sample], class_names: list[str], preprocessing: Preprocessing, cache: bool = False,
                 augment=None, attack_simulation: float = 0.0, views_per_sample: int = 1, all_views: bool = False,
                 sources: dict[str, Source] | None = None, attack_species: tuple[str, ...] | None = None):
        from spoofguard.data.synth.face import FACE_SPECIES

        self.samples = list(samples)
        self.sample_targets = [class_index(s, class_names) for s in self.samples]
        self.preprocessing = preprocessing
        self.augment = augment
        self.attack_simulation = attack_simulation
        self.attack_species = tuple(attack_species or FACE_SPECIES)
        self._attack = class_names.index("attack") if "attack" in class_names else None
        self._rng: np.random.Generator | None = None
        self._cache: dict[int, Source] | None = {} if cache else None
        self._sources = sources or {}
        if all_views and not preprocessing.one_view:
            self.index = [(i, key) for i in range(len(self.samples)) for key in preprocessing.view_keys(self.source(i))]
        else:
            self.index = [(i, None) for i in range(len(self.samples)) for _ in range(max(1, int(views_per_sample)))]
        self.targets = [self.sample_targets[i] for i, _ in self.index]

    def __len__(self) -> int:
        return len(self.index)

    def source(self, i: int) -> Source:
        path = self.samples[i].path
        if path in self._sources:
            return self._sources[path]
        src = self._cache.get(i) if self._cache is not None else None
        if src is None:
            src = self.preprocessing.source(path, keep_frame=self.preprocessing.crop != "face")
            if self._cache is not None:
                self._cache[i] = src
        return src

    def __getitem__(self, j: int):
        i, key = self.index[j]
        src = self.source(i)
        if key is None:
            a = self.preprocessing.training_view(src, self._random())
        else:
            a = self.preprocessing.view_at(src, key)
        target = self.targets[j]
        if self.attack_simulation and target == 0 and self._random().random() < self.attack_simulation:
            from spoofguard.data.synth.face import PRIOR_EYES, simulate_attack

            # training inputs are face crops: eyes where a portrait has them, no detector per sample
            species = self._random().choice(self.attack_species)
            a, target = simulate_attack(a, species, self._random(), eyes=PRIOR_EYES), self._attack
        if self.augment is not None:
            a = self.augment(a)
        return torch.tensor(a), target  # a copy: the cached capture is never handed out

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


class ClipDataset(Dataset):
    """Yields ``(uint8 tensor (T, H, W, C), target)``: a clip of ``T`` frames of one video (temporal models).

    Samples are frames (a frame manifest from ``spoofguard data frames``) grouped by ``video_id``
    (a sample without one is a video of one frame). Training clips take ``T`` frames at random
    positions, in order; evaluation clips (``evaluation=True``) take them evenly spaced. A video
    with fewer frames repeats its frames. Each frame is one view of the capture (the whole image,
    the largest face at a random scale, or a foreground patch), through the same preprocessing.
    """

    def __init__(self, samples: list[Sample], class_names: list[str], preprocessing: Preprocessing, frames: int,
                 augment=None, clips_per_video: int = 1, evaluation: bool = False, sources: dict[str, Source] | None = None):
        groups: dict[str, list[Sample]] = {}
        for s in samples:
            groups.setdefault(s.video_id or s.path, []).append(s)
        self.videos = [sorted(g, key=lambda s: s.path) for _, g in sorted(groups.items())]
        self.video_ids = [k for k, _ in sorted(groups.items())]
        self.video_targets = [class_index(v[0], class_names) for v in self.videos]
        self.frames, self.preprocessing, self.augment, self.evaluation = int(frames), preprocessing, augment, evaluation
        self.frame_data = SampleDataset([s for v in self.videos for s in v], class_names, preprocessing, cache=True, sources=sources)
        self._offset = np.cumsum([0] + [len(v) for v in self.videos])
        self.index = [v for v in range(len(self.videos)) for _ in range(1 if evaluation else max(1, int(clips_per_video)))]
        self.targets = [self.video_targets[v] for v in self.index]
        self.samples = [v[0] for v in self.videos]  # one row per video, for labels and species

    def __len__(self) -> int:
        return len(self.index)

    def positions(self, v: int, rng: np.random.Generator | None = None) -> list[int]:
        n = len(self.videos[v])
        if rng is None:  # evenly spaced
            return [int(round(i)) for i in np.linspace(0, n - 1, self.frames)]
        return sorted(rng.choice(n, size=self.frames, replace=n < self.frames).tolist())

    def __getitem__(self, j: int):
        v = self.index[j]
        rng = None if self.evaluation else self.frame_data._random()
        frames = []
        for p in self.positions(v, rng):
            src = self.frame_data.source(int(self._offset[v] + p))
            a = self.preprocessing.training_view(src, rng) if rng is not None else self.preprocessing.views(src).arrays[0]
            frames.append(self.augment(a) if self.augment is not None else a)
        return torch.tensor(np.stack(frames)), self.targets[j]


def face_sources(manifest: Manifest, preprocessing: Preprocessing, cache=None, progress=None
                 ) -> tuple[Manifest, dict[str, Source], list[tuple[str, str]]]:
    """Find the face in every sample once (through the on-disk detection ``cache``) and keep only its
    crops. Returns the samples with a face, their sources by path, and (path, reason) for the others."""
    from spoofguard.modalities.face import DetectionCache

    cache = cache if cache is not None else DetectionCache()
    sources, missing = {}, []
    for k, s in enumerate(manifest):
        try:
            src = preprocessing.source(s.path, detection_cache=cache, keep_frame=False)
        except SpoofguardError as e:
            missing.append((s.path, str(e)))
            continue
        if src.crops is None:
            missing.append((s.path, "no face found"))
        else:
            sources[s.path] = src
        if progress:
            progress(k + 1, len(manifest))
    return Manifest([s for s in manifest if s.path in sources]), sources, missing


def balanced_sampler_weights(targets: list[int]) -> torch.Tensor:
    """Per-sample weights that make every class equally likely to be drawn."""
    counts = np.bincount(targets)
    return torch.as_tensor([1.0 / counts[t] for t in targets], dtype=torch.double)
