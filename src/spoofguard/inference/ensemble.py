"""Ensemble bundles: several registered models in one safetensors file, each with its own input contract.

A published detector is often a set of models whose bona fide probabilities are averaged, each
looking at its own crop: Silent-Face runs MiniFASNetV2 on the face at context scale 2.7 and
MiniFASNetV1SE at 4.0. ``spoofguard import-onnx`` already puts such a set in one ONNX file; an
ensemble bundle is the same thing for torch weights:

- the weights of member ``i`` are stored under ``members.<i>.`` (an :class:`Ensemble` module);
- the metadata's ``members`` list gives, per member, its architecture (a registered model, rebuilt
  through the registry, never unpickled), its preprocessing, its classes and which output is bona fide;
- the top level is ``architecture.name = "ensemble"`` with classes ``["bona_fide", "attack"]``: the
  score is the mean over members of softmax(member)[bona_fide_index], the rule of
  :class:`~spoofguard.inference.runners.OnnxRunner`, so an imported ONNX pair and its torch bundle
  give the same scores.

``silent_face_bundle`` converts the two published Silent-Face state dicts into such a bundle (the
model zoo calls it: ``spoofguard models pull silent-face``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from spoofguard.errors import SpoofguardError
from spoofguard.inference.runners import ensemble_probabilities
from spoofguard.inference.metadata import ENSEMBLE, MAX_MEMBERS  # noqa: F401  (the validator's bounds)

# Silent-Face's published input contract (examples/silent-face.yaml, ../shared/peers/README.md)
SILENT_FACE = (("minifasnet-v2", "2.7_80x80_MiniFASNetV2.pth", 2.7), ("minifasnet-v1se", "4_0_0_80x80_MiniFASNetV1SE.pth", 4.0))


class Ensemble(nn.Module):
    """The member models side by side (``members.<i>.*`` in the state dict); scored by :class:`TorchEnsembleRunner`."""

    arch_name = ENSEMBLE
    arch_kwargs: dict = {}

    def __init__(self, models: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(models)

    def forward(self, *inputs: torch.Tensor) -> list[torch.Tensor]:
        return [m(x) for m, x in zip(self.members, inputs)]


def runs_on_torch_only(path) -> bool:
    """True for an ensemble bundle (no ONNX export of it): ``auto`` backends pick torch for it."""
    from spoofguard.inference.bundle import read_metadata

    if str(path).lower().endswith(".onnx"):
        return False
    try:
        return read_metadata(path)["architecture"]["name"] == ENSEMBLE
    except SpoofguardError:
        return False  # the caller's own loading says what is wrong with the file


def member_specs(metadata: dict) -> list[dict]:
    members = metadata.get("members")
    if not isinstance(members, list) or not 1 <= len(members) <= MAX_MEMBERS:
        raise SpoofguardError(f"an ensemble bundle needs 1 to {MAX_MEMBERS} members in its metadata.")
    return members


def build_ensemble(metadata: dict, where: str = "") -> Ensemble:
    """The (untrained) Ensemble a bundle's metadata describes, every member built through the registry."""
    from spoofguard.models import create_model, list_models

    models = []
    for i, m in enumerate(member_specs(metadata)):
        arch = m.get("architecture") if isinstance(m, dict) else None
        if not isinstance(arch, dict) or arch.get("name") not in list_models() or not isinstance(arch.get("kwargs"), dict):
            raise SpoofguardError(f"{where}: ensemble member {i} names no registered architecture; the file was damaged or edited.")
        classes = m.get("classes")
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise SpoofguardError(f"{where}: ensemble member {i} has no class list; the file was damaged or edited.")
        models.append(create_model(arch["name"], classes=classes, in_chans=int(arch.get("in_chans", 3)), **arch["kwargs"]))
    return Ensemble(models)


def save_ensemble_bundle(path: str | Path, models: list[nn.Module], preprocessings: list, bona_fide_indices: list[int],
                         metadata: dict) -> Path:
    """Write an ensemble bundle; ``metadata`` needs ``threshold`` (and may carry provenance)."""
    from spoofguard.inference.bundle import save_bundle

    if not 1 <= len(models) <= MAX_MEMBERS or not len(models) == len(preprocessings) == len(bona_fide_indices):
        raise SpoofguardError(f"an ensemble takes 1 to {MAX_MEMBERS} models, each with its preprocessing and bona fide output.")
    members = [{"architecture": {"name": m.arch_name, "kwargs": dict(m.arch_kwargs), "in_chans": int(p.channels)},
                "classes": list(m.classes), "preprocessing": p.to_dict(), "input": f"member{i}", "output": None,
                "bona_fide_index": int(k), "output_kind": "logits"}
               for i, (m, p, k) in enumerate(zip(models, preprocessings, bona_fide_indices))]
    meta = {"classes": ["bona_fide", "attack"], "preprocessing": preprocessings[0].to_dict(), **metadata, "members": members}
    return save_bundle(path, Ensemble(list(models)).eval(), meta)


class TorchEnsembleRunner:
    """One array of views per member -> ``(N, 2)`` [bona fide, attack]: the members' bona fide
    probabilities averaged (the rule of the ONNX ensembles)."""

    def __init__(self, model: Ensemble, members, device: str = "cpu"):
        self.model, self.members, self.device = model, members, torch.device(device)
        self.preprocessing = members[0].preprocessing
        self.model.to(self.device).eval()

    def __call__(self, arrays) -> np.ndarray:
        arrays = [arrays] if isinstance(arrays, np.ndarray) else list(arrays)
        probs = []
        with torch.inference_mode():
            for net, member, a in zip(self.model.members, self.members, arrays):
                x = member.preprocessing.normalise(member.preprocessing.to_tensor(a)).to(self.device)
                probs.append(torch.softmax(net(x).float(), dim=1).cpu().numpy())
        return ensemble_probabilities(probs, self.members)


def silent_face_bundle(files: dict, out: str | Path, entry=None) -> Path:
    """The two published Silent-Face state dicts (``files``: name -> path) as one ensemble bundle with
    their input contract: BGR, raw 0-255 pixels, 80x80 crops of the face at scales 2.7 and 4.0 with the
    shift-into-frame border rule, class 1 = bona fide, softmaxes averaged, threshold 0.5 (upstream's)."""
    from spoofguard.modalities import Preprocessing
    from spoofguard.models.published import load_minifasnet

    models, pres = [], []
    for arch, name, scale in SILENT_FACE:
        if name not in files:
            raise SpoofguardError(f"silent-face needs the file {name}.")
        models.append(load_minifasnet(arch, files[name]))
        pres.append(Preprocessing("face", 80, channels=3, mean=[0.0] * 3, std=[1.0] * 3, crop="face", face_scales=[scale],
                                  face_border="shift", face_square=False, channel_order="BGR", pixel_range=255.0))
    source = {} if entry is None else {"name": entry.name, "licence": entry.licence, "source": entry.source,
                                       "files": [{"name": f.name, "url": f.url, "sha256": f.sha256} for f in entry.files]}
    return save_ensemble_bundle(out, models, pres, [1, 1], {
        "threshold": 0.5,
        "threshold_rule": "fixed",
        "threshold_source": "Silent-Face's own rule (0.5); pick yours on a dev split of your own captures",
        "published": source or {"name": "silent-face", "licence": "Apache-2.0"},
    })
