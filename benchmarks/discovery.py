"""Labellings scored per second: one population call for a batch of labellings against scoring them
one by one with a plain PyTorch loop per network, measured side by side in one run.

    python benchmarks/discovery.py [--labellings 32] [--shape 3 8 8] [--epochs 20] [--threads 2]

Each labelling labels 50 images (40 train, 10 validation, the seed's setting) and is scored by
training 2 of the seed's small networks (20 epochs, batch 32) and measuring taskness (with both
baselines) and the agreement on 500 probe images. "batched" is ``score_labellings`` on all the
labellings at once (2 × L networks in one vmap-ed population); "one by one" trains every network
alone in the plain loop anyone would write (same data, batches, optimizer and clipping) and
computes the same scores. The labellings are the search's: the top fifth of a random vector over
the same 50 images (so every network sees the same batches, and the population sends each batch
once). The images are random: their content does not change the arithmetic. Both run once on 2
labellings first (imports, allocator), then once timed.
"""

import argparse
import time

import torch
import torch.nn.functional as F

from sharedspace.discovery.labellings import top_k_labelling
from sharedspace.discovery.networks import NetConfig, SmallConvNet
from sharedspace.discovery.population import TrainConfig, seeded
from sharedspace.discovery.scores import (
    agreement,
    blind_loss,
    image_statistics,
    informed_loss,
    taskness,
)
from sharedspace.discovery.scoring import ScoreConfig, score_labellings

IMAGES, PROBE = 50, 500


def plain_network(pool, train, train_labels, val, val_labels, probe, cfg, seed):
    """One network trained alone: its validation curve (E,) and its probe predictions (Q,)."""
    net = seeded(lambda: SmallConvNet(cfg.net, tuple(pool.shape[1:])), seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.train.lr)
    generator = torch.Generator().manual_seed(0)
    curve = []
    for _ in range(cfg.train.epochs):
        order = torch.randperm(len(train), generator=generator)
        for start in range(0, len(order), cfg.train.batch_size):
            at = order[start : start + cfg.train.batch_size]
            loss = F.cross_entropy(net(pool[train[at]]), train_labels[at])
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.train.max_grad_norm)
            optimizer.step()
        with torch.no_grad():
            curve.append(F.cross_entropy(net(pool[val]), val_labels))
    with torch.no_grad():
        return torch.stack(curve), net(pool[probe]).argmax(1)


def one_by_one(pool, labellings, probe, cfg, statistics) -> None:
    for lab in labellings:
        tr, va = lab.split(cfg.train_fraction)
        rows = (lab.images[tr], lab.labels[tr], lab.images[va], lab.labels[va])
        nets = [plain_network(pool, *rows, probe, cfg, seed) for seed in range(cfg.networks)]
        b = (
            blind_loss(rows[1][None], rows[3][None])
            + informed_loss(statistics, *(r[None] for r in rows))
        ) / 2
        taskness(torch.stack([c for c, _ in nets]), b.expand(cfg.networks))
        agreement(nets[0][1][None], nets[1][1][None])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labellings", type=int, default=32)
    parser.add_argument("--shape", type=int, nargs=3, default=[3, 8, 8])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    pool = torch.randn(IMAGES + PROBE, *args.shape, generator=g)
    statistics = image_statistics(pool)
    searched, probe = torch.arange(IMAGES), torch.arange(IMAGES, IMAGES + PROBE)
    labellings = [
        top_k_labelling(searched, torch.rand(IMAGES, generator=g), 4)
        for _ in range(args.labellings)
    ]
    cfg = ScoreConfig(net=NetConfig(), train=TrainConfig(epochs=args.epochs))
    seconds = {}
    for name, score in (
        ("batched", lambda labs: score_labellings(pool, labs, probe, cfg, statistics)),
        ("one by one", lambda labs: one_by_one(pool, labs, probe, cfg, statistics)),
    ):
        score(labellings[:2])
        started = time.perf_counter()
        score(labellings)
        seconds[name] = time.perf_counter() - started
    print(
        f"threads: {args.threads}; {args.labellings} labellings of {IMAGES} images "
        f"{'×'.join(map(str, args.shape))}, {cfg.networks} networks each, {args.epochs} epochs"
    )
    for name, s in seconds.items():
        print(f"{name:<12}{args.labellings / s:>8.2f} labellings/s")
    print(f"batched / one by one: {seconds['one by one'] / seconds['batched']:.1f}×")


if __name__ == "__main__":
    main()
