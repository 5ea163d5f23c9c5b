"""Boxes for detection: IoU by hand, NMS against a plain greedy loop, CenterNet's heatmap against
its own drawing code (ported here pixel by pixel), the encode → decode round trip, and the focal
loss's values, extremes and gradient."""

import math

import numpy as np
import torch

from sharedspace.layers.boxes import (
    Detections,
    batched_nms,
    box_iou,
    decode_centers,
    encode_centers,
    gather_cells,
    heatmap_focal_loss,
    suppress,
)


def test_iou_matches_a_hand_count():
    a = torch.tensor([[0.0, 0, 2, 2], [0, 0, 4, 4], [0, 0, 0, 0]])
    b = torch.tensor([[1.0, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6], [0, 0, 0, 0]])
    expected = torch.tensor(
        [
            [1 / 7, 1, 0, 0],  # overlap 1, union 4 + 4 − 1; the same box; apart; an empty box
            [4 / 16, 4 / 16, 0, 0],  # b inside a
            [0, 0, 0, 0],  # an empty box has IoU 0 with everything, itself included
        ]
    )
    torch.testing.assert_close(box_iou(a, b), expected)


def test_iou_of_padded_batches_is_each_images_iou():
    torch.manual_seed(0)
    corner = torch.rand(3, 5, 2) * 10
    a = torch.cat([corner, corner + torch.rand(3, 5, 2) * 5], -1)
    corner = torch.rand(3, 4, 2) * 10
    b = torch.cat([corner, corner + torch.rand(3, 4, 2) * 5], -1)
    batched = box_iou(a, b)  # (3, 5, 4)
    for i in range(3):
        torch.testing.assert_close(batched[i], box_iou(a[i], b[i]))


def greedy(boxes, scores, labels, threshold) -> list[int]:
    """NMS as its definition reads: best first, drop every later same-class box overlapping a kept
    one by more than ``threshold``."""
    kept: list[int] = []
    for i in sorted(range(len(scores)), key=lambda i: -float(scores[i])):
        if labels[i] >= 0 and all(
            labels[j] != labels[i] or box_iou(boxes[i : i + 1], boxes[j : j + 1]) <= threshold
            for j in kept
        ):
            kept.append(i)
    return kept


def test_nms_drops_overlapping_boxes_of_a_class_and_keeps_other_classes():
    boxes = torch.tensor(
        [
            [0.0, 0, 10, 10],  # 0: best
            [5, 0, 15, 10],  # 1: IoU 1/3 with 0 → dropped
            [9, 0, 19, 10],  # 2: IoU 0.43 with 1 but 1 is dropped; 0.05 with 0 → kept
            [0, 0, 10, 10],  # 3: the same box as 0, another class → kept
            [0, 0, 10, 10],  # 4: padding → dropped
        ]
    )
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.95])
    labels = torch.tensor([0, 0, 0, 1, -1])
    kept = batched_nms(boxes, scores, labels, iou_threshold=0.3)
    assert kept.tolist() == [0, 2, 3] == greedy(boxes, scores, labels, 0.3)


def test_nms_of_random_boxes_is_the_plain_greedy_loop_and_suppress_is_it_per_image():
    torch.manual_seed(1)
    corner = torch.rand(2, 40, 2) * 20
    boxes = torch.cat([corner, corner + 2 + torch.rand(2, 40, 2) * 10], -1)
    scores, labels = torch.rand(2, 40), torch.randint(-1, 3, (2, 40))
    out = suppress(Detections(boxes, scores, labels), iou_threshold=0.5)
    for i in range(2):
        kept = batched_nms(boxes[i], scores[i], labels[i], 0.5)
        assert kept.tolist() == greedy(boxes[i], scores[i], labels[i], 0.5)
        assert sorted(kept.tolist()) == (out.labels[i] >= 0).nonzero().squeeze(1).tolist()
        assert (out.scores[i][out.labels[i] < 0] == 0).all()
    nothing = batched_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long), 0.5)
    assert nothing.shape == (0,)


