import math

import torch

from sharedspace.discovery.networks import NetConfig, SmallConvNet
from sharedspace.discovery.population import Problems, TrainConfig, train_population
from sharedspace.discovery.scores import (
    agreement,
    blind_loss,
    image_statistics,
    informed_loss,
    rolling_median_minimum,
    taskness,
)


def test_taskness_uses_the_lowest_rolling_median_not_the_lowest_epoch():
    curve = torch.tensor([[1.0, 0.8, 0.5, 0.9, 0.4, 0.45, 0.5, 0.6, 0.7]])
    # medians of the five 5-epoch windows: 0.8, 0.5, 0.5, 0.5, 0.5 → g = 0.5, not the 0.4 dip
    torch.testing.assert_close(rolling_median_minimum(curve), torch.tensor([0.5]))
    torch.testing.assert_close(taskness(curve, torch.tensor([1.0])), torch.tensor([0.5]))
    short = torch.tensor([[0.9, 0.3, 0.6]])  # fewer epochs than the window: median of all
    torch.testing.assert_close(rolling_median_minimum(short), torch.tensor([0.6]))


def test_blind_baseline_is_the_entropy_of_the_prior():
    balanced = torch.tensor([[0, 1] * 10])
    torch.testing.assert_close(blind_loss(balanced, balanced), torch.tensor([math.log(2)]))
    skewed = torch.tensor([[1] + [0] * 4])  # prior 0.2, and 0.2 of the validation labels
    h = -(0.2 * math.log(0.2) + 0.8 * math.log(0.8))
    torch.testing.assert_close(blind_loss(skewed, skewed), torch.tensor([h]))


def test_informed_baseline_sees_brightness_but_not_noise():
    g = torch.Generator().manual_seed(0)
    brightness = torch.linspace(-2, 2, 200)[:, None, None, None]
    images = torch.randn(200, 1, 6, 6, generator=g) + brightness
    bright = (torch.arange(200) >= 100).long()  # the brighter half
    noise = torch.randperm(200, generator=g) % 2
    order = torch.randperm(200, generator=g)
    train, val = order[:160][None].repeat(2, 1), order[160:][None].repeat(2, 1)
    labels = torch.stack([bright, noise])
    stats = image_statistics(images)
    informed = informed_loss(stats, train, labels.gather(1, train), val, labels.gather(1, val))
    blind = blind_loss(labels.gather(1, train), labels.gather(1, val))
    assert informed[0] < 0.5 * blind[0]  # brightness is in the statistics
    assert informed[1] > 0.9 * blind[1]  # noise is not


def test_two_identical_networks_agree_everywhere_and_different_ones_less_on_noise():
    g = torch.Generator().manual_seed(0)
    images = torch.randn(60, 1, 8, 8, generator=g)
    rows = torch.randperm(40, generator=g)[None].repeat(3, 1)  # images 40..59 held out
    labels = (torch.randperm(40, generator=g) % 2)[None].repeat(3, 1)
    problems = Problems(images, rows[:, :30], labels[:, :30], rows[:, 30:], labels[:, 30:])
    make = lambda: SmallConvNet(NetConfig(channels=(4, 8), hidden=(16, 8)), (1, 8, 8))  # noqa: E731
    cfg = TrainConfig(epochs=30, batch_size=20, lr=1e-2)
    probe = torch.arange(40, 60)  # images no model trains on
    generator = torch.Generator().manual_seed(0)
    trained = train_population(make, [7, 7, 8], problems, cfg, generator, probe=probe)
    predictions = trained.probe_predictions
    assert predictions.shape == (3, 20)
    assert agreement(predictions[0:1], predictions[1:2]).item() == 1.0
    assert agreement(predictions[0:1], predictions[2:3]).item() < 1.0
