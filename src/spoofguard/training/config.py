"""A training run's settings, in the five parts the stages of :mod:`spoofguard.training.train` read.

=============  ===============================================  ==========================================
part           what it says                                     read by
=============  ===============================================  ==========================================
DataSpec       where the samples are and how they are split     ``prepare_data``
ModelSpec      which network, its options, where it starts      ``starting_point``, ``build``
InputSpec      how a capture becomes model input                ``preprocessing_for`` (-> Preprocessing)
FitSpec        how it learns and how its threshold is chosen    ``build``, ``fit``, ``calibrate``
Hardware       where and how visibly it runs                    ``fit``
=============  ===============================================  ==========================================

:class:`TrainConfig` is all five at once (it inherits their fields, so every setting is declared once,
in its part) plus the run folder ``out``: ``TrainConfig(data=..., out=..., model=..., epochs=...)``
takes the settings flat, as the command line, ``config.json``, :func:`~spoofguard.cv.cross_validate`
and :func:`~spoofguard.compare.compare` name them, and ``cfg.part(DataSpec)`` hands a stage its part.

A resumed run keeps its data, model, preprocessing and recipe; only the epochs and the hardware may
change (:data:`RESUME_MAY_CHANGE`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import TypeVar

from spoofguard.errors import SpoofguardError

MONITORS = {"dev_loss": "min", "dev_eer": "min", "dev_acc": "max"}
# what `train` uses when no --model is given: per modality, the configuration cross-validation shows best
# (docs/benchmarks.md, "Choosing the fingerprint default")
DEFAULT_MODELS = {"fingerprint": "texture", "face": "padnet"}
EPOCHS = 20
FINE_TUNE_EPOCHS = 10  # --init without --epochs (NUAA from silent-face: 10 epochs with frozen early layers, docs/benchmarks.md)
FINE_TUNE_LR_FACTOR = 0.01  # --init without --lr: the recipe's learning rate times this (NUAA from silent-face: 0.01 kept its generalisation, 0.1 lost it; docs/benchmarks.md)
# faces: fine-tune the published model when its weights are in the cache (docs/benchmarks.md, "Faces: fine-tuning")
FACE_DEFAULT_INIT = "silent-face"


@dataclass(kw_only=True)
class DataSpec:
    """Where the samples are and how they are split."""

    data: str | None = None  # dataset folder or manifest .csv
    format: str = "auto"  # dataset layout when --data is a folder (auto | folder | livdet | nuaa | ...): auto as `data scan` detects it
    protocol: str = "auto"
    subject_pattern: str | None = None


@dataclass(kw_only=True)
class ModelSpec:
    """Which network, with which options, starting from which weights."""

    model: str | None = None  # None = the modality's default (DEFAULT_MODELS)
    model_kwargs: dict = field(default_factory=dict)
    init: str | None = None  # a run folder or bundle of the same architecture whose weights (and input contract) training starts from
    species_as_classes: bool = False


@dataclass(kw_only=True)
class InputSpec:
    """How a capture becomes the model's input (the settings that make its Preprocessing)."""

    modality: str = "fingerprint"
    input_size: int | None = None
    crop: str | None = None  # "whole" | "patches" | "face"; None = the model's default for the modality
    face_scales: list[float] | None = None  # face crops: context scales around the box (default 2.7)
    face_detector: str = "auto"  # auto | mtcnn | haar
    precropped: bool = False  # faces: the images are face crops already (looked at whole)


@dataclass(kw_only=True)
class FitSpec:
    """How the network learns, and how its threshold is chosen."""

    epochs: int | None = None  # None: 20, or FINE_TUNE_EPOCHS when fine-tuning (--init)
    batch_size: int | None = None
    lr: float | None = None
    seed: int = 0
    deterministic: bool = False  # deterministic torch algorithms: with the seed, the same weights bit for bit (CPU)
    patches_per_image: int = 4  # patches mode: random patches drawn per training image per epoch
    balanced: bool = False
    augment: str = "default"  # "default" | "none"
    attack_simulation: float = 0.0  # faces: probability of turning a bona fide sample into a simulated attack
    attack_species: list[str] | None = None  # faces: which simulated species (print, replay, cutout); None = all
    freeze: int | None = None  # leading blocks kept as they start (weights, batch-norm statistics); None: the model's fine_tune_freeze with --init, else 0
    l2_init: float = 0.0  # L2-SP: weight of the pull of every trained weight towards its starting value (with --init)
    monitor: str = "dev_loss"
    patience: int = 10
    threshold_rule: str = "eer"


@dataclass(kw_only=True)
class Hardware:
    """Where the run trains, and what it shows while it does."""

    accelerator: str = "auto"
    devices: str | int = "auto"
    num_nodes: int = 1  # machines (DDP across hosts)
    strategy: str = "auto"  # auto | ddp | ... (Lightning strategies); several devices or nodes use DDP
    workers: int | None = None
    precision: str | None = None
    progress: bool = True


