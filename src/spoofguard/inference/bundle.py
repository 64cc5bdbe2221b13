"""Model bundles: weights in safetensors, everything else in a JSON metadata header.

A bundle is one ``.safetensors`` file. Its header carries, under the key ``spoofguard``, a JSON
document with the architecture and its arguments, the class names, the preprocessing (input size,
channels, normalisation, modality), the decision threshold chosen on the dev split, training
provenance and package versions, and a SHA-256 of the weights. Loading goes through safetensors
only: nothing is ever unpickled. A file that is not a bundle, is truncated, or whose metadata or
weights were altered is refused with a message that says so.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from spoofguard.errors import SpoofguardError
from spoofguard.inference.metadata import BUNDLE_FORMAT as FORMAT
from spoofguard.inference.metadata import BUNDLE_FORMAT_VERSION as FORMAT_VERSION
from spoofguard.modalities import Preprocessing

META_KEY = "spoofguard"


@dataclass
class Bundle:
    """A loaded model with its contract: what goes in, what comes out, where to cut."""

    model: nn.Module
    metadata: dict
    path: str = ""

    @property
    def classes(self) -> list[str]:
        return list(self.metadata["classes"])

    @property
    def threshold(self) -> float:
        return float(self.metadata["threshold"])

    @property
    def preprocessing(self) -> Preprocessing:
        return Preprocessing.from_dict(self.metadata["preprocessing"])

    @property
    def modality(self) -> str:
        return self.metadata["preprocessing"]["modality"]

    @property
    def architecture(self) -> str:
        return self.metadata["architecture"]["name"]


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def save_bundle(path: str | os.PathLike, model: nn.Module, metadata: dict) -> Path:
    """Write ``model`` and ``metadata`` (must hold classes, preprocessing, threshold) to ``path``."""
    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": {"name": model.arch_name, "kwargs": dict(model.arch_kwargs), "in_chans": _in_chans(metadata)},
        **metadata,
        "weights_sha256": weights_digest(state),
    }
    _validate(meta, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(state, str(tmp), metadata={META_KEY: json.dumps(meta, sort_keys=True)})
    os.replace(tmp, path)  # a crash never leaves a half-written bundle under the real name
    return path


def _in_chans(metadata: dict) -> int:
    return int(metadata["preprocessing"]["channels"])


def read_metadata(path: str | os.PathLike) -> dict:
    """The bundle's metadata, without loading weights; refuses files that are not bundles."""
    from safetensors import safe_open

    path = _check_path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise SpoofguardError(_not_a_bundle(path, f"it is not a readable safetensors file ({e})")) from None
    if META_KEY not in header:
        raise SpoofguardError(_not_a_bundle(path, "it is a safetensors file without spoofguard metadata"))
    try:
        meta = json.loads(header[META_KEY])
    except json.JSONDecodeError as e:
        raise SpoofguardError(f"{path}: the bundle's metadata is not valid JSON ({e}); the file was damaged or edited.") from None
    _validate(meta, str(path))
    return meta


def load_bundle(path: str | os.PathLike, device: str | torch.device = "cpu") -> Bundle:
    """Load a bundle written by :func:`save_bundle` (or ``spoofguard train``)."""
    from spoofguard.models import create_model

    path = _check_path(path)  # a run folder means its model.safetensors, for the metadata and the weights alike
    meta = read_metadata(path)
    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise SpoofguardError(_not_a_bundle(path, f"its weights cannot be read ({e}); the file may be truncated")) from None
    if weights_digest(state) != meta["weights_sha256"]:
        raise SpoofguardError(f"{path}: the weights do not match the checksum in the bundle's metadata; the file was modified or damaged.")
    bad = sorted(k for k, t in state.items() if t.is_floating_point() and not bool(torch.isfinite(t).all()))
    if bad:  # NaN or inf weights would give NaN scores (and invalid JSON) for every input
        raise SpoofguardError(f"{path}: {len(bad)} weight tensor(s) hold NaN or infinite values (e.g. {bad[0]}); the model is broken, retrain or re-export it.")
    arch = meta["architecture"]
    if arch["name"] == "ensemble":  # several registered models, each with its own input contract
        from spoofguard.inference.ensemble import build_ensemble

        model = build_ensemble(meta, str(path))
    else:
        model = create_model(arch["name"], classes=meta["classes"], in_chans=arch["in_chans"], **arch["kwargs"])
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0:2]
        raise SpoofguardError(
            f"{path}: the weights do not fit the architecture {arch['name']!r} described in the metadata "
            f"({' '.join(first)}); the metadata was edited or the bundle is from an incompatible version."
        ) from None
    model.eval().to(device)
    return Bundle(model=model, metadata=meta, path=str(path))


def _check_path(path) -> Path:
    from spoofguard.zoo import resolve

    path = Path(resolve(os.fspath(path)))  # a zoo name means its pulled bundle
    if not path.exists():
        raise SpoofguardError(f"{path}: no such model file.")
    if path.is_dir():
        candidate = path / "model.safetensors"
        if candidate.is_file():
            return candidate
        raise SpoofguardError(f"{path}: is a folder without a model.safetensors (did the training run finish?).")
    with open(path, "rb") as f:
        head = f.read(9)
    # a safetensors file starts with its JSON header's length (8 bytes, little-endian) and then "{"; that
    # length's first byte may be 0x80 or spell "PK", so the pickle/zip signatures are checked only otherwise
    declared = int.from_bytes(head[:8], "little") if len(head) >= 8 else 0
    if len(head) == 9 and head[8:9] == b"{" and 0 < declared < path.stat().st_size:
        return path
    if head[:2] == b"PK" or head[:1] == b"\x80":
        raise SpoofguardError(
            _not_a_bundle(path, "it looks like a pickled PyTorch checkpoint, which spoofguard never loads (pickles can run code)")
        )
    return path


def _not_a_bundle(path: Path, why: str) -> str:
    from spoofguard.inference.metadata import not_a_model_hint

    hint = not_a_model_hint(path)
    if hint:  # a JPEG or a video given as the model: say that, not what the safetensors parser choked on
        return f"{path} is not a spoofguard model bundle.{hint}"
    return f"{path} is not a spoofguard model bundle: {why}. Use the model.safetensors written by `spoofguard train`."


def _validate(meta: dict, where: str) -> None:
    """Check the metadata against the declared bounds (:mod:`spoofguard.inference.metadata`, the one
    validator ONNX models go through too) so a tampered or foreign file fails here, not deep in a model."""
    from spoofguard.inference.metadata import validate_metadata

    validate_metadata(meta, where, container="safetensors")
