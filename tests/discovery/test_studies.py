import pytest
import torch

from sharedspace.discovery.images import Images
from sharedspace.discovery.networks import NetConfig
from sharedspace.discovery.population import TrainConfig
from sharedspace.discovery.scores import image_statistics
from sharedspace.discovery.scoring import ScoreConfig
from sharedspace.discovery.studies import (
    class_pairs,
    fixed_positives,
    label_ablation,
    ratio_split,
    sanity,
)
from sharedspace.errors import ConfigError

CFG = ScoreConfig(
    net=NetConfig(channels=(4, 8), hidden=(16, 8)), train=TrainConfig(epochs=30, lr=3e-3)
)


def images(m: int = 400) -> Images:
    """Noise images of 4 classes, each with its own bright quadrant (only shape tells them
    apart); the last 100 are the probe."""
    g = torch.Generator().manual_seed(0)
    classes = torch.arange(m) % 4
    pool = torch.randn(m, 1, 8, 8, generator=g)
    for c, (r, col) in enumerate([(0, 0), (0, 4), (4, 0), (4, 4)]):
        pool[classes == c, :, r : r + 4, col : col + 4] += 1.5
    return Images(pool, classes, image_statistics(pool), torch.arange(m - 100, m), pool)


def test_ratio_split_labels_one_class_against_the_others():
    classes = torch.arange(300) % 3
    lab = ratio_split(classes, 1, 4, 50, torch.Generator().manual_seed(0))
    assert len(lab.images) == len(set(lab.images.tolist())) == 50
    assert lab.labels.sum() == 10  # 1:4
    assert (classes[lab.images] == 1).long().equal(lab.labels)
    with pytest.raises(ConfigError, match="1:9 of 2000 images: class 1 has 100 images"):
        ratio_split(classes, 1, 9, 2000, torch.Generator())


def test_class_pairs_are_distinct_ordered_pairs_of_classes():
    pairs = class_pairs(torch.arange(30) % 3, 6, torch.Generator().manual_seed(0))
    assert sorted(pairs) == [(a, b) for a in range(3) for b in range(3) if a != b]


def test_class_splits_score_above_random_labellings_and_flips_lower_taskness():
    data = images()
    real, noise = sanity(data, CFG, n=60, count=3, seed=0)
    assert real.taskness.min() > noise.taskness.max(), (real.taskness, noise.taskness)
    assert real.agreement.min() > noise.agreement.max(), (real.agreement, noise.agreement)
    rows = label_ablation(data, CFG, [0.0, 0.4], n=60, count=3, seed=0)
    assert [r["value"] for r in rows] == [0.0, 0.4] and rows[0]["labellings"] == 3
    assert rows[0]["taskness"] > rows[1]["taskness"] + 0.2, rows


def test_fixed_positives_grows_the_labelling_with_the_ratio():
    rows = fixed_positives(images(), CFG, positives=5, ratios=[1, 3], count=2, seed=0)
    assert [(r["value"], r["labellings"]) for r in rows] == [(1, 2), (3, 2)]
    assert all(-10 < r["taskness"] <= 1 and 0 <= r["agreement"] <= 1 for r in rows)
