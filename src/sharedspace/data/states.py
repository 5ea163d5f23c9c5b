"""Attribute states: known, visible transforms of an object's picture, the attributes of a
compositional benchmark with exact labels (Fashion-MNIST's items × these states: a "striped
trouser", an "inverted bag"). MIT-States (Isola et al. 2015) pairs adjectives with nouns in
photographs, where a state is whatever the photographer saw; here every picture of a pair is
made by the same deterministic transform, so a pair's label is exact and an unseen pair is new
only in its combination: each state and each item are seen in training, with other partners.

A state takes pictures of one object bright on a dark background (Fashion-MNIST's garments),
uint8 (N, C, H, W) with C = 1 or 3, and returns colour pictures (N, 3, H, W) uint8: a tint needs
colour, and every state's output has one shape so a model reads all of them alike. The object's
brightness is its mask (0 background, 1 object), which the textures and tints modulate.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F

from sharedspace.registry import Registry

State = Callable[[torch.Tensor], torch.Tensor]  # (N, 3, H, W) float 0–1 → the same, transformed
STATES: Registry[State] = Registry("attribute state")

TINTS = {"red": (1.0, 0.15, 0.15), "green": (0.15, 1.0, 0.15), "blue": (0.2, 0.35, 1.0)}
PERIOD = 4  # pixels of a texture's repeat (stripes, dots): 7 repeats across 28 pixels
DIM = 0.25  # what a texture leaves of the object between its stripes or dots
BLUR_SIGMA = 1.5  # pixels
SMALL, LARGE = 0.55, 1.6  # the object's scale, about the picture's centre
FRAME = 2  # pixels of the frame's width


def apply_state(name: str, images: torch.Tensor) -> torch.Tensor:
    """``images`` (N, C, H, W) uint8, C in (1, 3), in state ``name``: (N, 3, H, W) uint8."""
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(
            f"expected uint8 images (N, 1 or 3, H, W), got {images.dtype} {tuple(images.shape)}"
        )
    x = images.float().div(255).expand(-1, 3, -1, -1)
    return STATES.get(name)(x).clamp(0, 1).mul(255).round().to(torch.uint8)


def _tint(rgb: tuple[float, float, float]) -> State:
    colour = torch.tensor(rgb).view(1, 3, 1, 1)
    return lambda x: x * colour


for _name, _rgb in TINTS.items():
    STATES.register(_name)(_tint(_rgb))


def _texture(mask: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> State:
    """The object shown fully where ``mask(rows, columns)`` holds, at DIM elsewhere."""

    def textured(x: torch.Tensor) -> torch.Tensor:
        rows = torch.arange(x.shape[-2]).view(-1, 1)
        columns = torch.arange(x.shape[-1]).view(1, -1)
        return x * torch.where(mask(rows, columns), 1.0, DIM)

    return textured


# horizontal bands of PERIOD / 2 rows; a dot of 2 × 2 pixels every PERIOD in both directions
STATES.register("striped")(_texture(lambda r, c: r % PERIOD < PERIOD // 2))
STATES.register("dotted")(_texture(lambda r, c: (r % PERIOD < 2) & (c % PERIOD < 2)))


def _scaled(factor: float) -> State:
    """The picture zoomed by ``factor`` about its centre (bilinear): smaller leaves a dark
    border, larger crops the object's edges."""

    def scaled(x: torch.Tensor) -> torch.Tensor:
        theta = torch.tensor([[1 / factor, 0.0, 0.0], [0.0, 1 / factor, 0.0]]).expand(len(x), 2, 3)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    return scaled


STATES.register("small")(_scaled(SMALL))
STATES.register("large")(_scaled(LARGE))


@STATES.register("rotated")
def _rotated(x: torch.Tensor) -> torch.Tensor:
    """A quarter turn clockwise."""
    return x.rot90(-1, dims=(-2, -1))


@STATES.register("blurred")
def _blurred(x: torch.Tensor) -> torch.Tensor:
    """A Gaussian blur of BLUR_SIGMA pixels (separable, 3σ each side, zero beyond the edge)."""
    radius = round(3 * BLUR_SIGMA)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(offsets**2) / (2 * BLUR_SIGMA**2))
    kernel = (kernel / kernel.sum()).view(1, 1, 1, -1).expand(3, 1, 1, -1)
    x = F.conv2d(x, kernel, padding=(0, radius), groups=3)
    return F.conv2d(x, kernel.transpose(-1, -2), padding=(radius, 0), groups=3)


@STATES.register("inverted")
def _inverted(x: torch.Tensor) -> torch.Tensor:
    """A negative: a dark object on white."""
    return 1 - x


@STATES.register("outlined")
def _outlined(x: torch.Tensor) -> torch.Tensor:
    """Only the object's edges: a 3 × 3 dilation less a 3 × 3 erosion (morphological gradient)."""
    dilated = F.max_pool2d(x, 3, stride=1, padding=1)
    eroded = -F.max_pool2d(-x, 3, stride=1, padding=1)
    return dilated - eroded


@STATES.register("framed")
def _framed(x: torch.Tensor) -> torch.Tensor:
    """A white frame FRAME pixels wide on the picture's border, the object inside untouched."""
    framed = x.clone()
    for side in (slice(0, FRAME), slice(-FRAME, None)):
        framed[..., side, :] = 1
        framed[..., :, side] = 1
    return framed
