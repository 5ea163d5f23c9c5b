"""MultiModel's image modality net: Xception's entry flow, its grid read as a sequence of positions.

Kaiser et al. (2017), "One Model To Learn Them All", written from tensor2tensor's paper-era
``ImageModality.bottom`` (commit 3d9c62f2): a stem of full 3×3 conv steps (the first strided 2,
without a ReLU before it), then residual blocks of two separable conv steps, a 3×3 stride-2
max-pool and a strided 1×1 shortcut (``layers.xception.EntryBlock``). The paper keeps the
result as a variable-length representation, not one vector: the body attends over its positions.

Deliberate differences: images are standardised by default with the dataset's mean and std, as
``image_cnn`` does (``per_image: true`` standardises each image as the paper does, and
``grey_to_rgb: true`` reads grey as colour: then one cap serves every image problem); the last
block does not have the body's width — a 1×1 map (a linear layer per position) gives ``out_dim``, so
the blocks' widths are free; and the sizes are CPU-sized (defaults below, tensor2tensor's in
comments).
"""

from dataclasses import dataclass, field

import torch
from torch import nn

from sharedspace.data.specs import ImageSpec
from sharedspace.layers.xception import ConvStep2d, EntryBlock, full_conv
from sharedspace.modalities.base import MODALITIES, ImageCap, ImageInput
from sharedspace.representation import PaddedSequence


@MODALITIES.register("image_xception")
class ImageXception(ImageCap):
    """uint8 images (B, C, H, W) → a PaddedSequence (B, H'·W', out_dim), positions row-major,
    mask all True; H' = H / 2^(number of blocks + 1) rounded up at each halving (W' alike).

    With the defaults, 28×28 Fashion-MNIST gives 4×4 = 16 positions, 32×32 CIFAR 16, 48×48 36.
    """

    modality_kind = "image"
    produces = "sequence"
    aux_losses = ()

    @dataclass
    class Config(ImageInput):
        # full 3×3 conv steps, the first strided 2 (tensor2tensor: [32, 64])
        stem_channels: list[int] = field(default_factory=lambda: [16, 32])
        # one residual entry block each, each halving H and W (tensor2tensor: [128, 256, width])
        block_channels: list[int] = field(default_factory=lambda: [64, 128])
        kernel_size: int = 3  # of the stem's and the blocks' convolutions (tensor2tensor: 3)

    @classmethod
    def reads(cls, cfg: ImageInput, spec: ImageSpec) -> tuple:
        """The channels and the statistics unless per image, not the size: any size gives a
        sequence of positions (28×28 grey and 48×48 colour problems share the cap when it reads
        grey as RGB and standardises each image)."""
        return super().reads(cfg, spec)[:2]

    def __init__(self, cfg: Config, out_dim: int, spec: ImageSpec) -> None:
        super().__init__(cfg, spec)
        self.out_dim = out_dim
        layers: list[nn.Module] = []
        c = self.channels
        for i, c_out in enumerate(cfg.stem_channels):
            conv = full_conv(c, c_out, cfg.kernel_size, stride=2 if i == 0 else 1)
            layers.append(ConvStep2d(conv, c_out, first_relu=i > 0))
            c = c_out
        for i, c_out in enumerate(cfg.block_channels):
            layers.append(EntryBlock(c, c_out, cfg.kernel_size, relu_shortcut=i == 0))
            c = c_out
        self.entry_flow = nn.Sequential(*layers).to(memory_format=torch.channels_last)
        self.proj = nn.Linear(c, out_dim)  # the 1×1 convolution to the shared width

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> PaddedSequence:
        x = self.standardise(x).contiguous(memory_format=torch.channels_last)
        grid = self.entry_flow(x)  # (B, C', H', W')
        positions = grid.permute(0, 2, 3, 1).flatten(1, 2)  # (B, H'·W', C'), row-major
        values = self.proj(positions)  # (B, H'·W', out_dim)
        return PaddedSequence(values, values.new_ones(values.shape[:2], dtype=torch.bool))
