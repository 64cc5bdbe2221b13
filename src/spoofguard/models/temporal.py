"""temporal: a recurrent video model, per-frame CNN features -> GRU over a clip -> clip logits.

A replayed video or a held photo differs from a live face over time as well as in each frame:
too little or too regular motion, flicker, moire that shifts. The model looks at a *clip* of
``frames`` views of one video (face crops or whole frames, evenly spaced), embeds each with padnet's
backbone (CDC stem, MobileNetV3 blocks, global pooling), runs a GRU over the sequence and classifies
its last hidden state. Input ``(N, T, C, H, W)``; a 4-D batch is taken as clips of one frame.

The fair single-frame baseline is the same backbone scoring frames one by one with the per-video
mean (``padnet`` + ``metrics --per-video mean``); ``spoofguard compare`` runs both.
"""

from __future__ import annotations

import torch
from torch import nn

from spoofguard.models.padnet import PadNet
from spoofguard.models.padnet import BOUNDS as PADNET_BOUNDS
from spoofguard.models.registry import Capabilities, Int, register_model


class Temporal(nn.Module):
    def __init__(self, num_classes: int, in_chans: int = 3, frames: int = 8, hidden: int = 128, width: float = 1.0,
                 theta: float = 0.7, depth: int = 5, drop: float = 0.2):
        super().__init__()
        if frames < 2 or hidden < 1:
            raise ValueError("a clip needs at least 2 frames and the GRU at least 1 unit")
        self.frames = int(frames)
        self.backbone = PadNet(2, in_chans, width=width, theta=theta, depth=depth)
        feat = self.backbone.last[0].out_channels
        self.backbone.head = nn.Flatten()
        self.gru = nn.GRU(feat, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Dropout(drop), nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            x = x[:, None]
        n, t = x.shape[:2]
        features = self.backbone(x.flatten(0, 1)).view(n, t, -1)
        _, last = self.gru(features)
        return self.head(last[-1])

    def exportable(self) -> "Temporal":
        import copy

        model = copy.deepcopy(self).eval()
        model.backbone = self.backbone.exportable()
        return model


@register_model("temporal", default_input_size=96, clip_frames=8,
                bounds={**PADNET_BOUNDS, "frames": Int(2, 64), "hidden": Int(1, 2048)}, capabilities=Capabilities(export_form=True))
def temporal(classes, in_chans=3, frames=8, hidden=128, width=1.0, theta=0.7, depth=5, drop=0.2):
    """padnet features per frame -> GRU over a clip of frames (videos); trained on data with video_id."""
    return Temporal(len(classes), in_chans, frames=int(frames), hidden=int(hidden), width=float(width), theta=float(theta),
                    depth=int(depth), drop=float(drop))
