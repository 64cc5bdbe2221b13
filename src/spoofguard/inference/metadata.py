"""The one validator of a model file's metadata: safetensors bundles and ONNX models alike.

A model file is untrusted input: whoever hands us one chooses every number in its metadata, and
those numbers decide what is built and allocated (a network's width, a patch grid, a batch). So the
metadata is checked against declared bounds *before* anything is built, decoded or allocated, and a
file out of bounds is refused with one :class:`~spoofguard.errors.SpoofguardError` line:

- the architecture: a registered name, and every option by type and range as the model declares it
  with its registration (:func:`spoofguard.models.registry.check_kwargs`); an option that repeats a
  preprocessing figure (``input_size``, a clip's ``frames``) must agree with it. (In an exported ONNX
  model the graph is the network and nothing is built from the options, so there they are only
  checked to be plain values: the onnx backend never imports torch, where the registry lives.)
- classes: a list of 2..:data:`MAX_CLASSES` distinct names, ``bona_fide`` first; the threshold a
  finite number in [0, 1];
- the preprocessing: types, and :data:`PREPROCESSING_BOUNDS` (input size, patch stride and count, face
  scales, clip frames ...), and the values one view and one capture's views may hold
  (:data:`MAX_VALUES_PER_VIEW`, :data:`MAX_VIEW_VALUES`);
- ensembles and imported ONNX models: 1..:data:`MAX_MEMBERS` members, each checked the same way;
- an ONNX model's ``batch_size`` (1..:data:`MAX_BATCH`) and, once its graph is open
  (:func:`check_graph`), that every input and output the metadata names exists with the shape the
  preprocessing says.

:func:`validate_metadata` is used by :func:`~spoofguard.inference.bundle.read_metadata`,
:func:`~spoofguard.inference.bundle.save_bundle` and :func:`~spoofguard.inference.onnx_model.load_onnx`.
"""

from __future__ import annotations

import math

from spoofguard.errors import SpoofguardError

BUNDLE_FORMAT = "spoofguard.bundle"
BUNDLE_FORMAT_VERSION = 1
IMPORTED_FORMAT = "spoofguard.imported-onnx"
ENSEMBLE = "ensemble"

MAX_CLASSES = 256
MAX_NAME = 200  # characters of a class, architecture, input or output name
MAX_MEMBERS = 8
MAX_BATCH = 1024
# the most values (views x side x side x channels) one capture's views may hold: 32 MiB as uint8, 128 MiB as float32;
# e.g. 1024 patches of 96 px (grey) use 9.4 M, 64 patches of 512 px 16.8 M, a 2048 px RGB whole view 12.6 M
MAX_VIEW_VALUES = 2**25
# the most values of one view (one frame of a clip): a model's activations grow with it (spoofnet: 32 float channels per
# pixel); 2**22 admits every grey input size (2048 x 2048) and RGB up to 1182 x 1182
MAX_VALUES_PER_VIEW = 2**22
# (low, high) of the preprocessing's numbers; its other fields are names checked by Preprocessing itself
PREPROCESSING_BOUNDS = {
    "input_size": (16, 2048),
    "channels": (0, 3),
    "patch_stride": (0, 8192),  # 0 = half a patch; else 1..4x the patch side (Preprocessing)
    "max_patches": (1, 1024),
    "min_foreground": (0.0, 1.0),
    "face_min": (0.001, 0.999),
    "pixel_range": (0.001, 65535.0),
    "clip_frames": (0, 64),
}
INTS = ("input_size", "channels", "patch_stride", "max_patches", "clip_frames")
MAX_FACE_SCALES = 8
TEXT_FIELDS = ("modality", "resize", "crop", "face_border", "face_detector", "channel_order")


def invalid(where: str, what: str) -> SpoofguardError:
    return SpoofguardError(f"{where}: the model's metadata is invalid ({what}); the file was damaged or edited.")


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _name(v, limit: int = MAX_NAME) -> bool:
    return isinstance(v, str) and 0 < len(v) <= limit


