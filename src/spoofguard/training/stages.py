"""The stages of a training run, each taking the part of the settings it needs.

    start = starting_point(ModelSpec, modality)             -> the --init bundle, checked (or None)
    pre   = input_contract(ModelSpec, InputSpec, start)     -> Preprocessing (the starting model's with --init)
    split = prepare_data(DataSpec, pre, seed)               -> Split: usable samples, train / dev / test, classes
    net   = build(ModelSpec, pre, FitSpec, classes, start)  -> the model, its optimiser recipe
            fit(net, split, pre, FitSpec, Hardware, out)    -> spoofguard.training.fit: weights, calibration scores
    cal   = calibrate(scores, labels, species, rule)        -> threshold + dev metrics (spoofguard.evaluation)

Nothing here writes into the run folder: :func:`spoofguard.training.train.train` decides when the
folder is made (after every stage that can refuse the settings or the data) and writes the run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from spoofguard.data.manifest import Manifest
from spoofguard.errors import SpoofguardError
from spoofguard.verdict import ATTACK, BONA_FIDE
from spoofguard.training.config import (
    FINE_TUNE_LR_FACTOR,
    DataSpec,
    FitSpec,
    InputSpec,
    ModelSpec,
    check_input_contract,
    preprocessing_for,
)


def _quiet(*args, **kwargs) -> None:
    return None


# ------------------------------------------------------------------------------------ the start


def starting_point(arch: ModelSpec, modality: str):
    """The bundle ``--init`` names, checked to be the same architecture and modality as the run; None
    without ``--init``. From an ensemble bundle (e.g. the Silent-Face pair) the member of that
    architecture is taken, with its own input contract."""
    if not arch.init:
        return None
    from spoofguard.inference.bundle import Bundle, load_bundle
    from spoofguard.models import model_info

    path, model = arch.init, arch.model
    bundle = load_bundle(path)
    if bundle.architecture == "ensemble":
        members = bundle.metadata["members"]
        names = [m["architecture"]["name"] for m in members]
        if model not in names:
            raise SpoofguardError(f"--init {path} is an ensemble of {', '.join(names)}; pass --model with one of them.")
        i = names.index(model)
        m = members[i]
        bundle = Bundle(bundle.model.members[i], {**bundle.metadata, "architecture": m["architecture"], "preprocessing": m["preprocessing"],
                                                  "member_classes": m["classes"]}, bundle.path)
    if bundle.architecture != model:
        raise SpoofguardError(f"--init {path} holds a {bundle.architecture} model, not {model}; pass --model {bundle.architecture} "
                              "or start from a bundle of the same architecture.")
    if bundle.modality != modality:
        raise SpoofguardError(f"--init {path} is a {bundle.modality} model; this run trains a {modality} model.")
    if model_info(model).get("fitted"):
        raise SpoofguardError(f"--init starts gradient training from a model's weights; {model} is fitted from scratch in seconds, so it has none to start from.")
    return bundle


def input_contract(arch: ModelSpec, inputs: InputSpec, start=None):
    """The run's Preprocessing: the starting model's with ``--init`` (fine-tuning keeps its input
    contract), else a new one from the settings; refused when no model file may hold it."""
    if start is not None:
        return start.preprocessing
    pre = preprocessing_for(arch, inputs)
    check_input_contract(pre)
    return pre


# ------------------------------------------------------------------------------------ the data


@dataclass
class Split:
    """The usable samples, each in its split (train / dev / test), and what was left out."""

    manifest: Manifest
    protocol: str
    faces: dict = field(default_factory=dict)  # face crops: path -> its decoded face Source, found once
    skipped: list = field(default_factory=list)  # (path, why) of the samples left out
    hashes: dict = field(default_factory=dict)  # path -> sha256 of the file

    def classes(self, species_as_classes: bool) -> list[str]:
        """What training can learn: a species only in test (an unseen attack) is not one of the classes."""
        return Manifest([s for s in self.manifest if s.split != "test"]).class_names(species_as_classes)

    def summary(self) -> dict[str, dict[str, int]]:
        """Per split, its samples per class (split_summary)."""
        from spoofguard.data.protocols import split_summary

        return split_summary(self.manifest)

    def write(self, path) -> None:
        """The split as a manifest (a run's ``split.csv``)."""
        from spoofguard.data.manifest import write_manifest

        write_manifest(self.manifest, path)

    def leaks(self) -> list:
        """Groups of identical files in more than one split."""
        from spoofguard.data.scan import find_duplicates

        return [g for g in find_duplicates(self.manifest, self.hashes) if g.crosses_splits]


def load_source(spec: DataSpec):
    """The samples ``spec`` names (a manifest or a dataset folder read with its layout), as
    :func:`~spoofguard.data.sources.load_samples` gives them; videos are refused (training reads frames)."""
    from spoofguard.data.sources import load_samples
    from spoofguard.media.video import is_video_file

    source = load_samples(spec.data, format=spec.format, subject_pattern=spec.subject_pattern, protocol=spec.protocol)
    videos = [s.path for s in source.manifest if is_video_file(s.path)]
    if videos:
        raise SpoofguardError(f"{len(videos)} sample(s) are videos (e.g. {videos[0]}); training reads frames: extract them once with "
                              f"`spoofguard data frames MANIFEST -o FRAMES/` and train on FRAMES/manifest.csv.")
    return source


def prepare_data(spec: DataSpec, pre, seed: int = 0, progress: bool = False, say=_quiet) -> Split:
    """Samples -> readable images (faces found once) -> the protocol's split, checked to be trainable.
    Refuses data that cannot train before anything is written."""
    from spoofguard.data.dataset import check_images
    from spoofguard.data.protocols import check_trainable, split_manifest
    from spoofguard.data.scan import file_hashes

    source = load_source(spec)
    manifest, unreadable = check_images(source.manifest, pre.channels)
    skipped = source.skipped + unreadable
    _warn_skipped(say, "unreadable image(s)", unreadable)
    faces: dict = {}
    _check_two_classes(manifest, spec)  # before the face detector's minutes, not after
    if pre.crop == "face" and len(manifest):
        manifest, faces, no_face = _find_faces(manifest, pre, spec.data, progress, say)
        skipped += no_face
        _check_two_classes(manifest, spec, " with a face found")
    hashes = file_hashes(manifest)
    manifest, protocol = split_manifest(manifest, spec.protocol, seed=seed, hashes=hashes)
    check_trainable(manifest)
    return Split(manifest, protocol, faces, skipped, hashes)


def _check_two_classes(manifest, spec: DataSpec, which: str = "") -> None:
    if len({s.label for s in manifest}) >= 2:
        return
    layout = (f" The folder was read as layout {spec.format!r}: if it is a dataset's own layout (NUAA, LivDet, OULU-NPU ...), "
              "pass its --format (`spoofguard data scan DIR` shows what is detected).") if spec.format not in ("auto",) else ""
    raise SpoofguardError(
        f"{spec.data}: all {len(manifest)} usable samples{which} are {manifest[0].label if len(manifest) else 'missing'}; "
        f"training needs both bona fide and attack samples (e.g. live/ and spoof/ folders).{layout}"
    )


def _find_faces(manifest, pre, data, progress: bool, say):
    """The face detector runs once per image (cached on disk by file hash), not per epoch."""
    from spoofguard.data.dataset import face_sources
    from spoofguard.progress import progress_bar

    t0 = time.time()
    with progress_bar("finding faces", enabled=progress) as update:
        manifest, faces, no_face = face_sources(manifest, pre, progress=update)
    say(f"faces found in {len(faces)} image(s) in {time.time() - t0:.0f} s (detector {pre.face_detector}, scales {pre.face_scales})")
    if not faces:
        raise SpoofguardError(f"{data}: no face found in any of the {len(no_face)} image(s). If they are face crops already, "
                              "pass --precropped; otherwise check the images show faces (detector: --face-detector mtcnn | haar).")
    _warn_skipped(say, "image(s) without a face", no_face)
    return manifest, faces, no_face


def _warn_skipped(say, what: str, skipped: list) -> None:
    if skipped:
        say(f"warning: skipped {len(skipped)} {what}:")
        for p, why in skipped[:10]:
            say(f"  {p}: {why}")


# ------------------------------------------------------------------------------------ the model


@dataclass
class Network:
    """The model a run trains, how it is optimised, and where it started."""

    model: object  # nn.Module
    recipe: object  # recipes.Recipe: optimiser, learning rate, batch size
    start: object = None  # the --init Bundle, or None
    fitted: bool = False  # a feature model: fitted by scikit-learn, no epochs


def build(arch: ModelSpec, pre, fit: FitSpec, classes: list[str], start=None, say=_quiet) -> Network:
    """The model (registry, options within their bounds; ``--init`` weights carried over) and its
    optimiser recipe (fine-tuning: FINE_TUNE_LR_FACTOR x the recipe's learning rate unless --lr is given)."""
    import lightning as L
    import torch

    from spoofguard.models import create_model, model_info
    from spoofguard.training.recipes import recipe_for

    L.seed_everything(fit.seed, workers=True, verbose=False)
    recipe = recipe_for(arch.model, lr=fit.lr, batch_size=fit.batch_size)
    if start is not None and fit.lr is None:
        recipe = recipe_for(arch.model, lr=recipe.lr * FINE_TUNE_LR_FACTOR, batch_size=fit.batch_size)
    info = model_info(arch.model)
    if start is not None:
        kwargs = {**start.metadata["architecture"]["kwargs"], **arch.model_kwargs}
    else:  # models whose layers depend on the input size (seed-cnn's dense layer) are told it
        kwargs = {**({"input_size": pre.input_size} if "input_size" in info["kwargs"] else {}), **arch.model_kwargs}
    model = create_model(arch.model, classes=classes, in_chans=pre.channels, **kwargs)
    if start is not None:
        loaded = load_matching_weights(model, start.model, start.metadata.get("member_classes"))
        say(f"starting from {arch.init}: {loaded} of {len(model.state_dict())} tensors (the rest, e.g. a head for other classes, start fresh)")
    return Network(model.to(memory_format=torch.channels_last), recipe, start, bool(info.get("fitted")))


def load_matching_weights(model, source, source_classes: list[str] | None = None) -> int:
    """Copy every tensor of ``source`` whose name and shape ``model`` has; returns how many.

    A classifier whose classes differ (e.g. upstream's [attack_0, bona_fide, attack_2] into
    [bona_fide, attack]) is carried over row by row: each new class gets the mean of the source rows
    of the same name, ``attack`` the mean of every source row that is not bona fide."""
    import torch

    mine = model.state_dict()
    src = source.state_dict()
    theirs = {k: v for k, v in src.items() if k in mine and mine[k].shape == v.shape}
    classes, old = list(getattr(model, "classes", [])), list(source_classes or getattr(source, "classes", []))
    if classes and old and classes != old:
        for k, v in src.items():
            if k in mine and v.dim() >= 1 and v.shape[0] == len(old) and mine[k].shape[0] == len(classes) and v.shape[1:] == mine[k].shape[1:]:
                rows = []
                for c in classes:
                    pick = [i for i, o in enumerate(old) if o == c] or ([i for i, o in enumerate(old) if o != BONA_FIDE] if c == ATTACK else [])
                    rows.append(v[pick].mean(0) if pick else mine[k][len(rows)])
                theirs[k] = torch.stack(rows)
    if not theirs:
        raise SpoofguardError("--init: no tensor of the starting model fits this one (another width or depth?).")
    model.load_state_dict({**mine, **theirs})
    return len(theirs)


# ------------------------------------------------------------------------------------ the threshold


@dataclass
class Calibration:
    threshold: float
    source: str  # where the threshold was picked, e.g. "dev split (eer, centred)"
    metrics: dict  # dev_metrics(): n, accuracy, eer, apcer_pooled, bpcer (, separated_gap, scores)


def calibrate(scores: np.ndarray, labels: np.ndarray, species: np.ndarray, rule: str, where: str = "dev split") -> Calibration:
    """The threshold by ``rule``, centred in the gap of thresholds that make the same decisions (a
    perfectly separated dev split no longer puts it at the lowest bona fide score: NUAA's 0.81 rejected
    a phone's bona fide frame at 0.79), and the figures at it."""
    from spoofguard.evaluation.thresholds import centred_threshold

    threshold = float(centred_threshold(rule, scores, labels, species))
    return Calibration(threshold, f"{where} ({rule}, centred)", dev_metrics(scores, labels, threshold))


def dev_metrics(scores: np.ndarray, labels: np.ndarray, threshold: float) -> dict:
    """What a run reports of its dev (or out-of-fold) scores at its threshold, by :mod:`spoofguard.evaluation`;
    ``separated_gap`` [highest attack, lowest bona fide] when no score of one class reaches the other's."""
    from spoofguard.evaluation import eer, error_rates

    rates = error_rates(scores, labels, threshold=threshold)
    dev_eer, _ = eer(scores, labels)
    metrics = {"n": int(len(scores)), "accuracy": rates["accuracy"], "eer": dev_eer, "apcer_pooled": rates["apcer_pooled"],
               "bpcer": rates["bpcer"]}
    bona = labels == BONA_FIDE
    if bona.any() and (~bona).any() and scores[~bona].max() < scores[bona].min():
        metrics["separated_gap"] = [float(scores[~bona].max()), float(scores[bona].min())]
    return metrics


def separation_warning(dev_metrics: dict, where: str = "dev split") -> str:
    """The warning for a perfectly separated dev set: no dev error pins the threshold, so the rates on
    new captures can be far from the dev's (an EER of 0 on dev is not a promise)."""
    gap = dev_metrics.get("separated_gap")
    if not gap:
        return ""
    return (f"warning: the {where} is perfectly separated (every attack below {gap[0]:.4g}, every bona fide above {gap[1]:.4g}): "
            "no dev error pins the threshold (it sits in the middle of that gap), so error rates on new captures can be far "
            "from the dev's 0; judge the model on a test split of other subjects before trusting it.")
