"""Which tasks each step trains, and which of their examples.

A sampler returns the tasks of a step (sorted task indices): one task (the SUS protocol, and the
default), every task (``all``, the protocol of the multi-task literature), or k of them. Sampler
and batch streams are seeded generators whose state goes into the checkpoint, and both are the
same on every rank: under DDP every process steps the same tasks, each on its own slice of every
global batch, so a run's schedule does not depend on the number of processes.
"""

import math
from dataclasses import dataclass

import torch

from sharedspace.errors import ConfigError, short
from sharedspace.registry import Registry

SAMPLERS: Registry[type["TaskSampler"]] = Registry("task sampler")


class TaskSampler:
    """Draws ``k`` distinct tasks per step with probabilities ``weights(sizes)``.

    Built as ``cls(cfg, sizes, seed)``; ``k`` (tasks per step) comes from the config.
    """

    @dataclass
    class Config:
        pass

    def __init__(self, cfg: Config, sizes: list[int], seed: int) -> None:
        self.cfg = cfg
        self.k = self.tasks_per_step(cfg, len(sizes))
        if not 1 <= self.k <= len(sizes):
            raise ConfigError(
                f"train.sampler.k: {self.k} tasks per step, but the run has {len(sizes)} tasks"
            )
        self.probs = self.weights(torch.tensor(sizes, dtype=torch.float64))
        self.generator = torch.Generator().manual_seed(seed)
        self.draws = 0

    @classmethod
    def tasks_per_step(cls, cfg: Config, num_tasks: int) -> int:
        return 1

    def weights(self, sizes: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(sizes) / len(sizes)

    def __call__(self) -> list[int]:
        self.draws += 1
        drawn = torch.multinomial(self.probs, self.k, generator=self.generator)
        return sorted(drawn.tolist())

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "draws": self.draws}

    def load_state_dict(self, state: dict) -> None:
        if not _count(state["draws"], 2**63 - 1):
            raise ValueError(f"sampler state: draws {short(state['draws'])} is not a count")
        self.generator.set_state(state["generator"])
        self.draws = state["draws"]


@SAMPLERS.register("uniform")
class UniformSampler(TaskSampler):
    """One task per step, every task equally often whatever its size (the SUS report's scheme)."""


@SAMPLERS.register("proportional")
class ProportionalSampler(TaskSampler):
    """One task per step in proportion to training-set size: each example is seen equally often."""

    def weights(self, sizes):
        return sizes / sizes.sum()


@SAMPLERS.register("temperature")
class TemperatureSampler(TaskSampler):
    """One task per step with p ∝ n^(1/T): T = 1 is proportional, T → ∞ uniform (as in
    multilingual NMT, Arivazhagan et al. 2019)."""

    @dataclass
    class Config:
        temperature: float = 2.0

    def __init__(self, cfg: Config, sizes: list[int], seed: int) -> None:
        if cfg.temperature <= 0:
            raise ConfigError(f"train.sampler.temperature: must be > 0, got {cfg.temperature}")
        super().__init__(cfg, sizes, seed)

    def weights(self, sizes):
        scaled = sizes ** (1 / self.cfg.temperature)
        return scaled / scaled.sum()


@SAMPLERS.register("round_robin")
class RoundRobinSampler(TaskSampler):
    """One task per step, in turn: 0, 1, …, n-1, 0, … — no randomness."""

    def __call__(self) -> list[int]:
        self.draws += 1
        return [(self.draws - 1) % len(self.probs)]


@SAMPLERS.register("k_of_n")
class KOfNSampler(TaskSampler):
    """``k`` distinct tasks per step, drawn uniformly."""

    @dataclass
    class Config:
        k: int = 2

    @classmethod
    def tasks_per_step(cls, cfg, num_tasks):
        return cfg.k


@SAMPLERS.register("all")
class AllSampler(TaskSampler):
    """Every task at every step, each with its own batch — no randomness."""

    @classmethod
    def tasks_per_step(cls, cfg, num_tasks):
        return num_tasks

    def __call__(self) -> list[int]:
        self.draws += 1
        return list(range(len(self.probs)))


class BatchStream:
    """Indices of one task's training batches: a fresh seeded permutation per pass.

    The permutation of pass ``epoch`` is a pure function of (seed, epoch), so the state is two
    integers. The last incomplete batch of a pass is dropped, so every batch has the same size and
    splits evenly across ranks.
    """

    def __init__(self, size: int, batch_size: int, seed: int, rank: int = 0, world: int = 1):
        self.size, self.batch_size, self.seed = size, min(batch_size, size), seed
        if self.batch_size % world:  # a split smaller than the batch is the batch
            raise ConfigError(
                f"train.batch_size: a global batch of {self.batch_size} (a task's "
                f"{size} training examples, when fewer than {batch_size}) does not split "
                f"across {world} processes; use a batch, or the task's data.train_size, that "
                f"{world} divides"
            )
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
        """A checkpoint's state, checked (it may be planted): a ValueError if it is not one a
        stream over ``size`` examples writes."""
        epoch, position = state["epoch"], state["position"]
        if not (_count(epoch, 2**32) and _count(position, self.size)):
            raise ValueError(
                f"batch stream state (epoch {short(epoch)}, position {short(position)}) is not "
                f"one a stream of {self.size} examples writes"
            )
        self.epoch, self.position = epoch, position
        self._order = self._permutation()


def _count(value: object, most: int) -> bool:
    return type(value) is int and 0 <= value <= most


def steps_per_epoch(sizes: list[int], batch_size: int, tasks_per_step: int = 1) -> int:
    """One epoch = as many steps as one pass over every task's training data would take."""
    return math.ceil(sum(sizes) / (batch_size * tasks_per_step))
