"""COCO's box average precision of padded detections, computed by ``faster-coco-eval``.

``faster-coco-eval`` is a maintained, C++-backed rewrite of ``pycocotools`` that gives its numbers;
the ground truth and the detections are handed to it as in-memory COCO dicts (no files) and its
report is silenced. What is passed is COCO's default for boxes: IoU thresholds 0.50:0.05:0.95,
101 recall points, maxDets (1, 10, 100) and COCO's area ranges; every number here is read at area
"all" and maxDets 100 (which pycocotools applies per image and class). Image i of the batch is
COCO image i + 1 and class c is category c + 1 (COCO's matching takes id 0 as "unmatched").

COCO's conventions for what is missing: an image with no ground truth is still evaluated, so its
detections are false positives; a class with no ground truth anywhere has no AP (COCO's −1, here
NaN) and is left out of the mean, as COCO leaves it out; with no ground truth at all every AP is
NaN.

``faster-coco-eval`` is optional (``pip install 'sharedspace[detection]'``); a missing package is
a one-line error naming that command.
"""

import math
from types import ModuleType

import numpy as np
import torch

from sharedspace.errors import SharedSpaceError
from sharedspace.layers.boxes import Detections

INSTALL = (
    "average precision needs faster-coco-eval: pip install 'sharedspace[detection]' "
    "(in this repo: .venv/bin/pip install -e '.[detection]')"
)


def faster_coco_eval() -> ModuleType:
    """The ``faster_coco_eval`` module, or a one-line error naming the install command."""
    try:
        import faster_coco_eval
    except ImportError:
        raise SharedSpaceError(INSTALL) from None
    return faster_coco_eval


def _quiet(*args: object, **kwargs: object) -> None:
    """Takes the place of faster-coco-eval's print function."""


def _annotations(
    boxes: torch.Tensor, labels: torch.Tensor, scores: torch.Tensor | None = None
) -> list[dict]:
    """Padded boxes (N, K, 4) x0, y0, x1, y1, labels (N, K) (−1 = none), scores (N, K) → COCO
    annotations: bbox [x, y, w, h], ids from 1; ground truth (no scores) also gets area and
    iscrowd 0."""
    image, slot = (labels >= 0).nonzero(as_tuple=True)
    xyxy = boxes[image, slot].double()
    xywh = torch.cat([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], 1).tolist()
    images, categories = (image + 1).tolist(), (labels[image, slot] + 1).tolist()
    annotations = [
        {"id": i + 1, "image_id": n, "category_id": c, "bbox": box}
        for i, (n, c, box) in enumerate(zip(images, categories, xywh, strict=True))
    ]
    if scores is None:
        for a in annotations:
            a |= {"area": a["bbox"][2] * a["bbox"][3], "iscrowd": 0}
    else:
        for a, score in zip(annotations, scores[image, slot].tolist(), strict=True):
            a["score"] = score
    return annotations


def _nan_if_missing(value: float) -> float:
    """COCO's −1 (nothing to average) → NaN."""
    return math.nan if value < 0 else float(value)


def average_precision(
    detections: Detections,
    ground_truth: tuple[torch.Tensor, torch.Tensor],
    classes: tuple[str, ...],
) -> dict[str, float]:
    """COCO box AP of N images' detections.

    detections: boxes (N, K, 4) x0, y0, x1, y1 pixels, scores (N, K), labels (N, K) int64 (−1 =
    none); ground_truth: boxes (N, G, 4), labels (N, G) (−1 = none); ``classes`` names labels 0…
    → {"ap": AP@[.50:.95], "ap50": AP@.50, "ap75": AP@.75, "ap/<class>": AP@[.50:.95] of that
    class}, each in [0, 1] or NaN where COCO has no value (see the module's docstring).
    """
    lib = faster_coco_eval()
    gt_boxes, gt_labels = ground_truth
    if gt_labels.shape[0] != detections.labels.shape[0]:
        found, wanted = detections.labels.shape[0], gt_labels.shape[0]
        raise SharedSpaceError(f"{found} images of detections, {wanted} of ground truth")
    labels = torch.cat([detections.labels.flatten(), gt_labels.flatten()])
    if labels.numel() and int(labels.max()) >= len(classes):
        raise SharedSpaceError(f"label {int(labels.max())} has no class: {len(classes)} are named")
    dataset = {
        "images": [{"id": n + 1} for n in range(gt_labels.shape[0])],
        "categories": [{"id": c + 1, "name": name} for c, name in enumerate(classes)],
        "annotations": _annotations(gt_boxes, gt_labels),
    }
    truth = lib.COCO(dataset, print_function=_quiet)
    found = _annotations(detections.boxes, detections.labels, detections.scores)
    evaluation = lib.COCOeval_faster(
        truth, truth.loadRes(found), iouType="bbox", print_function=_quiet
    )
    evaluation.run()
    stats = evaluation.stats_as_dict
    precision = evaluation.eval["precision"][:, :, :, 0, -1]  # (IoUs, recalls, classes)
    scores = {
        "ap": _nan_if_missing(stats["AP_all"]),
        "ap50": _nan_if_missing(stats["AP_50"]),
        "ap75": _nan_if_missing(stats["AP_75"]),
    }
    for c, name in enumerate(classes):
        values = precision[:, :, c]
        present = values[values > -1]
        scores[f"ap/{name}"] = float(np.mean(present)) if present.size else math.nan
    return scores
