"""Small building blocks shared by the models.

- :class:`CDConv2d`: central difference convolution (Yu et al., "Searching Central Difference
  Convolutional Networks for Face Anti-Spoofing", CVPR 2020). It mixes a plain convolution with a
  gradient-like term that responds to local intensity *differences*, the texture cues that separate
  live skin from paper, screens and moulds:

      y = conv(x, w) - theta * conv(x, sum_{kh,kw} w)         (the 1x1 term taken at the centre tap)

  Both terms are linear in ``w``, so this is ONE convolution with the effective kernel
  ``w_eff = w - theta * sum(w)`` applied at the centre tap only (:meth:`CDConv2d.fused_weight`).
  That is exact, also at zero-padded borders and for grouped/depthwise convolutions, costs one conv
  per forward, and at ONNX export the CDC term folds into a plain Conv for free.
- :class:`ConvBNAct`: convolution + BatchNorm + activation.
- :class:`SqueezeExcite`: channel attention from MobileNetV3 (Howard et al., ICCV 2019).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor``, never dropping more than 10% (MobileNet rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class CDConv2d(nn.Conv2d):
    """Central difference convolution; a Conv2d whose kernel's centre tap is reduced by theta * its sum.

    Only odd kernels with "same" padding (``dilation * (k // 2)``) are allowed: that is what makes the
    centre tap line up with the 1x1 difference term of the paper. ``theta=0`` is a plain convolution.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 dilation: int = 1, groups: int = 1, bias: bool = False, theta: float = 0.7):
        if kernel_size % 2 != 1:
            raise ValueError(f"CDConv2d needs an odd kernel size, got {kernel_size}")
        super().__init__(in_channels, out_channels, kernel_size, stride=stride,
                         padding=dilation * (kernel_size // 2), dilation=dilation, groups=groups, bias=bias)
        self.theta = float(theta)
        centre = torch.zeros(1, 1, kernel_size, kernel_size)
        centre[..., kernel_size // 2, kernel_size // 2] = 1.0
        self.register_buffer("centre", centre, persistent=False)  # not in the state_dict

    def fused_weight(self) -> torch.Tensor:
        """The effective kernel of a plain conv computing the same function (differentiable)."""
        if self.theta == 0.0:
            return self.weight
        w = self.weight
        # sum over (kh, kw) -> [out, in/groups, 1, 1], written as slices + adds rather than w.sum(): the
        # ONNX exporter constant-folds these (not ReduceSum), so the exported graph holds one plain Conv
        kernel_sum = sum(w[:, :, i : i + 1, j : j + 1] for i in range(w.shape[2]) for j in range(w.shape[3]))
        return w - self.theta * kernel_sum * self.centre  # subtracted at the centre tap only

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.fused_weight(), self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", theta={self.theta}"


class ConvBNAct(nn.Sequential):
    """Conv (plain or central difference) -> BatchNorm -> activation (None for a linear projection)."""

    def __init__(self, in_chans: int, out_chans: int, kernel_size: int = 3, stride: int = 1, groups: int = 1,
                 act: type[nn.Module] | None = nn.ReLU, theta: float | None = None):
        if theta is None:
            conv = nn.Conv2d(in_chans, out_chans, kernel_size, stride, kernel_size // 2, groups=groups, bias=False)
        else:
            conv = CDConv2d(in_chans, out_chans, kernel_size, stride, groups=groups, bias=False, theta=theta)
        layers = [conv, nn.BatchNorm2d(out_chans)]
        if act is not None:
            layers.append(act(inplace=True))
        super().__init__(*layers)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: global pool -> 1x1 reduce -> ReLU -> 1x1 expand -> hard sigmoid gate."""

    def __init__(self, chans: int, reduction: int = 4):
        super().__init__()
        hidden = make_divisible(chans / reduction, 8)
        self.reduce = nn.Conv2d(chans, hidden, 1)
        self.expand = nn.Conv2d(hidden, chans, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3), keepdim=True)
        s = self.expand(F.relu(self.reduce(s), inplace=True))
        return x * F.hardsigmoid(s)


def init_weights(model: nn.Module) -> None:
    """He-normal convs (fan-out per group, so depthwise convs keep the signal), unit BatchNorm,
    small-normal linears, zero biases."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.out_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
            nn.init.normal_(m.weight, 0.0, (2.0 / fan_out) ** 0.5)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)
