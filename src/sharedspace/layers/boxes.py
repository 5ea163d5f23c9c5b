"""Boxes for single-stage detection: IoU, class-aware NMS, CenterNet's targets and decoding, and
its heatmap focal loss.

CenterNet is Zhou et al., 2019, "Objects as Points"; the targets, radius, Gaussian and loss follow
its code (``src/lib/datasets/sample/ctdet.py``, ``utils/image.py``, ``models/losses.py``), written
here in torch and vectorised over the batch. NMS is greedy and class-aware as
``torchvision.ops.batched_nms`` (torchvision is not a dependency).

Shape notation: B images, G ground-truth slots per image (padded, label −1 where none), K
detections, C classes, (H, W) the feature map, s its stride in pixels. Boxes are (x0, y0, x1, y1)
in pixels unless a name says otherwise.

Differences from CenterNet's code, on purpose: a box is clipped to the map's extent [0, W] × [0, H]
(CenterNet clips to W − 1, which shrinks a box that reaches the right edge); the loss uses
log-sigmoid forms instead of clamping the probability to [1e-4, 1 − 1e-4] (the clamp caps the loss
and kills its gradient past the clamp); and the Gaussian's "below machine epsilon → 0" rule is left
out, as it never fires inside the radius window (the smallest value there is exp(−9) ≈ 1e-4).
"""

from dataclasses import dataclass

import torch
from torch.nn import functional as F


@dataclass
class Detections:
    """Padded detections of a batch, best first where a decoder made them.

    boxes (B, K, 4) x0, y0, x1, y1 pixels; scores (B, K); labels (B, K) int64, −1 where none.
    """

    boxes: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor


