import pytest
import torch

from sharedspace.config import from_dict
from sharedspace.errors import ConfigError
from sharedspace.train.sampling import SAMPLERS, BatchStream, steps_per_epoch


def sampler(name, sizes, seed=0, **params):
    cls = SAMPLERS.get(name)
    return cls(from_dict(cls.Config, params), sizes, seed)


def draws(s, n):
    return [s() for _ in range(n)]


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_every_sampler_returns_sorted_distinct_tasks_and_resumes(name):
    a = sampler(name, [10, 20, 30, 40], seed=3)
    steps = draws(a, 12)
    for tasks in steps:
        assert tasks == sorted(set(tasks)) and all(0 <= i < 4 for i in tasks)
        assert len(tasks) == a.k
    b = sampler(name, [10, 20, 30, 40], seed=99)
    b.load_state_dict(a.state_dict())
    assert draws(a, 20) == draws(b, 20)


def test_round_robin_takes_turns():
    assert draws(sampler("round_robin", [5, 7, 9]), 7) == [[0], [1], [2], [0], [1], [2], [0]]


def test_all_steps_every_task_every_time():
    assert draws(sampler("all", [5, 7, 9]), 3) == [[0, 1, 2]] * 3


def test_k_of_n_draws_k_distinct_tasks_uniformly():
    counts = torch.zeros(4)
    for tasks in draws(sampler("k_of_n", [1, 1, 1, 1000], k=2), 4000):
        counts[tasks] += 1
    assert torch.allclose(counts / 4000, torch.full((4,), 0.5), atol=0.03)


def frequencies(s, n=6000):
    return torch.bincount(torch.tensor([t for (t,) in draws(s, n)]), minlength=2) / n


def test_proportional_follows_sizes_and_uniform_ignores_them():
    assert abs(frequencies(sampler("proportional", [100, 300]))[1] - 0.75) < 0.03
    assert abs(frequencies(sampler("uniform", [100, 300]))[1] - 0.5) < 0.03


def test_temperature_sampling_is_proportional_to_n_to_the_one_over_t():
    # p ∝ n^(1/T): sizes 100 and 900 at T = 2 → 10 : 30
    assert abs(frequencies(sampler("temperature", [100, 900], temperature=2.0))[1] - 0.75) < 0.03


def test_bad_sampler_settings_are_config_errors():
    with pytest.raises(
        ConfigError, match=r"train\.sampler\.k: 3 tasks per step, but the run has 2"
    ):
        sampler("k_of_n", [1, 1], k=3)
    with pytest.raises(ConfigError, match="temperature: must be > 0"):
        sampler("temperature", [1, 1], temperature=0.0)


def test_batch_stream_covers_each_pass_once_and_drops_the_remainder():
    stream = BatchStream(10, 3, seed=0)
    first_pass = torch.cat([next(stream) for _ in range(3)])
    assert len(set(first_pass.tolist())) == 9
    assert stream.epoch == 0
    next(stream)
    assert stream.epoch == 1


def test_ranks_split_the_global_batch_of_a_single_process():
    single = BatchStream(50, 8, seed=1)
    ranks = [BatchStream(50, 8, seed=1, rank=r, world=2) for r in range(2)]
    for _ in range(12):
        assert torch.equal(next(single), torch.cat([next(s) for s in ranks]))


def test_batch_stream_state_restores_the_same_future():
    a = BatchStream(20, 6, seed=2)
    for _ in range(5):
        next(a)
    b = BatchStream(20, 6, seed=2)
    b.load_state_dict(a.state_dict())
    for _ in range(7):
        assert torch.equal(next(a), next(b))


def test_steps_per_epoch():
    assert steps_per_epoch([100, 28], 32) == 4
    assert steps_per_epoch([100, 28], 32, tasks_per_step=2) == 2  # every task steps each time


def test_a_batch_the_processes_cannot_share_is_a_config_error():
    """A split smaller than the batch is the batch: 9 examples do not split across 2 processes
    (this was a ValueError, reported as a bug of ours, in every worker)."""
    with pytest.raises(ConfigError, match=r"train.batch_size: a global batch of 9 .* 2 processes"):
        BatchStream(9, 16, seed=0, rank=0, world=2)
    assert len(next(BatchStream(10, 16, seed=0, rank=1, world=2))) == 5
