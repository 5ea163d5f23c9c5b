"""Images with boxes as detection tasks read them: a split type of padded boxes, and a dataset's
own images with boxes (a COCO-format folder, ``data.coco``); composed scenes are in
``tasks.scene_data``."""

from dataclasses import dataclass

import torch

from sharedspace.data.coco import DetectionImages
from sharedspace.data.specs import BoxesTarget
from sharedspace.tasks.data import DataView, TaskData, load_dataset
from sharedspace.tasks.image_data import images_spec


@dataclass
class BoxedSplit:
    """Images and their objects: ``x`` (N, 3, S, S) uint8, ``y`` (N, G) class ids (−1 where no
    object), ``y_boxes`` (N, G, 4) float32 pixels."""

    images: torch.Tensor
    labels: torch.Tensor
    boxes: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def get(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"x": self.images[idx], "y": self.labels[idx], "y_boxes": self.boxes[idx]}

    def first(self, n: int | None) -> "BoxedSplit":
        return BoxedSplit(self.images[:n], self.labels[:n], self.boxes[:n])


class ImageBoxes(DataView):
    """A dataset's own images with boxes (``coco_detection``: a COCO-format folder), split as
    the dataset splits them; ``train_size`` and ``eval_size`` keep the first images of a split."""

    kind = "image"
    target = "boxes"
    name = "boxes"
    reads = DetectionImages

    @classmethod
    def prepare(cls, source, cfg, data_dir, seed, key, state):
        ds = load_dataset(source, data_dir)
        splits = {
            split: BoxedSplit(ds.images[split], ds.labels[split], ds.boxes[split]).first(n)
            for split, n in cfg.per_split().items()
        }
        target = BoxesTarget(ds.classes, ds.labels["train"].shape[1])
        return TaskData(splits, images_spec(ds.images["train"]), target)
