"""The SUS model and its training loop written by hand in plain PyTorch: the twin each row of
``train_throughput.py`` is compared with.

The same layers as ``configs/sus`` build (image cap, text cap, shared MLP, the three heads; only
the parts the chosen tasks use), the same batches (indexed from the trainer's own in-memory
splits), the same losses and ``torch.optim.Adam``, under ``torch.autocast`` when a precision
other than float32 is asked for: what a researcher would write in an afternoon, with none of the
trainer's tricks (fused Adam, pooling before ReLU, channels-last).
"""

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

IMAGE_TASKS = ("classification", "reconstruction")
MEAN, STD = 0.286, 0.353  # Fashion-MNIST's pixel statistics on the 0–1 scale (the image cap's)
EMBED = 24  # the text cap's token width


class PlainSUS(nn.Module):
    """Image cap (B, 1, 28, 28) uint8 and/or text cap (B, T) ids → 2048 → shared MLP → 512 →
    one head per task; ``loss(task, batch)`` is that task's mean loss on its batch."""

    def __init__(self, tasks: tuple[str, ...], vocab_size: int, seq_len: int) -> None:
        super().__init__()
        leaky = nn.LeakyReLU
        if set(tasks) & set(IMAGE_TASKS):
            self.image = nn.Sequential(
                nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(), nn.Linear(64 * 7 * 7, 2048), leaky(),
            )  # fmt: skip
        if "next_word" in tasks:
            self.tokens = nn.Embedding(vocab_size, EMBED)
            self.positions = nn.Parameter(0.02 * torch.randn(seq_len, EMBED))
            self.block = nn.TransformerEncoderLayer(
                EMBED, 4, 96, 0.0, batch_first=True, norm_first=True
            )
            self.text = nn.Sequential(nn.Flatten(), nn.Linear(seq_len * EMBED, 2048), leaky())
        self.body = nn.Sequential(
            nn.Linear(2048, 1024), leaky(), nn.Linear(1024, 1024), leaky(),
            nn.Linear(1024, 512), leaky(),
        )  # fmt: skip
        heads = {
            "classification": lambda: nn.Linear(512, 10),
            "reconstruction": lambda: nn.Sequential(
                nn.Linear(512, 1024), leaky(), nn.Linear(1024, 784), nn.Sigmoid()
            ),
            "next_word": lambda: nn.Linear(512, vocab_size),
        }
        self.heads = nn.ModuleDict({task: heads[task]() for task in tasks})

    def loss(self, task: str, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        x, y = batch["x"], batch["y"]
        if task == "next_word":
            h = self.text(self.block(self.tokens(x) + self.positions))
        else:
            h = self.image((x.float() / 255 - MEAN) / STD)
        out = self.heads[task](self.body(h))
        if task == "reconstruction":
            return F.mse_loss(out.float(), x.flatten(1).float() / 255)
        return F.cross_entropy(out.float(), y)


def train_seconds(
    model: PlainSUS,
    draw: Callable[[], list[tuple[str, dict[str, torch.Tensor]]]],
    steps: int,
    window: int,
    dtype: torch.dtype | None,
) -> float:
    """Seconds per step of the fastest ``window`` consecutive steps among ``steps`` Adam steps
    (after 3 warm-up steps); each step sums the losses of the (task, batch) pairs ``draw``
    returns and takes one backward."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    device = next(model.parameters()).device
    cast = torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)

    def step() -> None:
        with cast:
            loss = sum(model.loss(task, batch) for task, batch in draw())
        opt.zero_grad()
        loss.backward()
        opt.step()

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(3):
        step()
    best = float("inf")
    for _ in range(steps // window):
        synchronize()
        start = time.perf_counter()
        for _ in range(window):
            step()
        synchronize()
        best = min(best, (time.perf_counter() - start) / window)
    return best
