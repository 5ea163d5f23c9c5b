"""Camera motions over a still scene, for a self-supervised "relative motion" task: from V views
of one scene, tell how far the camera turned and how far it moved. After Yan et al. 2020 (UC
Berkeley report, ch. 4), who predicted from dashcam frames n, n+3, n+6, n+9 the binned change of
heading and the binned distance travelled; here a camera looks straight down at a still image,
so the motion is known exactly and any collection of images becomes training data.

- **Motion**: between the first and the last of V views the heading turns by Δθ degrees and the
  camera moves forward, seen as a magnification ``zoom`` >= 1. Uniformly: view t, at fraction
  f = t / (V - 1), has heading θ0 + f·Δθ and side w0·zoom^(-f) scene pixels (the same zoom ratio
  between consecutive views), and every view has the same centre.
- **Conventions**: scene coordinates x to the right and y down, in pixels; pixel (row i, column j)
  covers [j, j + 1] × [i, i + 1], so a scene of side L spans [0, L]. A view's heading is where its
  top edge faces: heading 0 faces the scene's top (-y), and a positive angle turns it
  counter-clockwise as seen on the image (heading 90 faces the scene's left, -x). So the scene's
  content turns clockwise in a view whose heading turns counter-clockwise.
- **Labels**: the bin of Δθ among ``angle_edges`` and of ``zoom`` among ``zoom_edges``. Classes are
  drawn uniformly, then the value uniformly within its bin (log(zoom) uniformly).
- **Rendering**: one bilinear ``grid_sample`` per chunk of sequences, without antialiasing, so a
  view wider than about twice ``size`` scene pixels aliases; choose ``width`` to match.

Measured with one torch thread on the 2-core machine, a training run beside it: 3,900 sequences/s
of 4 views of 32 px from 96 px scenes (width 32–48), 1,300/s of 48 px views from 128 px scenes.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sharedspace.errors import ConfigError

ANGLE_EDGES = (-40.0, -24.0, -8.0, 8.0, 24.0, 40.0)  # degrees: 5 classes, "straight" in the middle
ZOOM_EDGES = (1.0, 1.15, 1.32, 1.52, 1.75)  # magnification first view → last: 4 classes
CHUNK = 256  # sequences rendered at once: memory stays bounded


@dataclass(frozen=True)
class Motion:
    """One camera motion per sequence (N of them), all float64, as the module docstring says."""

    angle: torch.Tensor  # (N,) total heading change Δθ first view → last, degrees, CCW positive
    zoom: torch.Tensor  # (N,) magnification first view → last, >= 1
    heading: torch.Tensor  # (N,) first view's heading θ0, degrees
    width: torch.Tensor  # (N,) first view's side w0, scene pixels
    center: torch.Tensor  # (N, 2) x, y of the views' common centre, scene pixels


def draw_motions(
    n: int,
    scene_size: int,
    *,
    width: tuple[float, float],
    angle_edges: Sequence[float] = ANGLE_EDGES,
    zoom_edges: Sequence[float] = ZOOM_EDGES,
    seed: int = 0,
) -> tuple[Motion, torch.Tensor, torch.Tensor]:
    """``n`` motions over a scene of ``scene_size`` × ``scene_size`` pixels, and their labels
    (angle class, zoom class), (N,) int64 each. Each class is drawn uniformly, then Δθ uniformly
    within its angle bin and log(zoom) within its zoom bin; θ0 uniformly in [0, 360); w0 uniformly
    in ``width`` (low, high scene pixels); the centre uniformly where the first view, the largest,
    stays inside the scene at any heading (w0 / √2 from every edge), so every view does. The same
    arguments and ``seed`` give the same motions; a bad argument is a ConfigError naming it."""
    _check(n, scene_size, width, angle_edges, zoom_edges)
    generator = torch.Generator().manual_seed(seed)
    angle = _within_bins(angle_edges, n, generator, log=False)
    zoom = _within_bins(zoom_edges, n, generator, log=True)
    heading = 360 * torch.rand(n, generator=generator, dtype=torch.float64)
    low, high = width
    side = low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64)
    margin = side[:, None] / math.sqrt(2)  # (N, 1): a square's half-diagonal
    place = torch.rand((n, 2), generator=generator, dtype=torch.float64)
    center = margin + (scene_size - 2 * margin) * place
    motion = Motion(angle, zoom, heading, side, center)
    return motion, bins_of(angle, angle_edges), bins_of(zoom, zoom_edges)


def bins_of(values: torch.Tensor, edges: Sequence[float]) -> torch.Tensor:
    """(N,) int64: the bin of each of ``values`` (N,) among K + 1 increasing ``edges`` (K bins);
    bin k holds [edges[k], edges[k + 1]), the last bin its upper edge too. The edges are rounded
    to the values' precision (float32 1.15 lies on the edge 1.15). A value outside [edges[0],
    edges[-1]], or NaN, is a ValueError."""
    dtype = values.dtype if values.is_floating_point() else torch.float64
    ends = torch.tensor(edges, dtype=dtype)
    values = values.to(dtype).contiguous()
    outside = ~((values >= ends[0]) & (values <= ends[-1]))
    if outside.any():
        raise ValueError(f"value {values[outside][0].item()} lies outside the edges {edges}")
    return (torch.searchsorted(ends, values, right=True) - 1).clamp(max=len(edges) - 2)


def view_corners(motion: Motion, views: int) -> torch.Tensor:
    """(N, V, 4, 2) float64 scene x, y of each view's corners, in the order top-left, top-right,
    bottom-right, bottom-left of the rendered view (as ``render_views`` samples them)."""
    right, down = _half_axes(motion, views)  # (N, V, 2) each
    signs = torch.tensor([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=torch.float64)  # (4, 2)
    offsets = signs[:, :1] * right[:, :, None] + signs[:, 1:] * down[:, :, None]  # (N, V, 4, 2)
    return motion.center[:, None, None] + offsets


def render_views(
    scenes: torch.Tensor, motion: Motion, views: int, size: int, *, chunk: int = CHUNK
) -> torch.Tensor:
    """Scenes (N, C, H, W) uint8, scene i for motion i → views (N, V, C, size, size) uint8: each
    view's square (``view_corners``) sampled bilinearly at ``size`` × ``size`` pixel centres
    (``align_corners=False``, no antialiasing; a view narrower than ``size`` is upsampled) and
    rounded; ``chunk`` sequences at a time, the views of a sequence in one ``grid_sample``."""
    if scenes.dtype != torch.uint8 or scenes.dim() != 4 or len(scenes) != len(motion.angle):
        raise ValueError(
            f"scenes {tuple(scenes.shape)} {scenes.dtype}: expected (N, C, H, W) uint8 with "
            f"N = {len(motion.angle)}, one per motion"
        )
    n, channels, height, width = scenes.shape
    right, down = _half_axes(motion, views)  # (N, V, 2) each
    scale = torch.tensor([2 / width, 2 / height], dtype=torch.float64)  # pixels → grid units
    center = (motion.center * scale - 1)[:, None].expand_as(right)
    theta = torch.stack([right * scale, down * scale, center], -1).float()  # (N, V, 2, 3)
    rendered = torch.empty((n, views, channels, size, size), dtype=torch.uint8)
    for start in range(0, n, chunk):
        part = theta[start : start + chunk]
        count = len(part)
        grid = F.affine_grid(
            part.flatten(0, 1), [count * views, channels, size, size], align_corners=False
        )  # (count × V, size, size, 2)
        grid = grid.reshape(count, views * size, size, 2)  # a sequence's views stacked in y
        sampled = F.grid_sample(
            scenes[start : start + chunk].float(),
            grid,
            mode="bilinear",
            padding_mode="border",  # a sample within half a pixel of the edge: no dark fringe
            align_corners=False,
        )  # (count, C, V × size, size)
        views_first = sampled.unflatten(2, (views, size)).transpose(1, 2)
        rendered[start : start + chunk] = views_first.round().to(torch.uint8)
    return rendered


def _check(
    n: int,
    scene_size: int,
    width: tuple[float, float],
    angle_edges: Sequence[float],
    zoom_edges: Sequence[float],
) -> None:
    """A ConfigError naming the first bad argument of ``draw_motions``."""
    fits = len(width) != 2 or width[1] * math.sqrt(2) <= scene_size
    problems = [
        (n < 0, f"n={n}: expected a count of motions >= 0"),
        (len(width) != 2 or not 0 < width[0] <= width[1],
         f"width={width}: expected (low, high) scene pixels with 0 < low <= high"),
        (not fits, f"width={width}: the widest view turned by 45° spans √2 × high pixels, more "
         f"than scene_size={scene_size}"),
        (not _increasing(angle_edges),
         f"angle_edges={angle_edges}: expected at least 2 increasing finite edges (degrees)"),
        (not _increasing(zoom_edges) or zoom_edges[0] < 1,
         f"zoom_edges={zoom_edges}: expected at least 2 increasing finite edges, all >= 1"),
    ]  # fmt: skip
    for bad, message in problems:
        if bad:
            raise ConfigError(message)


def _increasing(edges: Sequence[float]) -> bool:
    """Whether ``edges`` are at least 2 finite numbers, each larger than the one before."""
    ends = torch.tensor(edges, dtype=torch.float64)
    return len(ends) >= 2 and bool(ends.isfinite().all() and (ends.diff() > 0).all())


def _within_bins(
    edges: Sequence[float], n: int, generator: torch.Generator, *, log: bool
) -> torch.Tensor:
    """(N,) float64: a bin drawn uniformly, then a value uniformly within it (uniform in log scale
    if ``log``)."""
    ends = torch.tensor(edges, dtype=torch.float64)
    scale = ends.log() if log else ends
    k = torch.randint(len(ends) - 1, (n,), generator=generator)
    fraction = torch.rand(n, generator=generator, dtype=torch.float64)
    value = scale[k] + (scale[k + 1] - scale[k]) * fraction
    return value.exp() if log else value


def _half_axes(motion: Motion, views: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each view's half-axes, (N, V, 2) scene x, y each: from its centre to the middle of its
    right edge, and to the middle of its bottom edge. The one place the conventions live."""
    if views < 2:
        raise ConfigError(f"views={views}: expected at least 2 (a first and a last view)")
    f = torch.arange(views, dtype=torch.float64) / (views - 1)  # (V,)
    turn = torch.deg2rad(motion.heading[:, None] + f * motion.angle[:, None])  # (N, V)
    half = motion.width[:, None] * motion.zoom[:, None].pow(-f) / 2  # (N, V)
    cos, sin = half * turn.cos(), half * turn.sin()
    right = torch.stack([cos, -sin], -1)  # heading 0: +x; heading 90: -y
    down = torch.stack([sin, cos], -1)  # heading 0: +y; heading 90: +x
    return right, down
