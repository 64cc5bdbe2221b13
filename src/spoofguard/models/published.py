"""Loading third-party published PyTorch weights without unpickling anything a user hands us.

:func:`load_state_dict_file` reads a ``torch.save`` file with ``weights_only=True`` (PyTorch's
restricted unpickler: tensors, plain containers and numbers only; any other object, e.g. a class
instance or an ``os.system`` reduce, is refused before it is built) and accepts only a flat mapping
``str -> Tensor`` (or such a mapping under one ``"state_dict"`` key, as training checkpoints store it).
A leading DataParallel ``module.`` prefix is stripped from the keys.

:func:`load_minifasnet` builds the matching MiniFASNet (3 classes, upstream order: class 1 = bona fide)
and loads such a file with ``strict=True``, e.g. the Silent-Face-Anti-Spoofing weights
``2.7_80x80_MiniFASNetV2.pth`` (``minifasnet-v2``) and ``4_0_0_80x80_MiniFASNetV1SE.pth``
(``minifasnet-v1se``). See :mod:`spoofguard.models.minifasnet` for their input contract.
"""

from __future__ import annotations

import pickle
import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from spoofguard.errors import SpoofguardError
from spoofguard.models.registry import create_model

# Upstream's 3 outputs: class 1 = bona fide, classes 0 and 2 = two kinds of attack (upstream does not name them).
UPSTREAM_CLASSES = ["attack_0", "bona_fide", "attack_2"]
UPSTREAM_BONA_FIDE_INDEX = 1
MINIFASNETS = ("minifasnet-v1", "minifasnet-v2", "minifasnet-v1se", "minifasnet-v2se")
_UPSTREAM_NAMES = {"MiniFASNetV1": "minifasnet-v1", "MiniFASNetV2": "minifasnet-v2",
                   "MiniFASNetV1SE": "minifasnet-v1se", "MiniFASNetV2SE": "minifasnet-v2se"}
_RESAVE = "re-save it as a plain state_dict (torch.save(model.state_dict(), path))"


def _reason(err: BaseException) -> str:
    """One short line from an exception: torch's weights_only errors put the reason after "error:"."""
    text = str(err)
    match = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    lines = [match.group(1)] if match else text.strip().splitlines()
    line = lines[0].strip() if lines and lines[0].strip() else type(err).__name__
    return line if len(line) <= 160 else line[:157] + "..."


def load_state_dict_file(path) -> dict[str, torch.Tensor]:
    """The flat ``{name: tensor}`` mapping stored in a ``torch.save`` file, ``module.`` prefixes stripped.

    Raises SpoofguardError for a missing or unreadable file, a pickle holding anything but tensors and
    plain containers, or a structure other than a flat mapping of str -> Tensor.
    """
    path = Path(path)
    if not path.is_file():
        raise SpoofguardError(f"no weights file at {path}; check the path")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*pickle protocol")  # plain pickle.dump files
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:  # the restricted unpickler refused it: nothing was built or run
        global_name = re.search(r"GLOBAL ([\w.]+)", str(err))
        if global_name:
            raise SpoofguardError(
                f"{path} holds Python objects other than tensors (it refers to {global_name.group(1)}); it was not "
                f"unpickled for safety and nothing in it ran: {_RESAVE} from a trusted copy"
            ) from None
        raise SpoofguardError(
            f"cannot read {path} as a PyTorch weights file: the safe loader (weights_only) refused it "
            f"({_reason(err)}) and nothing in it ran; check that it is a complete torch.save file, or {_RESAVE}"
        ) from None
    except Exception as err:  # truncated zip, not a torch file at all, I/O errors ...
        raise SpoofguardError(
            f"cannot read {path} as a PyTorch weights file ({type(err).__name__}: {_reason(err)}); "
            "check that the file is complete (download it again) and was written by torch.save"
        ) from None

    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]  # a training checkpoint: {"state_dict": {...}, "epoch": ..., ...}
    if not isinstance(obj, Mapping):
        raise SpoofguardError(f"{path} holds a {type(obj).__name__}, not a state_dict (a mapping name -> tensor); {_RESAVE}")
    if not obj:
        raise SpoofguardError(f"{path} holds an empty mapping, no weights; {_RESAVE}")

    state: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        if not isinstance(key, str):
            raise SpoofguardError(f"{path}: key {key!r} is not a string, so this is not a state_dict; {_RESAVE}")
        if not isinstance(value, torch.Tensor):
            kind = "a nested mapping" if isinstance(value, Mapping) else f"a {type(value).__name__}"
            raise SpoofguardError(f"{path}: entry {key!r} is {kind}, not a tensor; expected a flat state_dict, {_RESAVE}")
        name = key[len("module."):] if key.startswith("module.") else key
        if name in state:
            raise SpoofguardError(f"{path}: keys {key!r} and {name!r} collide once the 'module.' prefix is stripped; {_RESAVE}")
        state[name] = value
    return state


def _mismatch(model: nn.Module, state: Mapping[str, torch.Tensor]) -> list[str]:
    """What keeps ``state`` from loading strictly into ``model`` (empty when it fits)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
              if k in state and state[k].shape != v.shape]
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape (file vs model)", shapes)):
        if items:
            more = f" and {len(items) - 3} more" if len(items) > 3 else ""
            problems.append(f"{len(items)} {label}: {', '.join(items[:3])}{more}")
    return problems


def _minifasnet(name: str, input_size: int) -> nn.Module:
    return create_model(name, classes=UPSTREAM_CLASSES, in_chans=3, input_size=input_size)


def load_minifasnet(name: str, path, input_size: int | None = None) -> nn.Module:
    """A MiniFASNet (``minifasnet-v1|v2|v1se|v2se`` or upstream ``MiniFASNetV2`` ...) with the weights in ``path``.

    The model has upstream's 3 outputs (:data:`UPSTREAM_CLASSES`, class 1 = bona fide) and is returned in
    eval mode. ``input_size`` defaults to 16 x the file's final kernel (80 for the published 5x5 kernels).
    """
    arch = _UPSTREAM_NAMES.get(name, name)
    if arch not in MINIFASNETS:
        raise SpoofguardError(f"unknown MiniFASNet {name!r}; choose one of {', '.join(MINIFASNETS)}")
    state = load_state_dict_file(path)
    if input_size is None:
        kernel = state.get("conv_6_dw.conv.weight")
        input_size = 16 * int(kernel.shape[-1]) if kernel is not None and kernel.dim() == 4 else 80
    model = _minifasnet(arch, input_size)
    problems = _mismatch(model, state)
    if problems:
        fits = [other for other in MINIFASNETS if other != arch and not _mismatch(_minifasnet(other, input_size), state)]
        hint = f"it fits {fits[0]}, load it as that" if fits else "check that it is a MiniFASNet state_dict with 3 classes"
        raise SpoofguardError(f"{path} does not fit {arch} at {input_size}x{input_size} ({'; '.join(problems)}); {hint}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:  # e.g. a dtype that cannot be copied into float parameters
        raise SpoofguardError(f"{path} does not load into {arch}: {_reason(err)}") from None
    return model.eval()