PARTS = (DataSpec, ModelSpec, InputSpec, FitSpec, Hardware)
Part = TypeVar("Part", DataSpec, ModelSpec, InputSpec, FitSpec, Hardware)
# what a resumed run may change: its budget and the machines it runs on (a node lost, a GPU added)
RESUME_MAY_CHANGE = ("epochs", *(f.name for f in fields(Hardware)))


@dataclass(kw_only=True)
class TrainConfig(Hardware, FitSpec, InputSpec, ModelSpec, DataSpec):
    """Every setting of a run, flat (see the module docstring); unset defaults are resolved here."""

    out: str

    def __post_init__(self):
        self.default_note = ""  # not a setting: what the defaults chose, said once when training starts
        if self.model is None and self.init:
            self.model = init_architecture(self.init)
        elif self.model is None:
            self.model, self.init, self.default_note = default_start(self.modality)
        if self.epochs is None:
            self.epochs = FINE_TUNE_EPOCHS if self.init else EPOCHS
        if self.freeze is None:
            self.freeze = int(_model_info_or_empty(self.model).get("fine_tune_freeze", 0)) if self.init else 0

    def part(self, kind: type[Part]) -> Part:
        """This run's settings of one part, e.g. ``cfg.part(DataSpec)``."""
        return kind(**{f.name: getattr(self, f.name) for f in fields(kind)})

    def settings(self) -> dict:
        """Every setting by its flat name (what ``config.json`` stores and ``TrainConfig(**...)`` takes)."""
        return asdict(self)


def part_of(name: str) -> type | None:
    """The part a flat setting belongs to (None for ``out`` and for names that are no setting)."""
    return next((p for p in PARTS if name in {f.name for f in fields(p)}), None)


def _model_info_or_empty(name: str) -> dict:
    from spoofguard.models import model_info

    try:
        return model_info(name)
    except (KeyError, SpoofguardError):  # an unknown model is refused with its own message by validate()
        return {}


def default_model(modality: str) -> str:
    return DEFAULT_MODELS.get(modality, "padnet")


def default_start(modality: str) -> tuple[str, str | None, str]:
    """(model, init, note) for a run given neither --model nor --init."""
    if modality == "face":
        from spoofguard.zoo import is_pulled

        if is_pulled(FACE_DEFAULT_INIT):
            return init_architecture(FACE_DEFAULT_INIT), FACE_DEFAULT_INIT, (
                f"note: starting from the published {FACE_DEFAULT_INIT} weights in the cache (fine-tuning its MiniFASNetV2 with its "
                f"input contract, early layers frozen, {FINE_TUNE_EPOCHS} epochs); --model padnet trains from scratch instead")
        return default_model(modality), None, (
            f"note: training padnet from scratch; the better default fine-tunes published weights: "
            f"`spoofguard models pull {FACE_DEFAULT_INIT}` (offline: --from DIR), then train again")
    return default_model(modality), None, ""


def init_architecture(path: str) -> str:
    """The architecture a run started with ``--init`` and no ``--model`` trains: the bundle's own (an
    ensemble's first member)."""
    from spoofguard.inference.bundle import read_metadata

    meta = read_metadata(path)
    if meta["architecture"]["name"] == "ensemble":
        return meta["members"][0]["architecture"]["name"]
    return meta["architecture"]["name"]


def validate(cfg: TrainConfig) -> None:
    """Refuse settings that cannot train, each in one line naming its option; before anything is read.
    What only the Preprocessing can judge (e.g. a crop's name, patches of a face) it refuses itself, when
    it is made, still before the data is read."""
    _check_data(cfg.part(DataSpec))
    _check_model(cfg.part(ModelSpec))
    from spoofguard.modalities import MODALITIES

    if cfg.modality not in MODALITIES:
        raise SpoofguardError(f"--modality must be one of {', '.join(MODALITIES)} (got {cfg.modality!r}).")
    _check_fit(cfg.part(FitSpec))
    _check_combinations(cfg)
    if not cfg.init:  # a run from --init keeps its starting model's input contract, checked when that model loads
        check_input_contract(preprocessing_for(cfg.part(ModelSpec), cfg.part(InputSpec)))


def _check_data(spec: DataSpec) -> None:
    from spoofguard.data.protocols import parse_protocol

    if not spec.data:
        raise SpoofguardError("--data is required (a dataset folder or a manifest .csv).")
    parse_protocol(spec.protocol)


def _check_model(spec: ModelSpec) -> None:
    from spoofguard.models import list_models
    from spoofguard.models.registry import check_kwargs

    if spec.model not in list_models():
        raise SpoofguardError(f"unknown model {spec.model!r}; choose one of {', '.join(list_models())}.")
    check_kwargs(spec.model, spec.model_kwargs)  # the options' declared bounds (--theta, --frames)


