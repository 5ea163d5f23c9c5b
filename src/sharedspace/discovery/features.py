"""Random features: images replaced by the output of a randomly initialised, frozen ResNet.

The seed's "random-feature exploration" (Sohmshetty with Zamir): a search over labellings is
cheaper on small feature maps than on pixels, and a random convolutional network keeps enough of
the images' spatial structure for tasks to stay learnable. The seed found 3×8×8 the smallest map
that still generalises and also tried 3×4×4.
"""

from dataclasses import dataclass

import torch
from torch import nn

from sharedspace.errors import ConfigError


@dataclass(frozen=True)
class FeatureConfig:
    channels: int = 3  # output channels
    size: int = 8  # output height = width
    width: int = 16  # channels inside the network
    blocks: int = 2  # residual blocks
    seed: int = 0  # the weights' only source of randomness

    def __post_init__(self) -> None:
        for key, low in (("channels", 1), ("size", 1), ("width", 1), ("blocks", 0)):
            value = getattr(self, key)
            if value < low:
                raise ConfigError(f"{key} must be at least {low}, got {value}")


class _Block(nn.Module):
    """A basic residual block without BatchNorm: relu(x + conv(relu(conv(x))))."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.conv2(torch.relu(self.conv1(x))))


class RandomResNet(nn.Module):
    """(B, in_channels, H, W) → (B, cfg.channels, cfg.size, cfg.size): 3×3 stem conv, ``blocks``
    residual blocks, adaptive average pooling to size×size, 1×1 conv to ``channels``.

    Frozen and in eval mode; every weight is He-normal from a generator seeded with ``cfg.seed``,
    so the network depends on the seed alone and the global RNG is neither read nor changed.
    BatchNorm is left out: frozen, in eval mode, with its default statistics it would only
    multiply by 1/√(1 + ε), which ``random_features``' standardisation undoes. Convolutions have
    no bias (as in a ResNet, where BatchNorm supplies it); the network is then positively
    homogeneous, so after standardisation the features do not depend on the images' scale.
    """

    def __init__(self, cfg: FeatureConfig, in_channels: int) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):  # the default init below is overwritten
            self.stem = nn.Conv2d(in_channels, cfg.width, 3, padding=1, bias=False)
            self.blocks = nn.Sequential(*(_Block(cfg.width) for _ in range(cfg.blocks)))
            self.pool = nn.AdaptiveAvgPool2d(cfg.size)
            self.head = nn.Conv2d(cfg.width, cfg.channels, 1, bias=False)
        generator = torch.Generator().manual_seed(cfg.seed)
        for p in self.parameters():
            nn.init.kaiming_normal_(p, nonlinearity="relu", generator=generator)
            p.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem(x))
        return self.head(self.pool(self.blocks(x)))


def random_features(
    images: torch.Tensor, cfg: FeatureConfig, batch_size: int = 1024
) -> torch.Tensor:
    """(N, C, H, W) images → (N, cfg.channels, cfg.size, cfg.size) random features, each channel
    standardised over the whole set (all N images and positions: zero mean, unit std).

    The random network's output scale depends on its width, depth and seed; standardising gives
    the small network trained on the features inputs of the usual scale, so one training
    configuration suits every feature setting. Because the statistics are those of the whole set,
    compute the features of a pool once and index into them, rather than per subset.
    """
    h, w = images.shape[-2:]
    if cfg.size > min(h, w):
        raise ConfigError(f"features.size {cfg.size} is larger than the images' {h}×{w}")
    net = RandomResNet(cfg, images.shape[1])
    with torch.no_grad():
        out = torch.cat([net(batch.float()) for batch in images.split(batch_size)])
    mean = out.mean(dim=(0, 2, 3), keepdim=True)
    std = out.std(dim=(0, 2, 3), keepdim=True, correction=0).clamp_min(1e-12)
    return (out - mean) / std
