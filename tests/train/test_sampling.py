import torch

from sharedspace.train.sampling import SAMPLERS, BatchStream, steps_per_epoch


def draws(sampler, n):
    return [sampler() for _ in range(n)]


def test_round_robin_takes_turns():
    assert draws(SAMPLERS.get("round_robin")([5, 7, 9], seed=0), 7) == [0, 1, 2, 0, 1, 2, 0]


def test_proportional_follows_sizes_and_uniform_ignores_them():
    sizes = [100, 300]
    prop = torch.bincount(torch.tensor(draws(SAMPLERS.get("proportional")(sizes, 0), 4000)))
    assert abs(prop[1] / 4000 - 0.75) < 0.03
    uni = torch.bincount(torch.tensor(draws(SAMPLERS.get("uniform")(sizes, 0), 4000)))
    assert abs(uni[1] / 4000 - 0.5) < 0.03


def test_sampler_state_restores_the_same_future():
    a = SAMPLERS.get("uniform")([1, 1, 1], seed=3)
    draws(a, 10)
    b = SAMPLERS.get("uniform")([1, 1, 1], seed=99)
    b.load_state_dict(a.state_dict())
    assert draws(a, 20) == draws(b, 20)


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
