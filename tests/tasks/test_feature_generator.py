"""TFG's generator variants: each conditioning path, and how they relate by construction."""

import pytest
import torch

from sharedspace.tasks.feature_generator import CONDITIONINGS, Generator

TASK, NOISE, HIDDEN, OUT = 6, 5, 16, 8


def generator(name: str, seed: int = 0, nonnegative: bool = False) -> Generator:
    torch.manual_seed(seed)
    return Generator(name, TASK, NOISE, HIDDEN, 3, OUT, nonnegative)


def outputs(g: Generator, t: torch.Tensor, draws: int = 0) -> torch.Tensor:
    """G(t) with the noise stream at ``draws``: the same noise for the same position."""
    g.draws.count.fill_(draws)
    return g(t)


@pytest.mark.parametrize("name", list(CONDITIONINGS))
def test_every_variant_generates_features_and_learns_from_them(name):
    g = generator(name, nonnegative=True)
    t = torch.randn(4, TASK)
    out = outputs(g, t)
    assert out.shape == (4, OUT) and (out >= 0).all()  # a ReLU for non-negative features
    assert not torch.equal(out, outputs(g, t, draws=5))  # noise enters, wherever it does
    out.square().sum().backward()
    silent = [n for n, p in g.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not silent, f"no gradient reaches {silent}"


def test_tds_with_its_task_gates_at_one_is_uds():
    uds, tds = generator("uds"), generator("tds", seed=1)
    tds.load_state_dict(uds.state_dict(), strict=False)  # all but the task gates E_t^i
    for net in tds.conditioning.task_nets:
        net.forward = lambda t, width=net.out_features: torch.ones(len(t), width)
    t = torch.randn(4, TASK)
    assert torch.equal(outputs(tds, t), outputs(uds, t))


def test_tds_with_the_task_zeroed_in_its_gates_draws_no_noise():
    """E_t^i(t) ⊙ E_n^i(n): no task direction, no noise — the task decides where noise goes."""
    tds = generator("tds")
    for net in tds.conditioning.task_nets:
        torch.nn.init.zeros_(net.weight)
    t = torch.randn(4, TASK)
    assert torch.equal(outputs(tds, t), outputs(tds, t, draws=7))
    uds = generator("uds")
    assert not torch.equal(outputs(uds, t), outputs(uds, t, draws=7))


@pytest.mark.parametrize("name", ["ss_mtc_add", "ss_mtc_film"])
def test_multi_layer_task_conditioning_zeroed_is_single_sampling(name):
    ss, conditioned = generator("ss"), generator(name, seed=1)
    conditioned.load_state_dict(ss.state_dict(), strict=False)
    for p in conditioned.conditioning.parameters():
        torch.nn.init.zeros_(p)
    t = torch.randn(4, TASK)
    assert torch.equal(outputs(conditioned, t), outputs(ss, t))
    # and with its task nets at work the task reaches every layer, not the input alone
    torch.nn.init.normal_(next(conditioned.conditioning.parameters()))
    assert not torch.equal(outputs(conditioned, t), outputs(ss, t))


def test_task_enters_once_or_at_every_layer_as_each_variant_says():
    """The input layer's width: [t; n] for ss and the ss-mtc pair, t alone for uds and tds."""
    widths = {name: generator(name).layers[0].in_features for name in CONDITIONINGS}
    assert widths == {
        "ss": TASK + NOISE, "ss_mtc_add": TASK + NOISE, "ss_mtc_film": TASK + NOISE,
        "uds": TASK, "tds": TASK,
    }  # fmt: skip
