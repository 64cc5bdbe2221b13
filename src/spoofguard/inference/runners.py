"""Runners: a model's views in, class probabilities out, one runner per backend.

A capture's views (``uint8 (N, H, W, C)`` arrays cut by the bundle's preprocessing) go through a
runner: :class:`TorchRunner` (a bundle's torch model), :class:`OnnxRunner` (an exported or imported
ONNX model on onnxruntime, without torch) or, for ensemble bundles,
:class:`~spoofguard.inference.ensemble.TorchEnsembleRunner`. Each returns class probabilities
``(N, K)``, class 0 = bona fide; :func:`fuse` turns one capture's views into its probabilities (their
mean). :func:`run_views` batches the views of many captures through a runner with bounded memory.

A bundle has one model; an imported ONNX ensemble has several *members* (:class:`Member`), each with
its own input contract, whose bona fide probabilities are averaged (:func:`ensemble_probabilities`).
The detector, training's dev scoring and the validator of ONNX graphs all read models through here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spoofguard.errors import SpoofguardError

# the most values (views x side x side x channels) one forward pass is given: 32 views of 128 px RGB or 362 px grey fit,
# so the usual batches run as they always did; a model file with huge views is fed fewer at a time instead of exhausting
# memory (one 1182 px RGB view through spoofnet: 0.7 GB peak; two at once were 1.15 GB)
RUN_VALUES = 2**22


def scores_from_logits(logits) -> tuple[np.ndarray, np.ndarray]:
    """(bona fide score per row, class probabilities per row); class 0 is bona fide."""
    import torch

    probs = torch.softmax(logits.float(), dim=1)
    return probs[:, 0].cpu().numpy(), probs.cpu().numpy()


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


@dataclass
class Member:
    """One model of a bundle: its input contract and how to read its output. Our own bundles have
    one member whose outputs are the bundle's classes (``bona_fide_index=None``)."""

    preprocessing: object  # Preprocessing
    input: str = "input"
    output: str | None = None  # None: the model's first output
    bona_fide_index: int | None = None
    output_kind: str = "logits"  # "logits" | "probabilities"


def members_of(metadata: dict) -> list[Member]:
    from spoofguard.modalities import Preprocessing

    if "members" not in metadata:
        return [Member(Preprocessing.from_dict(metadata["preprocessing"]))]
    return [Member(Preprocessing.from_dict(m["preprocessing"]), m["input"], m["output"], int(m["bona_fide_index"]),
                   m.get("output_kind", "logits")) for m in metadata["members"]]


def ensemble_probabilities(member_probabilities: list[np.ndarray], members: list[Member]) -> np.ndarray:
    """``(N, 2)`` [bona fide, attack] of an ensemble: the mean of its members' bona fide probabilities
    (each member's own ``(N, K)`` class probabilities, bona fide at its ``bona_fide_index``)."""
    bona = np.mean([p[:, m.bona_fide_index] for p, m in zip(member_probabilities, members)], axis=0)
    return np.stack([bona, 1.0 - bona], axis=1).astype(np.float32)


class TorchRunner:
    """Runs a bundle's torch model: ``uint8 (N, H, W, C)`` views -> class probabilities ``(N, K)``."""

    def __init__(self, model, preprocessing, device: str = "cpu"):
        import torch

        self.model, self.preprocessing, self.device = model, preprocessing, torch.device(device)
        self.model.to(self.device).eval()

    def __call__(self, arrays) -> np.ndarray:
        import torch

        arrays = arrays if isinstance(arrays, np.ndarray) else arrays[0]
        with torch.inference_mode():
            x = self.preprocessing.normalise(self.preprocessing.to_tensor(arrays)).to(self.device)
            return scores_from_logits(self.model(x))[1]


class OnnxRunner:
    """Runs an exported or imported model on onnxruntime, without torch: one array of views per
    member (all with the same number of views) -> class probabilities ``(N, K)``."""

    def __init__(self, session, members: list[Member], batch_size: int | None = None):
        self.session, self.members, self.batch_size = session, members, batch_size
        self.preprocessing = members[0].preprocessing
        if len(members) == 1 and members[0].bona_fide_index is None:
            members[0].input = session.get_inputs()[0].name

    def __call__(self, arrays) -> np.ndarray:
        arrays = [arrays] if isinstance(arrays, np.ndarray) else list(arrays)
        if self.batch_size and len(arrays[0]) > self.batch_size:  # a model that only takes batches of its own size
            step = self.batch_size
            return np.concatenate([self([a[i : i + step] for a in arrays]) for i in range(0, len(arrays[0]), step)])
        feeds = {m.input: m.preprocessing.to_input(a) for m, a in zip(self.members, arrays)}
        outputs = self.session.run([m.output for m in self.members] if self.members[0].output else None, feeds)
        if self.members[0].bona_fide_index is None:
            return softmax(np.asarray(outputs[0]))
        return ensemble_probabilities([softmax(np.asarray(o)) if m.output_kind == "logits" else np.asarray(o, np.float32)
                                       for m, o in zip(self.members, outputs)], self.members)




def fuse(probs: np.ndarray) -> np.ndarray:
    """One capture's class probabilities from its views' ``(n_views, n_classes)``: their mean."""
    return probs.mean(axis=0)


def view_probabilities(model, preprocessing, views: list, device="cpu", batch_size: int = 32) -> list[np.ndarray]:
    """Class probabilities ``(n_views, n_classes)`` for each capture's views (a torch model)."""
    return run_views(TorchRunner(model, preprocessing, device), views, batch_size)


def run_views(runner, views: list, batch_size: int = 32) -> list[np.ndarray]:
    """Class probabilities ``(n_views, n_classes)`` for each capture's views, batched across captures.
    An entry is a capture's Views, or a list of them (one per member of an ensemble)."""
    if not views:
        return []
    per_member = [v if isinstance(v, list) else [v] for v in views]
    arrays = [np.concatenate([v[m].arrays for v in per_member]) for m in range(len(per_member[0]))]
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise SpoofguardError("the members of this ensemble cut different numbers of views; each member needs exactly one face scale.")
    per_view = max(1, sum(int(a[0].size) for a in arrays))
    step = max(1, min(batch_size, RUN_VALUES // per_view))  # huge views: fewer per forward pass
    probs = np.concatenate([runner([a[start : start + step] for a in arrays]) for start in range(0, n, step)])
    bounds = np.cumsum([0] + [len(v[0].arrays) for v in per_member])
    return [probs[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
