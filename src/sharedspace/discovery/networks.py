"""The tiny networks a labelling is scored with, many trained at once by ``population``."""

import itertools
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True, kw_only=True)
class NetConfig:
    """The seed's small network: conv 5×5×6, pool, conv 5×5×16, pool, fc 120, fc 84, fc 2."""

    channels: tuple[int, int] = (6, 16)
    hidden: tuple[int, int] = (120, 84)
    kernel: int = 5
    classes: int = 2


class SmallConvNet(nn.Module):
    """LeNet-5's shape for any input size: (B, C, H, W) float → (B, classes) logits.

    A convolution is "valid" (no padding, as LeNet's) while the map is at least twice the kernel,
    else it keeps the map's size; each is followed by a 2×2 max-pool while the map is at least
    2×2. So 28×28 images (→ 24, 12, 8, 4) and 4×4 random features go through the same layers.
    """

    def __init__(self, cfg: NetConfig, in_shape: tuple[int, int, int]) -> None:
        super().__init__()
        c, h, w = in_shape
        layers: list[nn.Module] = []
        for out in cfg.channels:
            pad = 0 if min(h, w) >= 2 * cfg.kernel else cfg.kernel // 2
            layers += [nn.Conv2d(c, out, cfg.kernel, padding=pad), nn.ReLU()]
            h, w = h + 2 * pad - cfg.kernel + 1, w + 2 * pad - cfg.kernel + 1
            if min(h, w) >= 2:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            c = out
        sizes = [c * h * w, *cfg.hidden]
        head: list[nn.Module] = [nn.Flatten()]
        for a, b in itertools.pairwise(sizes):
            head += [nn.Linear(a, b), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(*head, nn.Linear(sizes[-1], cfg.classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
