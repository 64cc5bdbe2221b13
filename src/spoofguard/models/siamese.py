"""siamese: a metric-learning PAD model that decides by similarity to class prototypes.

The anti-spoofing web app this project descends from kept a Siamese network for its one-shot
ability: a capture is judged by how close it is to examples of bona fide and of each attack
species, so a new species can be added from a handful of examples without retraining.

- **Embedding**: padnet's backbone (space-to-depth CDC stem, MobileNetV3 blocks, global pooling),
  then a linear projection to ``embed_dim`` and L2 normalisation: captures live on the unit sphere.
- **Prototypes**: ``prototypes`` unit vectors, each voting for one class (``prototype_class``);
  a class's logit is the log-sum-exp of ``scale * cos(embedding, prototype)`` over its prototypes,
  divided by a ``temperature`` calibrated on the dev split, so the softmax is a calibrated
  probability and score = P(bona fide) as for every other model.
- **Training** (metric learning with proxies, CosFace: Wang et al., CVPR 2018): during training the
  prototypes are learned proxies, and the target class's cosine is reduced by ``margin`` before
  scaling, which pulls each class's embeddings together and pushes classes apart by an angular
  margin. After training the prototypes are replaced by the **mean embedding of each class's
  training captures** (:meth:`set_prototypes`), which is exactly what enrolment does later.
- **Enrolment** (``spoofguard enroll``): a new attack species (or more site-specific bona fide
  examples) is the normalised mean embedding of 5-20 examples, appended as a prototype; the
  backbone is not touched.

Classes are bona fide plus one per attack species (the species are the classes).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from spoofguard.models.padnet import PadNet
from spoofguard.models.padnet import BOUNDS as PADNET_BOUNDS
from spoofguard.models.registry import Capabilities, Float, Int, register_model


class Siamese(nn.Module):
    def __init__(self, num_classes: int, in_chans: int = 3, embed_dim: int = 128, width: float = 1.0, theta: float = 0.7,
                 depth: int = 5, scale: float = 16.0, margin: float = 0.25, prototypes: int = 0):
        super().__init__()
        if not 0 <= margin < 1 or scale <= 0 or embed_dim < 2:
            raise ValueError("need 0 <= margin < 1, scale > 0, embed_dim >= 2")
        n_protos = int(prototypes) or num_classes
        if n_protos < num_classes:
            raise ValueError(f"{n_protos} prototypes cannot cover {num_classes} classes")
        self.backbone = PadNet(2, in_chans, width=width, theta=theta, depth=depth)
        feat = self.backbone.last[0].out_channels
        self.backbone.head = nn.Flatten()  # pooled features, no classifier
        self.project = nn.Linear(feat, embed_dim)
        self.prototypes = nn.Parameter(F.normalize(torch.randn(n_protos, embed_dim), dim=1))
        self.register_buffer("prototype_class", torch.arange(n_protos) % num_classes)
        self.register_buffer("temperature", torch.ones(()))
        self.num_classes, self.scale, self.margin = num_classes, float(scale), float(margin)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.project(self.backbone(x)), dim=1)

    def cosines(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(x) @ F.normalize(self.prototypes, dim=1).t()  # (N, prototypes)

    def class_logits(self, cos: torch.Tensor) -> torch.Tensor:
        logits = self.scale * cos / self.temperature
        owners = self.prototype_class.tolist()
        return torch.stack([torch.logsumexp(logits[:, [i for i, c in enumerate(owners) if c == k]], dim=1)
                            for k in range(self.num_classes)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.class_logits(self.cosines(x))

    def margin_logits(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Training logits: the target class's cosines reduced by the margin (CosFace)."""
        cos = self.cosines(x)
        target = (self.prototype_class[None, :] == y[:, None]).to(cos.dtype)
        return self.class_logits(cos - self.margin * target)

    @torch.no_grad()
    def set_prototypes(self, embeddings: torch.Tensor, labels: torch.Tensor) -> None:
        """One prototype per class: the normalised mean of its (normalised) embeddings."""
        protos = [F.normalize(embeddings[labels == k].mean(0), dim=0) if (labels == k).any() else F.normalize(self.prototypes[k], dim=0)
                  for k in range(self.num_classes)]
        self.prototypes = nn.Parameter(torch.stack(protos))
        self.prototype_class = torch.arange(self.num_classes, device=self.prototypes.device)
        self.arch_kwargs["prototypes"] = self.num_classes

    @torch.no_grad()
    def add_prototype(self, embedding: torch.Tensor, class_index: int) -> None:
        """Append a prototype (enrolment); a class index equal to num_classes adds a class."""
        if class_index == self.num_classes:
            self.num_classes += 1
        self.prototypes = nn.Parameter(torch.cat([self.prototypes.data, F.normalize(embedding, dim=0)[None]]))
        self.prototype_class = torch.cat([self.prototype_class, torch.tensor([class_index], device=self.prototype_class.device)])
        self.arch_kwargs["prototypes"] = len(self.prototypes)

    @torch.no_grad()
    def calibrate(self, cosines: torch.Tensor, labels: torch.Tensor) -> float:
        """Set the temperature that minimises the dev negative log-likelihood (a 1-D search)."""
        best, best_t = float("inf"), 1.0
        for t in torch.logspace(-1.3, 1, 47).tolist():  # effective scale 1.6 .. 320
            self.temperature.fill_(t)
            nll = float(F.cross_entropy(self.class_logits(cosines), labels))
            if nll < best:
                best, best_t = nll, t
        self.temperature.fill_(best_t)
        return best_t

    def exportable(self) -> "Siamese":
        import copy

        model = copy.deepcopy(self).eval()
        model.backbone = self.backbone.exportable()
        model.backbone.head = nn.Flatten()
        return model


# prototypes: enrolment appends one per example set; 4096 x embed_dim 2048 is 32 MB
BOUNDS = {"embed_dim": Int(2, 2048), "width": PADNET_BOUNDS["width"], "theta": PADNET_BOUNDS["theta"], "depth": PADNET_BOUNDS["depth"],
          "scale": Float(0.001, 1000.0), "margin": Float(0.0, 0.99), "prototypes": Int(0, 4096)}


@register_model("siamese", default_input_size=128, fingerprint_crop="patches", fingerprint_patch_size=96, species_classes=True,
                bounds=BOUNDS, capabilities=Capabilities(prototypes=True, margin_logits=True, export_form=True))
def siamese(classes, in_chans=3, embed_dim=128, width=1.0, theta=0.7, depth=5, scale=16.0, margin=0.25, prototypes=0):
    """padnet embedding + class prototypes (metric learning, CosFace); new species by enrolment, no retraining."""
    return Siamese(len(classes), in_chans, embed_dim=int(embed_dim), width=float(width), theta=float(theta), depth=int(depth),
                   scale=float(scale), margin=float(margin), prototypes=int(prototypes))