def check_classes(classes, where: str, what: str = "classes", bona_fide_first: bool = True) -> list[str]:
    if not isinstance(classes, list) or not 2 <= len(classes) <= MAX_CLASSES or not all(_name(c) for c in classes):
        raise invalid(where, f"{what}: need a list of 2 to {MAX_CLASSES} names (text of 1 to {MAX_NAME} characters)")
    if bona_fide_first and classes[0] != "bona_fide":
        raise invalid(where, f"{what}: need a list of names starting with 'bona_fide'")
    if len(set(classes)) != len(classes):
        raise invalid(where, f"{what}: duplicate names")
    return classes


def check_threshold(t, where: str) -> float:
    if not _number(t) or not 0.0 <= t <= 1.0:
        raise invalid(where, f"threshold must be a number in [0, 1], not {t!r}")
    return float(t)


def check_preprocessing(pre, where: str, what: str = "preprocessing", refuse=None):
    """The :class:`~spoofguard.modalities.Preprocessing` a metadata dict describes, within bounds.
    ``refuse(where, what)`` makes the error (default: :func:`invalid`, a damaged or edited file;
    training passes its own, since there the settings, not a file, are at fault)."""
    refuse = refuse or invalid
    from spoofguard.modalities import Preprocessing

    if not isinstance(pre, dict):
        raise refuse(where, what)
    for key, (lo, hi) in PREPROCESSING_BOUNDS.items():
        if key not in pre:
            continue
        v = pre[key]
        if not _number(v) or (key in INTS and not isinstance(v, int)) or not lo <= v <= hi:
            kind = "a whole number" if key in INTS else "a number"
            raise refuse(where, f"{what}: {key} must be {kind} in [{lo:g}, {hi:g}], not {v!r}")
    for key in TEXT_FIELDS:
        if key in pre and not _name(pre[key], 32):
            raise refuse(where, f"{what}: {key} must be a short name, not {pre[key]!r}")
    for key in ("mean", "std"):
        v = pre.get(key, [])
        if not isinstance(v, list) or len(v) > 3 or not all(_number(x) for x in v):
            raise refuse(where, f"{what}: {key} must be a list of up to 3 finite numbers")
    scales = pre.get("face_scales", [])
    if not isinstance(scales, list) or len(scales) > MAX_FACE_SCALES or not all(_number(x) for x in scales):
        raise refuse(where, f"{what}: face_scales must be a list of up to {MAX_FACE_SCALES} numbers")
    if "face_square" in pre and not isinstance(pre["face_square"], bool):
        raise refuse(where, f"{what}: face_square must be true or false")
    if "modality" not in pre or "input_size" not in pre:
        raise refuse(where, f"{what}: needs a modality and an input size")
    try:
        p = Preprocessing.from_dict(pre)
    except (SpoofguardError, TypeError, ValueError) as e:
        raise refuse(where, f"{what}: {e}") from None
    one = p.input_size**2 * p.channels
    if one > MAX_VALUES_PER_VIEW:
        raise refuse(where, f"{what}: a {p.input_size} x {p.input_size} view of {p.channels} channel(s) holds {one:,} values "
                             f"(the most is {MAX_VALUES_PER_VIEW:,})")
    values = view_values(p)
    if values > MAX_VIEW_VALUES:
        raise refuse(where, f"{what}: one capture's views would hold {values:,} values (the most is {MAX_VIEW_VALUES:,}: "
                             "fewer or smaller patches, face scales or clip frames)")
    return p


def view_values(pre) -> int:
    """The most values (views x side x side x channels) the views of one capture can hold."""
    views = pre.max_patches if pre.crop == "patches" else len(pre.face_scales) if pre.crop == "face" else 1
    return views * max(1, pre.clip_frames) * pre.input_size**2 * pre.channels


