"""COCO average precision (``tasks.average_precision``) against AP counted by hand from a stated
order of true and false positives, and on cases whose answer is known: perfect predictions, a
wrong class, an IoU between the AP50 and AP75 thresholds, nothing to find."""

import importlib.util
import math
import sys

import pytest
import torch

from sharedspace.errors import SharedSpaceError
from sharedspace.layers.boxes import Detections
from sharedspace.tasks.average_precision import INSTALL, average_precision

needs_coco = pytest.mark.skipif(
    importlib.util.find_spec("faster_coco_eval") is None,
    reason="pip install 'sharedspace[detection]'",
)
A, B, C = [0.0, 0, 10, 10], [20.0, 20, 30, 30], [5.0, 5, 15, 15]
NONE = [0.0, 0, 0, 0]


def detections(rows: list[list[tuple[list[float], float, int]]]) -> Detections:
    """Per image, (box, score, label) rows, padded with label −1."""
    k = max(len(row) for row in rows)
    padded = [row + [(NONE, 0.0, -1)] * (k - len(row)) for row in rows]
    return Detections(
        torch.tensor([[box for box, _, _ in row] for row in padded]).reshape(len(rows), k, 4),
        torch.tensor([[score for _, score, _ in row] for row in padded]),
        torch.tensor([[label for _, _, label in row] for row in padded]),
    )


def truth(rows: list[list[tuple[list[float], int]]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image, (box, label) rows, padded with label −1."""
    g = max(len(row) for row in rows)
    padded = [row + [(NONE, -1)] * (g - len(row)) for row in rows]
    boxes = torch.tensor([[box for box, _ in row] for row in padded]).reshape(len(rows), g, 4)
    return boxes, torch.tensor([[label for _, label in row] for row in padded])


def interpolated_ap(hits: list[bool], positives: int) -> float:
    """COCO's 101-point AP of detections in score order (True = a true positive): precision made
    non-increasing from the right, read at the first rank whose recall reaches each of 0, 0.01, …,
    1 (0 where none does), averaged."""
    tp = [sum(hits[: i + 1]) for i in range(len(hits))]
    recall = [t / positives for t in tp]
    precision = [t / (i + 1) for i, t in enumerate(tp)]
    envelope = [max(precision[i:]) for i in range(len(precision))]
    points = [r / 100 for r in range(101)]
    reached = [next((i for i, rc in enumerate(recall) if rc >= r), None) for r in points]
    return sum(0.0 if i is None else envelope[i] for i in reached) / 101


@needs_coco
def test_ap_is_the_101_point_interpolated_precision_counted_by_hand():
    ground_truth = truth([[(A, 0), (B, 0)], [(C, 0)], []])  # image 3 has nothing to find
    found = detections(
        [
            [(A, 0.9, 0), (A, 0.6, 0), (B, 0.5, 0)],  # A again: a duplicate, a false positive
            [(C, 0.7, 0), ([40.0, 40, 50, 50], 0.8, 0)],  # the second overlaps nothing
            [([1.0, 1, 5, 5], 0.55, 0)],  # on an image without ground truth: false positive
        ]
    )
    hits = [True, False, True, False, False, True]  # scores .9 .8 .7 .6 .55 .5
    expected = interpolated_ap(hits, positives=3)
    assert expected == pytest.approx(73 / 101)  # 34 points at 1, 33 at 2/3, 34 at 1/2
    scores = average_precision(found, ground_truth, ("thing", "other"))
    for key in ("ap", "ap50", "ap75", "ap/thing"):  # every match is exact: the same at every IoU
        assert scores[key] == pytest.approx(expected, rel=1e-12), key
    assert math.isnan(scores["ap/other"])  # no ground truth of that class: COCO has no AP


@needs_coco
def test_perfect_predictions_score_one():
    ground_truth = truth([[(A, 0), (B, 1)], [(C, 1)]])
    found = detections([[(B, 0.3, 1), (A, 0.9, 0)], [(C, 0.8, 1)]])
    scores = average_precision(found, ground_truth, ("a", "b"))
    assert scores == {"ap": 1.0, "ap50": 1.0, "ap75": 1.0, "ap/a": 1.0, "ap/b": 1.0}


@needs_coco
def test_a_detection_of_the_wrong_class_does_not_count():
    ground_truth = truth([[(A, 0)]])
    wrong = average_precision(detections([[(A, 0.9, 1)]]), ground_truth, ("a", "b"))
    assert wrong["ap"] == wrong["ap/a"] == 0.0 and math.isnan(wrong["ap/b"])
    both = average_precision(detections([[(A, 0.9, 1), (A, 0.5, 0)]]), ground_truth, ("a", "b"))
    assert both["ap/a"] == 1.0  # the wrong-class box, though scored higher, takes nothing


@needs_coco
def test_a_box_at_iou_between_the_thresholds_counts_for_ap50_not_ap75():
    ground_truth = truth([[(A, 0)]])
    partial = [0.0, 0, 10, 6.2]  # inside A: IoU 62 / 100
    scores = average_precision(detections([[(partial, 0.9, 0)]]), ground_truth, ("a",))
    assert scores["ap50"] == 1.0 and scores["ap75"] == 0.0
    assert scores["ap"] == pytest.approx(0.3)  # a hit at IoU 0.50, 0.55, 0.60 of the ten


@needs_coco
def test_no_detections_score_zero_and_no_ground_truth_is_nan():
    nothing = detections([[], []])
    assert average_precision(nothing, truth([[(A, 0)], []]), ("a",))["ap"] == 0.0
    empty = average_precision(detections([[(A, 0.9, 0)], []]), truth([[], []]), ("a",))
    assert all(math.isnan(value) for value in empty.values())


@needs_coco
def test_a_label_without_a_class_name_is_refused():
    with pytest.raises(SharedSpaceError, match="label 1 has no class: 1 are named"):
        average_precision(detections([[(A, 0.9, 1)]]), truth([[(A, 0)]]), ("a",))


def test_without_faster_coco_eval_the_error_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "faster_coco_eval", None)  # import → ImportError
    with pytest.raises(SharedSpaceError) as error:
        average_precision(detections([[(A, 0.9, 0)]]), truth([[(A, 0)]]), ("a",))
    assert str(error.value) == INSTALL and "pip install 'sharedspace[detection]'" in INSTALL
