"""MultiModel's categorical output net: Xception's exit flow over the body's positions.

Kaiser et al. (2017), "One Model To Learn Them All", written from tensor2tensor's paper-era
``ClassLabelModality.top`` (commit 3d9c62f2) and ``common_layers.conv_block_downsample``: conv
steps (ReLU → separable conv → LayerNorm) with a residual connection, ReLU, global average
pooling, a linear map to the class logits.

Deliberate differences:
- 1-D over positions, not 2-D: tensor2tensor reshaped the body's output back to a square grid
  (assuming one) for images and used 1-D convolutions otherwise. A sequence does not carry its
  grid's shape, so ours is 1-D over positions for every input — the same net classifies image
  positions and text — with the masked steps of ``layers.sepconv`` (a ``ConvBlock``: four conv
  steps, two residuals), so padding never reaches a real position, and a *masked* average.
- No downsampling and no widening: tensor2tensor's steps downsample (a strided shortcut conv
  and a max-pool, stride 2 on a grid, 4 in 1-D) and widen to 1.25, 2 and 2.5 times the body's
  width. Downsampling only saves work before a global average, and would need masked pooling;
  our steps keep the body's width, so the second residual connection (absent there, as the
  widths differ) comes free.
"""

from dataclasses import dataclass, field

import torch
from torch import nn

from sharedspace.data.specs import ClassesTarget
from sharedspace.layers.sepconv import ConvBlock
from sharedspace.outputs.base import OUTPUTS, OutputNet
from sharedspace.representation import PaddedSequence, Representation, masked_mean


@OUTPUTS.register("xception_exit")
class XceptionExit(OutputNet, nn.Module):
    """z (B, D) or a PaddedSequence (B, T, D) → logits (B, C), C = ``len(target.classes)``.

    A vector is read as a one-position sequence (its convolutions then see only themselves).
    """

    target_kinds = ("classes",)
    accepts = ("vector", "sequence")

    @dataclass
    class Config:
        # of the four conv steps, over positions (tensor2tensor: 5 in 1-D, 3×3 on a grid)
        kernel_sizes: list[int] = field(default_factory=lambda: [5, 5, 5, 5])

    def __init__(
        self, cfg: Config, in_dim: int, target: ClassesTarget, task_tokens: tuple[str, ...]
    ) -> None:
        super().__init__()
        self.block = ConvBlock(in_dim, kernel_sizes=tuple(cfg.kernel_sizes), dilations=(1,) * 4)
        self.out = nn.Linear(in_dim, len(target.classes))

    def forward(self, z: Representation, task: int) -> torch.Tensor:
        if not isinstance(z, PaddedSequence):  # (B, D) → one position
            z = PaddedSequence(z.unsqueeze(1), z.new_ones(len(z), 1, dtype=torch.bool))
        h = self.block(z).map(torch.relu)  # (B, T, D), zero behind the mask
        return self.out(masked_mean(h))  # (B, C)
