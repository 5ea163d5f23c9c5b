"""Colourisations beside the truth (the report's Fig. 4.4): grey input, colourised, true colours.

Shown as colorization papers show them (Larsson et al. 2016): the predicted colours, at a fraction
of the resolution, upsampled and put on the input's own luma, so the picture keeps the input's
detail and the prediction gives only its chroma.
"""

from pathlib import Path

import torch
import torch.nn.functional as F

from sharedspace.analysis.image_grid import image_grid
from sharedspace.tasks.scene_data import LUMA  # the weights the grey inputs are made with


def on_luma(colours: torch.Tensor, grey: torch.Tensor) -> torch.Tensor:
    """colours (N, 3, h, w) and grey (N, 3, H, W) on the 0–1 scale → (N, 3, H, W): the colours
    upsampled (bilinear), each pixel shifted by the same amount in R, G, B so that its luma is
    the grey's (the luma weights sum to 1, so the chroma R − Y, B − Y is the prediction's)."""
    up = F.interpolate(colours.float(), grey.shape[-2:], mode="bilinear", align_corners=False)
    weights = up.new_tensor(LUMA).view(1, 3, 1, 1)
    shift = grey[:, :1].float() - (up * weights).sum(1, keepdim=True)
    return (up + shift).clamp(0, 1)


def colorization_grid(
    grey: torch.Tensor, colours: torch.Tensor, true: torch.Tensor, path: Path
) -> None:
    """Save a PNG of columns: grey input, its colourisation, its true colours — both colours at
    the target's resolution, put on the input's luma (``on_luma``), so they differ only where
    the prediction does.

    grey: (N, 3, H, W) uint8; colours, true: (N, 3, h, w) on the 0–1 scale.
    """
    grey = grey.float() / 255
    title = "grey input · colourised · true colours (both on the input's luma)"
    image_grid([grey, on_luma(colours, grey), on_luma(true, grey)], path, title)