def centernet_heatmap(boxes, labels, size, classes, stride) -> np.ndarray:
    """CenterNet's ``gaussian_radius`` and ``draw_umich_gaussian`` (float64, one box at a time),
    with the boxes clipped to [0, W] × [0, H] cells as ``encode_centers`` clips them."""
    height, width = size
    heatmap = np.zeros((classes, height, width))
    for box, label in zip(boxes, labels, strict=True):
        x0, y0, x1, y1 = np.clip(np.array(box) / stride, 0, [width, height, width, height])
        h, w = y1 - y0, x1 - x0
        if label < 0 or h <= 0 or w <= 0:
            continue
        h, w = math.ceil(h), math.ceil(w)
        b1, c1 = h + w, w * h * 0.3 / 1.7
        b2, c2 = 2 * (h + w), 0.3 * w * h
        b3, c3 = -1.4 * (h + w), -0.3 * w * h
        r1 = (b1 + math.sqrt(b1**2 - 4 * c1)) / 2
        r2 = (b2 + math.sqrt(b2**2 - 16 * c2)) / 2
        r3 = (b3 + math.sqrt(b3**2 - 4 * 2.8 * c3)) / 2
        radius = max(0, int(min(r1, r2, r3)))
        diameter = 2 * radius + 1
        sigma = diameter / 6
        yy, xx = np.ogrid[-radius : radius + 1, -radius : radius + 1]
        gaussian = np.exp(-(xx * xx + yy * yy) / (2 * sigma * sigma))
        x, y = int((x0 + x1) / 2), int((y0 + y1) / 2)
        left, right = min(x, radius), min(width - x, radius + 1)
        top, bottom = min(y, radius), min(height - y, radius + 1)
        window = heatmap[label, y - top : y + bottom, x - left : x + right]
        part = gaussian[radius - top : radius + bottom, radius - left : radius + right]
        np.maximum(window, part, out=window)
    return heatmap


STRIDE, SIZE, CLASSES = 4, (12, 16), 3  # a 48 × 64 pixel image
BOXES = torch.tensor(
    [
        [[4.0, 6, 30, 22], [10, 8, 26, 40], [40, 0, 64, 13], [50, 30, 70, 52]],  # last: cut at x 64
        [[0, 0, 63, 47], [2, 3, 9, 7], [20, 20, 20, 30], [0, 0, 0, 0]],  # an empty box; padding
    ]
)
LABELS = torch.tensor([[0, 0, 2, 1], [1, 0, 2, -1]])


def test_heatmap_is_centernets_drawing():
    targets = encode_centers(BOXES, LABELS, SIZE, CLASSES, STRIDE)
    assert targets.heatmap.shape == (2, CLASSES, *SIZE)
    for i in range(2):
        reference = centernet_heatmap(BOXES[i].tolist(), LABELS[i].tolist(), SIZE, CLASSES, STRIDE)
        torch.testing.assert_close(targets.heatmap[i], torch.from_numpy(reference).float())
    assert targets.mask.tolist() == [[True] * 4, [True, True, False, False]]
    assert (targets.heatmap.flatten(1) == 1).sum(1).tolist() == [4, 2]


def test_decoding_the_targets_recovers_the_boxes():
    """Every object here has its own (class, cell), so the heatmap's peaks are the objects."""
    targets = encode_centers(BOXES, LABELS, SIZE, CLASSES, STRIDE)
    values = torch.cat([targets.size, targets.offset], -1)  # (B, G, 4)
    maps = torch.zeros(2, 4, *SIZE)  # size (w, h) then offset, at each object's centre cell
    for i, g in targets.mask.nonzero().tolist():
        y, x = divmod(targets.index[i, g].item(), SIZE[1])
        maps[i, :, y, x] = values[i, g]
    torch.testing.assert_close(
        gather_cells(maps, targets.index)[targets.mask], values[targets.mask]
    )
    size, offset = maps.split(2, 1)
    found = decode_centers(targets.heatmap, size, offset, STRIDE, k=4, from_logits=False)
    clipped = BOXES.clamp(max=torch.tensor([64.0, 48, 64, 48]))  # the image is 64 × 48
    for i in range(2):
        peak, real = found.scores[i] == 1, targets.mask[i]
        got = sorted(
            zip(found.labels[i][peak].tolist(), found.boxes[i][peak].tolist(), strict=True)
        )
        want = sorted(zip(LABELS[i][real].tolist(), clipped[i][real].tolist(), strict=True))
        assert [label for label, _ in got] == [label for label, _ in want]
        torch.testing.assert_close(
            torch.tensor([box for _, box in got]), torch.tensor([box for _, box in want])
        )


