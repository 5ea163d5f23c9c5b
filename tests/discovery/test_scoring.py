import pytest
import torch

from sharedspace.discovery.labellings import Labelling, random_labelling
from sharedspace.discovery.networks import NetConfig
from sharedspace.discovery.population import TrainConfig
from sharedspace.discovery.scores import image_statistics
from sharedspace.discovery.scoring import ScoreConfig, score_labellings

CFG = ScoreConfig(
    net=NetConfig(channels=(4, 8), hidden=(16, 8)), train=TrainConfig(epochs=30, lr=3e-3)
)


def pool(m: int = 300) -> tuple[torch.Tensor, torch.Tensor]:
    """(m, 1, 8, 8) noise images, half with a bright left half and half a bright right half (the
    same brightness overall, so only shape tells them apart); and which half is bright."""
    g = torch.Generator().manual_seed(0)
    side = torch.arange(m) % 2
    images = torch.randn(m, 1, 8, 8, generator=g)
    images[side == 0, :, :, :4] += 1.5
    images[side == 1, :, :, 4:] += 1.5
    return images, side


def test_a_real_split_scores_far_above_random_labellings_on_both_scores():
    images, side = pool()
    g = torch.Generator().manual_seed(1)
    used = torch.arange(200)
    real = Labelling(used[:80], side[:80])  # balanced: the agreement score's setting
    noise = [random_labelling(used[torch.randperm(200, generator=g)[:80]], 40, g) for _ in range(3)]
    scores = score_labellings(images, [real, *noise], torch.arange(200, 300), CFG,
                              image_statistics(images))  # fmt: skip
    assert scores.val_loss.shape == (4, 2, 30) and scores.baseline.shape == (4,)
    assert scores.taskness[0] > 0.5 and (scores.taskness[1:] < 0.2).all(), scores.taskness
    assert scores.agreement[0] > 0.9 and (scores.agreement[1:] < 0.8).all(), scores.agreement


def test_labellings_are_scored_under_common_random_numbers():
    """The same labelling twice in one call scores the same: the same initialisations and batch
    order for every labelling, so differences in score are the labellings' own."""
    images, side = pool(120)
    lab = Labelling(torch.arange(40), side[:40])
    scores = score_labellings(images, [lab, lab], torch.arange(40, 120), CFG,
                              image_statistics(images))  # fmt: skip
    assert torch.equal(scores.val_loss[0], scores.val_loss[1])
    assert scores.taskness[0] == scores.taskness[1] and scores.agreement[0] == scores.agreement[1]


def test_mistakes_are_named():
    images, side = pool(60)
    stats = image_statistics(images)
    short, long = Labelling(torch.arange(10), side[:10]), Labelling(torch.arange(20), side[:20])
    with pytest.raises(ValueError, match=r"different sizes \[10, 20\]"):
        score_labellings(images, [short, long], torch.arange(40, 60), CFG, stats)
    with pytest.raises(ValueError, match="needs 2 or more, not 1"):
        score_labellings(images, [short], torch.arange(40, 60), ScoreConfig(networks=1), stats)
