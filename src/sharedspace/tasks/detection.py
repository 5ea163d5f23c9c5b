"""Object detection: a set of boxes with classes per image, from a feature map of the shared space.

A single-stage, anchor-free head after CenterNet (Zhou et al. 2019, "Objects as Points"): from a
(B, D, H, W) map, three small convolutional branches give a class heatmap (B, C, H, W), each
centre's box size (B, 2, H, W) and its sub-cell offset (B, 2, H, W). Training: the heatmap's focal
loss plus L1 on size and offset at the objects' centres, per image (``layers.boxes``). Prediction:
the heatmap's 3×3 peaks, top-k over classes × cells, optionally class-aware NMS.

The stride (pixels per map cell) is read from the input and the map at every call, so one head
serves any input size its cap keeps the layout of. Scores: COCO's box AP (AP@[.5:.95], AP50,
AP75 and per class) by ``faster-coco-eval`` over a whole split, from the detections and the true
boxes each example gives as metric rows (``Task.metric_rows``); the loss as a mean over images.
"""

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from sharedspace.config import number
from sharedspace.layers.boxes import (
    Detections,
    decode_centers,
    encode_centers,
    gather_cells,
    heatmap_focal_loss,
)
from sharedspace.tasks.average_precision import average_precision
from sharedspace.tasks.base import TASKS, LossTerms, Task
from sharedspace.tasks.box_data import ImageBoxes
from sharedspace.tasks.scene_data import Scenes
from sharedspace.tasks.views import DATA_VIEWS

PRIOR = 0.1  # CenterNet's initial heatmap probability: the bias starts at log(0.1 / 0.9) ≈ −2.19


class CenterHead(nn.Module):
    """(B, D, H, W) → {"heatmap": (B, C, H, W) logits, "size": (B, 2, H, W) w, h in map cells,
    "offset": (B, 2, H, W)}: per branch a 3×3 conv of ``hidden`` channels, ReLU, a 1×1 conv."""

    def __init__(self, in_dim: int, classes: int, hidden: int) -> None:
        super().__init__()

        def branch(out: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(in_dim, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, out, 1)
            )

        self.heatmap, self.size, self.offset = branch(classes), branch(2), branch(2)
        nn.init.constant_(self.heatmap[-1].bias, torch.logit(torch.tensor(PRIOR)).item())

    def forward(self, z: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        z = z.contiguous(memory_format=torch.channels_last)
        return {"heatmap": self.heatmap(z), "size": self.size(z), "offset": self.offset(z)}


def stride_of(output: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> float:
    """Input pixels per map cell: the image's width over the heatmap's."""
    return batch["x"].shape[-1] / output["heatmap"].shape[-1]


@TASKS.register("detection")
class Detection(Task):
    """Boxes and classes of the objects in an image (``y`` (B, G) class ids, −1 where none;
    ``y_boxes`` (B, G, 4) pixels), from a feature map."""

    targets = ("boxes",)
    accepts = ("map",)
    goals: ClassVar[dict[str, str]] = {"loss": "min", "ap": "max", "ap50": "max", "ap75": "max"}

    @dataclass
    class Config:
        hidden: int = number(64, ge=1)  # channels of each branch's 3×3 conv (CenterNet's)
        size_weight: float = 0.1  # λ_size of the L1 loss on box sizes (CenterNet's)
        offset_weight: float = 1.0  # λ_off of the L1 loss on centre offsets
        detections: int = number(100, ge=1)  # kept per image, best first (COCO scores ≤ 100)
        # class-aware NMS after the peaks at this IoU; None: peaks only
        nms_iou: float | None = number(None, gt=0, le=1)

    def build_head(self, in_dim: int) -> nn.Module:
        return CenterHead(in_dim, len(self.data.target.classes), self.head_cfg.hidden)

    def loss(self, output, batch):
        heatmap = output["heatmap"]
        targets = encode_centers(
            batch["y_boxes"],
            batch["y"],
            tuple(heatmap.shape[-2:]),
            heatmap.shape[1],
            stride_of(output, batch),
        )
        focal, peaks = heatmap_focal_loss(heatmap, targets.heatmap)  # (B,), (B,)
        mask = targets.mask[..., None].float()  # (B, G, 1)
        size = gather_cells(output["size"].float(), targets.index)  # (B, G, 2)
        offset = gather_cells(output["offset"].float(), targets.index)
        size_l1 = (F.l1_loss(size, targets.size, reduction="none") * mask).sum((1, 2))
        offset_l1 = (F.l1_loss(offset, targets.offset, reduction="none") * mask).sum((1, 2))
        objects = mask.sum((1, 2)).clamp_min(1)  # (B,)
        cfg = self.head_cfg
        losses = (
            focal / peaks.clamp_min(1)
            + (cfg.size_weight * size_l1 + cfg.offset_weight * offset_l1) / objects
        )
        return LossTerms.per_example(losses)

    def detect(self, output: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> Detections:
        """The head's output → at most ``detections`` boxes per image, best first (B, K)."""
        heatmap = output["heatmap"]
        k = min(self.head_cfg.detections, heatmap[0].numel())
        return decode_centers(
            heatmap.float(),
            output["size"].float(),
            output["offset"].float(),
            stride_of(output, batch),
            k,
            iou_threshold=self.head_cfg.nms_iou,
        )

    def metric_sums(self, output, batch, prediction=None):
        losses = self.loss(output, batch).losses()
        return {"loss": losses.sum().double(), "count": losses.new_tensor(len(losses)).double()}

    @staticmethod
    def metrics(sums):
        """loss: the training loss's mean over images."""
        return {"loss": sums["loss"] / sums["count"]}

    def metric_rows(self, output, batch, prediction=None):
        found = self.detect(output, batch)
        return {
            "boxes": found.boxes,
            "scores": found.scores,
            "labels": found.labels,
            "true_boxes": batch["y_boxes"].float(),
            "true_labels": batch["y"],
        }

    def row_metrics(self, rows):
        """COCO's box AP, 0–1: ap (AP@[.5:.95]), ap50, ap75, and ``ap/<class>`` per class (NaN
        for a class with no object in the split)."""
        rows = {k: v.cpu() for k, v in rows.items()}
        found = Detections(rows["boxes"], rows["scores"], rows["labels"])
        truth = (rows["true_boxes"], rows["true_labels"])
        return average_precision(found, truth, self.data.target.classes)


DATA_VIEWS.add(Detection, Scenes, ImageBoxes)