def test_a_sliver_at_the_right_edge_has_its_centre_in_the_last_column():
    sliver = torch.tensor([[[64 - 2**-18, 0, 64, 8]]])  # (x0 + x1) / 2 rounds to 64 in float32
    targets = encode_centers(sliver, torch.tensor([[0]]), SIZE, CLASSES, STRIDE)
    assert targets.mask.item() and targets.index.item() == SIZE[1] + 15  # row 1, column 15


def test_decoding_takes_local_maxima_best_first():
    logits = torch.full((1, 2, 5, 5), -10.0)
    logits[0, 0, 1, 1], logits[0, 0, 1, 2] = 3.0, 2.0  # beside a higher cell: not a peak
    logits[0, 1, 1, 1], logits[0, 0, 4, 4] = 1.0, 0.0  # another class's channel; far off: peaks
    size, offset = torch.full((1, 2, 5, 5), 2.0), torch.zeros(1, 2, 5, 5)
    found = decode_centers(logits, size, offset, stride=2, k=3)
    torch.testing.assert_close(found.scores[0], torch.sigmoid(torch.tensor([3.0, 1.0, 0.0])))
    assert found.labels.tolist() == [[0, 1, 0]]
    torch.testing.assert_close(found.boxes[0, 0], torch.tensor([0.0, 0, 4, 4]))  # cells 0–2
    # class-aware NMS: the class-1 box on top of the class-0 box stays
    assert decode_centers(logits, size, offset, 2, k=3, iou_threshold=0.5).labels.tolist() == [
        [0, 1, 0]
    ]


def test_decoding_with_nms_drops_a_same_class_peak_that_overlaps_a_better_one():
    logits = torch.full((1, 1, 5, 5), -10.0)
    logits[0, 0, 1, 1], logits[0, 0, 1, 3] = 3.0, 2.0  # two cells apart: both peaks
    size, offset = torch.full((1, 2, 5, 5), 4.0), torch.zeros(1, 2, 5, 5)  # x −1…3 and 1…5: IoU ⅓
    kept = decode_centers(logits, size, offset, 1, k=2, iou_threshold=0.5)
    dropped = decode_centers(logits, size, offset, 1, k=2, iou_threshold=0.3)
    assert kept.labels.tolist() == [[0, 0]] and dropped.labels.tolist() == [[0, -1]]
    assert dropped.scores[0, 1] == 0


def test_focal_loss_is_centernets_formula():
    torch.manual_seed(2)
    target = encode_centers(BOXES, LABELS, SIZE, CLASSES, STRIDE).heatmap
    logits = torch.randn_like(target) * 3  # |x| ≤ 9.2: CenterNet's clamp to [1e-4, 1 − 1e-4] idle
    sums, counts = heatmap_focal_loss(logits, target)
    p = torch.sigmoid(logits.double())
    pos = torch.log(p) * (1 - p) ** 2 * (target == 1)
    neg = torch.log(1 - p) * p**2 * (1 - target) ** 4 * (target < 1)
    torch.testing.assert_close(sums, -(pos + neg).flatten(1).sum(1).float())
    assert counts.tolist() == [4.0, 2.0]


def test_focal_loss_is_near_zero_when_right_large_when_wrong_and_finite_at_extremes():
    target = encode_centers(BOXES, LABELS, SIZE, CLASSES, STRIDE).heatmap
    peak = target == 1
    right = torch.where(peak, 20.0, -20.0)
    assert heatmap_focal_loss(right, target)[0].max() < 1e-6
    assert (heatmap_focal_loss(-right, target)[0] > 100).all()
    for extreme in (1e4, -1e4, float(torch.finfo(torch.float16).max)):
        logits = torch.full_like(target, extreme).half().requires_grad_()
        sums, _ = heatmap_focal_loss(logits, target)
        sums.sum().backward()
        assert torch.isfinite(sums).all() and torch.isfinite(logits.grad).all()


def test_focal_loss_gradient_reaches_every_logit_and_points_the_right_way():
    target = encode_centers(BOXES, LABELS, SIZE, CLASSES, STRIDE).heatmap
    logits = torch.zeros_like(target, requires_grad=True)
    heatmap_focal_loss(logits, target)[0].sum().backward()
    grad = logits.grad
    assert (grad[target == 1] < 0).all()  # raise the peaks
    assert (grad[target < 1] > 0).all()  # lower the rest (down-weighted near peaks)