@dataclass
class CenterTargets:
    """CenterNet's training targets for one feature map (see ``encode_centers``).

    heatmap (B, C, H, W) float in [0, 1], exactly 1 at each object's centre cell; index (B, G)
    int64, the centre cell's flat index y·W + x (0 where masked); size (B, G, 2) float, the box's
    (w, h) in feature cells; offset (B, G, 2) float in [0, 1), the centre's sub-cell position;
    mask (B, G) bool, True for a real object of positive size.
    """

    heatmap: torch.Tensor
    index: torch.Tensor
    size: torch.Tensor
    offset: torch.Tensor
    mask: torch.Tensor


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """(..., 4) → (...); an inverted box has area 0."""
    return (boxes[..., 2:] - boxes[..., :2]).clamp_min(0).prod(-1)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Intersection over union of every pair: a (..., N, 4), b (..., M, 4) → (..., N, M).

    Leading dimensions broadcast, so padded batches (B, N, 4) × (B, M, 4) work as they are. Two
    empty boxes have IoU 0, not NaN.
    """
    top_left = torch.maximum(a[..., :, None, :2], b[..., None, :, :2])  # (..., N, M, 2)
    bottom_right = torch.minimum(a[..., :, None, 2:], b[..., None, :, 2:])
    overlap = (bottom_right - top_left).clamp_min(0).prod(-1)  # (..., N, M)
    union = box_area(a)[..., :, None] + box_area(b)[..., None, :] - overlap
    return overlap / union.clamp_min(torch.finfo(union.dtype).tiny)


def _nms_keep(
    boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """Greedy class-aware NMS of each row: boxes (B, K, 4), scores (B, K), labels (B, K) → keep
    (B, K) bool in the input's order. A label −1 is padding: never kept, suppresses nothing.

    Boxes of different classes never suppress each other: torchvision's offset trick (shifting
    each class's boxes apart) serves a kernel that takes no labels; with the IoU matrix at hand a
    same-class mask is the same rule, exact in float32. Cost: the (B, K, K) IoU matrix and K
    steps of (B, K) work, with no host sync (fine for K up to a few hundred).
    """
    order = scores.argsort(dim=1, descending=True, stable=True)  # (B, K)
    boxes = boxes.gather(1, order[..., None].expand(-1, -1, 4))
    labels = labels.gather(1, order)
    live = labels >= 0
    k = labels.shape[1]
    later = torch.ones(k, k, dtype=torch.bool, device=boxes.device).triu(1)
    same = labels[:, :, None] == labels[:, None, :]
    over = (box_iou(boxes, boxes) > iou_threshold) & same & later  # (B, K, K): i suppresses j
    keep = live.clone()
    for i in range(k):  # keep[:, i] is final here: only better boxes can suppress it
        keep &= ~(over[:, i] & keep[:, i, None])
    return torch.empty_like(keep).scatter_(1, order, keep)


def batched_nms(
    boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """``torchvision.ops.batched_nms``: boxes (K, 4), scores (K,), labels (K,) int64 → the indices
    kept (int64), best score first. A box is dropped when a better box of its class overlaps it
    with IoU > ``iou_threshold``; labels −1 are dropped (padding)."""
    keep = _nms_keep(boxes[None], scores[None], labels[None], iou_threshold)[0]
    kept = keep.nonzero().squeeze(1)
    return kept[scores[kept].argsort(descending=True, stable=True)]


def suppress(detections: Detections, iou_threshold: float) -> Detections:
    """Class-aware NMS of each image of a padded batch, in place of a per-image loop: the boxes
    it drops get label −1 and score 0, in their slots (shapes unchanged)."""
    keep = _nms_keep(detections.boxes, detections.scores, detections.labels, iou_threshold)
    return Detections(
        detections.boxes,
        detections.scores.where(keep, 0),
        detections.labels.where(keep, -1),
    )


def gaussian_radius(
    height: torch.Tensor, width: torch.Tensor, min_overlap: float = 0.7
) -> torch.Tensor:
    """CenterNet's (and CornerNet's) radius for boxes of ``height`` × ``width`` (any shape, same
    units as the result): the smallest of three quadratic roots that bound how far a corner may
    move while the shifted box keeps IoU ≥ ``min_overlap`` with the true one.

    Written as CenterNet's ``gaussian_radius`` is, roots included: its first two take the larger
    root and none divides by 2a (princeton-vl/CornerNet issue #110; CornerNet fixed it later).
    Kept, so the heatmaps are the ones CenterNet's loss weights were tuned on (its author: a new
    Gaussian shape needs those retuned, xingyizhou/CenterNet issue #253).
    """
    a1, b1 = 1.0, height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + (b1**2 - 4 * a1 * c1).sqrt()) / 2
    a2, b2 = 4.0, 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + (b2**2 - 4 * a2 * c2).sqrt()) / 2
    a3, b3 = 4 * min_overlap, -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + (b3**2 - 4 * a3 * c3).sqrt()) / 2
    return torch.minimum(torch.minimum(r1, r2), r3)


def encode_centers(
    boxes: torch.Tensor,
    labels: torch.Tensor,
    map_size: tuple[int, int],
    classes: int,
    stride: float,
    min_overlap: float = 0.7,
) -> CenterTargets:
    """CenterNet's targets on a feature map of ``map_size`` (H, W) and ``stride`` pixels per cell.

    boxes (B, G, 4) pixels, labels (B, G) int64 (−1 = padding) → ``CenterTargets``. Each box, in
    feature cells and clipped to the map, has its centre c, centre cell ⌊c⌋ and offset c − ⌊c⌋;
    its class channel gets a Gaussian peak of 1 at ⌊c⌋, of radius r = ⌊gaussian_radius(⌈h⌉,
    ⌈w⌉)⌋ cells and σ = (2r + 1)/6, over the (2r + 1)² window; overlapping peaks of a class take
    their maximum. Sizes are in feature cells, as CenterNet's (so its loss weights carry over).

    No per-image loop: every object's Gaussian is drawn on the whole map at once, an (B, G, H, W)
    intermediate (16 images × 50 slots × 128² cells = 52 MB in float32), then reduced by class.
    """
    height, width = map_size
    boxes = boxes.float()
    scale = boxes.new_tensor([width, height, width, height])
    cells = (boxes / stride).clamp(min=boxes.new_zeros(4), max=scale)  # (B, G, 4)
    size = (cells[..., 2:] - cells[..., :2]).clamp_min(0)  # (B, G, 2): w, h
    mask = (labels >= 0) & (size > 0).all(-1)
    centre = (cells[..., :2] + cells[..., 2:]) / 2
    cell = centre.floor().clamp(max=scale[:2] - 1)  # (B, G, 2) x, y; a sliver's may round to W
    offset = centre - cell
    x, y = cell.long().unbind(-1)
    index = torch.where(mask, y * width + x, 0)

    w, h = size.double().ceil().unbind(-1)
    radius = gaussian_radius(h, w, min_overlap).floor().clamp_min(0).float()  # (B, G)
    sigma = (2 * radius + 1) / 6

    def profile(points: int, at: torch.Tensor) -> torch.Tensor:
        """exp(−d²/2σ²) at integer distances d ≤ r from ``at`` (B, G) → (B, G, points)."""
        d = torch.arange(points, device=boxes.device) - at[..., None]
        inside = d.abs() <= radius[..., None]
        return torch.exp(-(d**2) / (2 * sigma[..., None] ** 2)) * inside

    peaks = profile(height, y)[..., :, None] * profile(width, x)[..., None, :]  # (B, G, H, W)
    peaks = peaks.where(mask[..., None, None], 0)
    heatmap = peaks.new_zeros(boxes.shape[0], classes, height, width)
    channel = labels.clamp_min(0)[..., None, None].expand_as(peaks)
    heatmap.scatter_reduce_(1, channel, peaks, reduce="amax")
    return CenterTargets(heatmap, index, size * mask[..., None], offset * mask[..., None], mask)


def gather_cells(maps: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """The values of ``maps`` (B, D, H, W) at flat cell indices ``index`` (B, K) → (B, K, D): what
    a loss compares with ``CenterTargets.size`` / ``offset`` at the centres."""
    flat = maps.flatten(2)  # (B, D, H·W)
    return flat.gather(2, index[:, None, :].expand(-1, flat.shape[1], -1)).transpose(1, 2)


def decode_centers(
    heatmap: torch.Tensor,
    size: torch.Tensor,
    offset: torch.Tensor,
    stride: float,
    k: int = 100,
    *,
    from_logits: bool = True,
    iou_threshold: float | None = None,
) -> Detections:
    """CenterNet's decoding: heatmap (B, C, H, W) logits (or probabilities, ``from_logits=False``),
    size (B, 2, H, W) w, h in feature cells, offset (B, 2, H, W) → the ``k`` best peaks of each
    image (k ≤ C·H·W) as ``Detections`` (B, k), best first, boxes in pixels.

    A peak is a cell equal to the maximum of its 3×3 neighbourhood (CenterNet's stand-in for NMS);
    ``iou_threshold`` adds class-aware NMS on top (``suppress``), marking what it drops with
    label −1 and score 0.
    """
    heat = heatmap.sigmoid() if from_logits else heatmap
    peaks = heat * (heat == F.max_pool2d(heat, 3, stride=1, padding=1))
    cells = heat.shape[2] * heat.shape[3]
    scores, flat = peaks.flatten(1).topk(k)  # (B, k) over classes × cells
    labels, index = flat // cells, flat % cells
    x = (index % heat.shape[3]).to(heat.dtype)
    y = (index // heat.shape[3]).to(heat.dtype)
    centre = torch.stack([x, y], -1) + gather_cells(offset, index)  # (B, k, 2)
    half = gather_cells(size, index) / 2
    boxes = torch.cat([centre - half, centre + half], -1) * stride
    detections = Detections(boxes, scores, labels)
    return detections if iou_threshold is None else suppress(detections, iou_threshold)


def heatmap_focal_loss(
    logits: torch.Tensor, target: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """CenterNet's penalty-reduced pixel-wise focal loss (α = 2, β = 4), per image.

    logits (B, C, H, W), target (B, C, H, W) in [0, 1] (``CenterTargets.heatmap``) → (sums (B,),
    counts (B,)): each image's summed loss and its number of peaks (cells where target = 1), both
    float32. CenterNet's loss is sums / counts, with 1 for an image with no peak
    (``counts.clamp_min(1)``); keeping them apart lets a caller weigh examples.

    At a peak the loss is −(1 − p)² log p, elsewhere −(1 − t)⁴ p² log(1 − p), with p = σ(x); the
    logs are log-sigmoids and 1 − p is σ(−x), in float32, so it is finite at any logit.
    """
    x, t = logits.float(), target.float()
    peak = t == 1
    positive = torch.sigmoid(-x) ** 2 * F.logsigmoid(x)
    negative = (1 - t) ** 4 * torch.sigmoid(x) ** 2 * F.logsigmoid(-x)
    loss = -torch.where(peak, positive, negative)
    return loss.flatten(1).sum(1), peak.flatten(1).sum(1).float()
