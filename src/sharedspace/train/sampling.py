"""Which task each step trains, and which of its examples.

Both are driven by seeded generators whose state goes into the checkpoint, and both are the same
on every rank: under DDP every process steps the same task at the same step, each on its own
slice of the global batch, so a run's schedule does not depend on the number of processes.
"""

import math

import torch

from sharedspace.registry import Registry

SAMPLERS: Registry[type["TaskSampler"]] = Registry("task sampler")


class TaskSampler:
    """Draws a task index per step with probabilities ``weights(sizes)``."""

    def __init__(self, sizes: list[int], seed: int) -> None:
        self.probs = self.weights(torch.tensor(sizes, dtype=torch.float64))
        self.generator = torch.Generator().manual_seed(seed)
        self.draws = 0

    @staticmethod
    def weights(sizes: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self) -> int:
        self.draws += 1
        return int(torch.multinomial(self.probs, 1, generator=self.generator))

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "draws": self.draws}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.draws = state["draws"]


@SAMPLERS.register("uniform")
class UniformSampler(TaskSampler):
    """Every task equally often, whatever its size (the SUS report's scheme)."""

    @staticmethod
    def weights(sizes):
        return torch.ones_like(sizes) / len(sizes)


@SAMPLERS.register("proportional")
class ProportionalSampler(TaskSampler):
    """Tasks in proportion to their training-set sizes: each example is seen equally often."""

    @staticmethod
    def weights(sizes):
        return sizes / sizes.sum()


@SAMPLERS.register("round_robin")
class RoundRobinSampler(TaskSampler):
    """Tasks in turn, 0, 1, …, n-1, 0, … — no randomness."""

    @staticmethod
    def weights(sizes):
        return torch.ones_like(sizes) / len(sizes)

    def __call__(self) -> int:
        self.draws += 1
        return (self.draws - 1) % len(self.probs)


class BatchStream:
    """Indices of one task's training batches: a fresh seeded permutation per pass.

    The permutation of pass ``epoch`` is a pure function of (seed, epoch), so the state is two
    integers. The last incomplete batch of a pass is dropped, so every batch has the same size and
    splits evenly across ranks.
    """

    def __init__(self, size: int, batch_size: int, seed: int, rank: int = 0, world: int = 1):
        if batch_size % world:
            raise ValueError(f"global batch {batch_size} does not split across {world} processes")
        self.size, self.batch_size, self.seed = size, min(batch_size, size), seed
        self.local = self.batch_size // world
        self.rank = rank
        self.epoch, self.position = 0, 0
        self._order = self._permutation()

    def _permutation(self) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.size, generator=generator)

    def __next__(self) -> torch.Tensor:
        if self.position + self.batch_size > self.size:
            self.epoch, self.position = self.epoch + 1, 0
            self._order = self._permutation()
        start = self.position + self.rank * self.local
        self.position += self.batch_size
        return self._order[start : start + self.local]  # (local batch,)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position = state["epoch"], state["position"]
        self._order = self._permutation()


def steps_per_epoch(sizes: list[int], batch_size: int) -> int:
    """One epoch = as many steps as one pass over every task's training data would take."""
    return math.ceil(sum(sizes) / batch_size)
