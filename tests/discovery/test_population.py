import pytest
import torch
import torch.nn.functional as F

from sharedspace.discovery.networks import NetConfig, SmallConvNet
from sharedspace.discovery.population import Problems, TrainConfig, seeded, train_population

SHAPE = (1, 8, 8)


def make_net() -> SmallConvNet:
    return SmallConvNet(NetConfig(channels=(4, 8), hidden=(16, 8)), SHAPE)


def problems(n_problems: int, seed: int = 0) -> Problems:
    """A pool of 48 random images; problem p labels them by whether pixel p is bright."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(48, *SHAPE, generator=g)
    rows = torch.stack([torch.randperm(48, generator=g) for _ in range(n_problems)])  # (P, 48)
    pixel = images.flatten(1)[:, :n_problems].T  # (P, 48): pixel p of every image
    labels = (pixel.gather(1, rows) > 0).long()
    return Problems(images, rows[:, :40], labels[:, :40], rows[:, 40:], labels[:, 40:])


def one_by_one(seed: int, p: Problems, cfg: TrainConfig, generator: torch.Generator):
    """The plain PyTorch loop that train_population must match for one model."""
    net = seeded(make_net, seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    train_losses, val_losses = [], []
    for _ in range(cfg.epochs):
        order = torch.randperm(p.train.shape[1], generator=generator)
        total = 0.0
        for start in range(0, len(order), cfg.batch_size):
            batch = order[start : start + cfg.batch_size]
            images, labels = p.images[p.train[0, batch]], p.train_labels[0, batch]
            loss = F.cross_entropy(net(images), labels)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.max_grad_norm)
            optimizer.step()
            total += loss.item() * len(batch)
        train_losses.append(total / p.train.shape[1])
        with torch.no_grad():
            logits = net(p.images[p.val[0]])
        val_losses.append(F.cross_entropy(logits, p.val_labels[0]).item())
    return torch.tensor(train_losses), torch.tensor(val_losses), logits.argmax(-1)


def row(p: Problems, i: int) -> Problems:
    rows = (p.train, p.train_labels, p.val, p.val_labels)
    return Problems(p.images, *(t[i : i + 1] for t in rows))


def same_images(p: Problems) -> Problems:
    """Every problem on problem 0's images (a search's case), each with its own labels."""
    rows = (p.train[:1].expand_as(p.train), p.val[:1].expand_as(p.val))
    return Problems(p.images, rows[0], p.train_labels, rows[1], p.val_labels)


@pytest.mark.parametrize("images", ["each its own", "the same"])
def test_population_trains_each_model_as_a_plain_loop_would(images):
    """Also when all models see the same images, sent once (one dense first layer)."""
    cfg = TrainConfig(epochs=3, batch_size=16, lr=3e-3, max_grad_norm=0.5)
    p, seeds = problems(3), [5, 6, 7]
    p = same_images(p) if images == "the same" else p
    trained = train_population(
        make_net, seeds, p, cfg, torch.Generator().manual_seed(1), probe=p.val[0]
    )
    assert trained.train_loss.shape == trained.val_loss.shape == (3, 3)
    assert trained.val_predictions.shape == (3, 8)
    assert torch.equal(trained.probe_predictions[0], trained.val_predictions[0])
    for i, seed in enumerate(seeds):
        train, val, predictions = one_by_one(seed, row(p, i), cfg, torch.Generator().manual_seed(1))
        torch.testing.assert_close(trained.train_loss[i], train, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(trained.val_loss[i], val, rtol=1e-4, atol=1e-5)
        assert torch.equal(trained.val_predictions[i], predictions)


def test_models_do_not_see_each_others_labels():
    cfg = TrainConfig(epochs=2, batch_size=16)
    p = problems(2)
    zeroed = p.train_labels * torch.tensor([[1], [0]])  # problem 1 loses its labels
    flipped = Problems(p.images, p.train, zeroed, p.val, p.val_labels)
    a, b = (
        train_population(make_net, [0, 1], q, cfg, torch.Generator().manual_seed(0))
        for q in (p, flipped)
    )
    assert torch.equal(a.train_loss[0], b.train_loss[0])
    assert not torch.equal(a.train_loss[1], b.train_loss[1])


def test_a_population_overfits_its_training_images():
    cfg = TrainConfig(epochs=200, batch_size=40, lr=1e-2, max_grad_norm=None)
    trained = train_population(make_net, [0, 1, 2, 3], problems(4), cfg, torch.Generator())
    assert (trained.train_loss[:, -1] < 0.05).all(), trained.train_loss[:, -1]
    assert (trained.train_loss[:, -1] < trained.train_loss[:, 0] / 10).all()


def test_repeat_gives_each_problem_several_rows():
    p = problems(2).repeat(3)
    assert len(p) == 6 and torch.equal(p.train_labels[3], p.train_labels[5])
    assert torch.equal(p.train[0], p.train[2]) and not torch.equal(p.train[2], p.train[3])