def check_architecture(arch, where: str, pre=None, what: str = "architecture") -> None:
    """A registered architecture whose options are within the bounds the model declares."""
    from spoofguard.models.registry import check_kwargs, list_models

    if not isinstance(arch, dict) or not _name(arch.get("name")) or not isinstance(arch.get("kwargs"), dict):
        raise invalid(where, what)
    if arch.get("in_chans") not in (1, 3) or isinstance(arch.get("in_chans"), bool):
        raise invalid(where, f"{what} input channels")
    name, kwargs = arch["name"], arch["kwargs"]
    if name not in list_models():
        raise SpoofguardError(f"{where}: the {what} names no registered architecture (unknown model {name!r}; known models: "
                              f"{', '.join(list_models())}); the file was edited, or it comes from a newer spoofguard.")
    try:
        check_kwargs(name, kwargs)
    except SpoofguardError as e:
        raise invalid(where, f"{what}: {e}") from None
    if pre is not None:
        if pre.channels != arch["in_chans"]:
            raise invalid(where, f"{what}: the preprocessing's channels differ from the architecture's")
        if "input_size" in kwargs and kwargs["input_size"] != pre.input_size:
            raise invalid(where, f"{what}: input_size {kwargs['input_size']} but the preprocessing's is {pre.input_size}")
        if "frames" in kwargs and pre.clip_frames and kwargs["frames"] != pre.clip_frames:
            raise invalid(where, f"{what}: a clip of {kwargs['frames']} frames but the preprocessing's is {pre.clip_frames}")


def _check_plain_architecture(arch: dict, where: str, pre) -> None:
    """An exported ONNX model's architecture record: the same shape as a bundle's, options plain values."""
    if arch.get("in_chans") not in (1, 3) or isinstance(arch.get("in_chans"), bool) or arch["in_chans"] != pre.channels:
        raise invalid(where, "architecture input channels")
    kwargs = arch["kwargs"]
    if len(kwargs) > 32 or not all(_name(k, 64) and (v is None or isinstance(v, (bool, str)) or _number(v)) for k, v in kwargs.items()):
        raise invalid(where, "architecture options must be at most 32 plain values")


def _check_members(meta: dict, where: str, registered: bool) -> None:
    members = meta.get("members")
    if not isinstance(members, list) or not 1 <= len(members) <= MAX_MEMBERS:
        raise invalid(where, f"members: need a list of 1 to {MAX_MEMBERS} models")
    for i, m in enumerate(members):
        what = f"member {i}"
        if not isinstance(m, dict):
            raise invalid(where, what)
        pre = check_preprocessing(m.get("preprocessing"), where, f"{what} preprocessing")
        if registered:
            check_architecture(m.get("architecture"), where, pre, f"{what} architecture")
            n_out = len(check_classes(m.get("classes"), where, f"{what} classes", bona_fide_first=False))
        else:
            n_out = None
            if not _name(m.get("output")):
                raise invalid(where, f"{what}: output must name one of the graph's outputs")
        if not _name(m.get("input")) or (m.get("output") is not None and not _name(m.get("output"))):
            raise invalid(where, f"{what}: input and output must be names")
        b = m.get("bona_fide_index")
        if not isinstance(b, int) or isinstance(b, bool) or b < 0 or (n_out is not None and b >= n_out):
            raise invalid(where, f"{what}: bona_fide_index must be a whole number naming one of its outputs, not {b!r}")
        if m.get("output_kind", "logits") not in ("logits", "probabilities"):
            raise invalid(where, f"{what}: output_kind must be logits or probabilities")


def validate_metadata(meta, where: str, container: str = "safetensors") -> dict:
    """Check a model file's metadata (``container``: "safetensors" | "onnx"); returns it unchanged."""
    if not isinstance(meta, dict):
        raise invalid(where, "not a JSON object")
    fmt = meta.get("format")
    if fmt not in (BUNDLE_FORMAT, IMPORTED_FORMAT) or (fmt == IMPORTED_FORMAT and container != "onnx"):
        raise invalid(where, "no spoofguard format marker")
    if fmt == BUNDLE_FORMAT and meta.get("format_version") != BUNDLE_FORMAT_VERSION:
        raise SpoofguardError(f"{where}: bundle format version {meta.get('format_version')!r} is not supported by this spoofguard "
                              f"(expects {BUNDLE_FORMAT_VERSION}).")
    check_classes(meta.get("classes"), where)
    check_threshold(meta.get("threshold"), where)
    pre = check_preprocessing(meta.get("preprocessing"), where)
    arch = meta.get("architecture")
    if not isinstance(arch, dict) or not _name(arch.get("name")) or not isinstance(arch.get("kwargs"), dict):
        raise invalid(where, "architecture")
    if fmt == IMPORTED_FORMAT:  # third-party graphs: the graph is the architecture; the members say how to feed it
        if meta["classes"] != ["bona_fide", "attack"]:
            raise invalid(where, "classes: an imported model's are ['bona_fide', 'attack']")
        _check_members(meta, where, registered=False)
    elif arch["name"] == ENSEMBLE:
        if arch.get("in_chans") not in (1, 3) or pre.channels != arch["in_chans"]:
            raise invalid(where, "architecture input channels")
        _check_members(meta, where, registered=True)
    else:
        if "members" in meta:
            raise invalid(where, "members belong to ensembles and imported models")
        if container == "safetensors":  # the network is built from these options: registry bounds
            check_architecture(arch, where, pre)
        else:  # an exported graph is the network; nothing is built from its options (and no torch is imported)
            _check_plain_architecture(arch, where, pre)
        if not isinstance(meta.get("weights_sha256"), str):
            raise invalid(where, "weights checksum")
    b = meta.get("batch_size")
    if b is not None and (not isinstance(b, int) or isinstance(b, bool) or not 1 <= b <= MAX_BATCH):
        raise invalid(where, f"batch_size must be a whole number in [1, {MAX_BATCH}], not {b!r}")
    return meta