def _check_fit(spec: FitSpec) -> None:
    from spoofguard.evaluation import parse_threshold_rule
    from spoofguard.training.augment import STRENGTHS

    if not isinstance(spec.epochs, int) or spec.epochs < 1:
        raise SpoofguardError(f"--epochs must be at least 1 (got {spec.epochs}).")
    if spec.monitor not in MONITORS:
        raise SpoofguardError(f"--monitor must be one of {', '.join(MONITORS)}.")
    if spec.batch_size is not None and spec.batch_size < 1:
        raise SpoofguardError("--batch-size must be at least 1.")
    if spec.lr is not None and not spec.lr > 0:
        raise SpoofguardError("--lr must be positive.")
    if spec.augment not in STRENGTHS:
        raise SpoofguardError(f"augmentation must be one of {', '.join(STRENGTHS)}.")
    if not 0.0 <= spec.attack_simulation < 1.0:
        raise SpoofguardError(f"--attack-simulation is a probability in [0, 1), not {spec.attack_simulation}.")
    if spec.attack_species is not None:
        from spoofguard.data.synth.face import FACE_SPECIES

        unknown = [sp for sp in spec.attack_species if sp not in FACE_SPECIES]
        if unknown or not spec.attack_species:
            raise SpoofguardError(f"--attack-species takes some of {', '.join(FACE_SPECIES)}, not {', '.join(unknown) or 'none'}.")
    if spec.freeze < 0 or spec.l2_init < 0:
        raise SpoofguardError(f"--freeze and --l2-init cannot be negative (got {spec.freeze}, {spec.l2_init}).")
    if not isinstance(spec.patches_per_image, int) or spec.patches_per_image < 1:
        raise SpoofguardError(f"--patches-per-image must be at least 1 (got {spec.patches_per_image}).")
    parse_threshold_rule(spec.threshold_rule)


def _check_combinations(cfg: TrainConfig) -> None:
    """Settings of different parts that exclude each other."""
    if cfg.attack_simulation and cfg.modality != "face":
        raise SpoofguardError("--attack-simulation simulates face attacks (print, replay, cut-out); it needs --modality face.")
    if cfg.l2_init and not cfg.init:
        raise SpoofguardError("--l2-init pulls the weights towards where they started: it needs --init (a published model or a run).")
    if cfg.attack_simulation and cfg.species_as_classes:
        raise SpoofguardError("--attack-simulation labels simulated samples 'attack'; it cannot be combined with --species-as-classes.")
    if (cfg.crop == "face" or cfg.precropped or cfg.face_scales) and cfg.modality != "face":
        raise SpoofguardError("--crop face, --face-scales and --precropped are for --modality face.")
    if cfg.precropped and cfg.crop not in (None, "whole"):
        raise SpoofguardError("--precropped looks at the whole image; it cannot be combined with --crop.")
    if cfg.face_detector == "yunet":
        raise SpoofguardError("training finds faces with mtcnn or haar (their weights ship with the packages); YuNet is for prediction (--face-model).")


def preprocessing_for(arch: ModelSpec, inputs: InputSpec):
    """The input contract of a new model: the modality's views at the model's (or the user's) size.
    A name or combination the Preprocessing cannot take (a crop it does not know, patches of a face)
    it refuses itself, in one line."""
    from spoofguard.modalities import MODALITIES, Preprocessing
    from spoofguard.models import model_info

    info = model_info(arch.model)
    if inputs.modality == "fingerprint":
        crop = inputs.crop or info.get("fingerprint_crop", "whole")
    else:
        crop = inputs.crop or ("whole" if inputs.precropped else "face")
    default_size = info.get("fingerprint_patch_size", info["default_input_size"]) if crop == "patches" else info["default_input_size"]
    clip = int(arch.model_kwargs.get("frames", info["kwargs"].get("frames", 0))) if info.get("clip_frames") else 0
    if clip and crop == "patches":
        crop = "whole"  # a clip is one view per frame: the whole print, not a random patch
    contract = info.get("input_contract", {})  # e.g. texture: pixel values 0-255, not normalised
    channels = MODALITIES[inputs.modality]["channels"]
    norm = {"mean": [contract["mean"]] * channels, "std": [contract["std"]] * channels, "pixel_range": contract["pixel_range"]} if contract else {}
    return Preprocessing(inputs.modality, inputs.input_size or default_size, crop=crop, face_scales=list(inputs.face_scales or []),
                         face_detector=inputs.face_detector, clip_frames=clip, **norm)


def check_input_contract(pre) -> None:
    """Refuse an input contract no model file may hold (the bounds every bundle is loaded with: a view's
    size, the values of one capture's views), before anything is trained or written."""
    from spoofguard.inference.metadata import check_preprocessing

    def refuse(where, what):
        return SpoofguardError(f"{what}: no model file may hold this input contract, so the run would write a model that cannot be "
                               "loaded; choose a smaller --input-size, or fewer --face-scales.")

    check_preprocessing(pre.to_dict(), "training", refuse=refuse)