def check_graph(meta: dict, session, where: str) -> None:
    """An opened ONNX model (an onnxruntime session) against its metadata: every input and output
    the metadata names exists, and the inputs' fixed dimensions are the preprocessing's."""
    from spoofguard.inference.runners import members_of

    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    if not inputs or not outputs:
        raise invalid(where, "the graph has no inputs or no outputs")
    own = "members" not in meta  # an exported bundle: one input (the first), one output (the first): its classes
    for i, m in enumerate(members_of(meta)):
        what = "the model" if own else f"member {i}"
        name = next(iter(inputs)) if own else m.input
        if name not in inputs:
            raise invalid(where, f"{what}'s input {name!r} is not an input of the graph ({', '.join(list(inputs)[:8])})")
        out = next(iter(outputs)) if own else m.output or next(iter(outputs))
        if out not in outputs:
            raise invalid(where, f"{what}'s output {out!r} is not an output of the graph ({', '.join(list(outputs)[:8])})")
        pre = m.preprocessing
        want = ([pre.clip_frames] if pre.clip_frames else []) + [pre.channels, pre.input_size, pre.input_size]
        shape = list(inputs[name].shape or [])
        if len(shape) != len(want) + 1 or any(isinstance(s, int) and s != w for s, w in zip(shape[1:], want)):
            raise invalid(where, f"{what}'s input {name!r} has shape {shape}; the preprocessing feeds [N, {', '.join(map(str, want))}]")
        oshape = list(outputs[out].shape or [])
        n = oshape[-1] if len(oshape) == 2 and isinstance(oshape[-1], int) else None
        if own and n is not None and n != len(meta["classes"]):
            raise invalid(where, f"the graph gives {n} outputs per capture for {len(meta['classes'])} classes")
        if not own and n is not None and m.bona_fide_index >= n:
            raise invalid(where, f"{what}'s bona_fide_index {m.bona_fide_index} but its output has {n} values")


# what a file that is not a model often is: the first bytes of common media and archive formats
_MAGIC = ((b"\xff\xd8\xff", "a JPEG image"), (b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"GIF8", "a GIF image"), (b"BM", "a BMP image"),
          (b"II*\x00", "a TIFF image"), (b"MM\x00*", "a TIFF image"), (b"RIFF", "a RIFF file (WebP image, AVI or WAV)"),
          (b"\x1aE\xdf\xa3", "a Matroska / WebM video"), (b"%PDF", "a PDF document"))
# (pickles and zip-packed PyTorch checkpoints have their own message where a bundle is opened)


def looks_like(path) -> str | None:
    """What a file that is not a model looks like from its first bytes ("a JPEG image"), or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return None
    if head[4:8] == b"ftyp":
        return "an MP4 / MOV video or a HEIC image"
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    return None


def not_a_model_hint(path) -> str:
    """' It looks like a JPEG image, not a model: the model comes first (spoofguard predict MODEL IMAGES).' or ''."""
    what = looks_like(path)
    if what is None:
        return ""
    return (f" It looks like {what}, not a model; commands take the model first "
            "(e.g. `spoofguard predict MODEL IMAGES`) and a model is a .safetensors bundle or an .onnx file.")
