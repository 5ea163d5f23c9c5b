"""Every registered space keeps the contract: each form it declares maps to the declared form,
gradients reach the input and every parameter, it emits only aux losses it declares, and its
per-task parameters stay untouched while their task is not stepped. A space that decodes also
maps embedded targets to one state per target position, and gradients reach the targets."""

import pytest
import torch
import torch.nn.functional as F

from sharedspace.config import Component
from sharedspace.parts import collect
from sharedspace.representation import FORMS, PaddedSequence, form_of, pooled, width_of
from sharedspace.resolve import resolve_component
from sharedspace.spaces import SPACES, build_space


def build(name: str, in_dim: int = 64, num_tasks: int = 3, **params):
    """Space ``name`` with its ``toy`` settings (if it has any) under ``params``."""
    section = Component(name, {**getattr(SPACES.get(name), "toy", {}), **params})
    resolve_component(SPACES, section, "model.space")
    return build_space(section, in_dim, num_tasks)


def representation(form: str) -> tuple[torch.Tensor, object]:
    values = torch.randn(6, 64, requires_grad=True) if form == "vector" else None
    if form == "map":
        values = torch.randn(6, 64, 3, 2, requires_grad=True)
    if form == "sequence":
        values = torch.randn(6, 4, 64, requires_grad=True)
        return values, PaddedSequence(
            values, torch.arange(4) < torch.tensor([4, 3, 2, 1, 4, 2])[:, None]
        )
    return values, values


def embedded_targets(dim: int) -> PaddedSequence:
    """What an output net gives a decoding space: embedded, shifted targets (6, 5, dim) of real
    lengths 5, 1, 3, 5, 2, 4 (target padding after EOS)."""
    values = torch.randn(6, 5, dim, requires_grad=True)
    return PaddedSequence(values, torch.arange(5) < torch.tensor([5, 1, 3, 5, 2, 4])[:, None])


def decoded_loss(space, h, targets: PaddedSequence) -> torch.Tensor:
    """A decoding space called with targets, as seq2seq tasks call it: one state per target
    position, (6, 5, out_dim), with the targets' mask. Returns a random projection of the states
    (a plain sum after a final LayerNorm would have no gradient) plus its aux losses."""
    states = space(h, 0, targets)
    aux = collect(space.modules())
    assert form_of(states) == "sequence" and states.mask is targets.mask
    assert states.values.shape == (6, 5, space.out_dim) and set(aux) <= set(space.aux_losses)
    projected = (states.values * torch.randn(states.values.shape)).sum()
    return projected + sum(aux.values(), torch.zeros(()))


@pytest.mark.parametrize("name", list(SPACES))
@pytest.mark.parametrize("form", FORMS)
def test_space_contract(name, form):
    space = build(name)
    assert set(space.forms) <= set(FORMS) and set(space.forms.values()) <= set(FORMS)
    if form not in space.forms:
        pytest.skip(f"{name} does not take {form}s")
    leaf, h = representation(form)
    total = torch.zeros(())
    for task in range(3):
        z = space(h, task)
        aux = collect(space.modules())
        assert form_of(z) == space.forms[form] and set(aux) <= set(space.aux_losses)
        values = z.values if isinstance(z, PaddedSequence) else z
        assert values.shape[0] == 6 and width_of(z) == space.out_dim
        total = total + values.sum() + sum(aux.values(), torch.zeros(()))
    if getattr(space, "decodes", False):
        targets = embedded_targets(space.out_dim)
        decoded = decoded_loss(space, h, targets)
        reached = torch.autograd.grad(decoded, [leaf, targets.values], retain_graph=True)
        assert all(g.abs().sum() > 0 for g in reached), f"{name}: decoding is cut off"
        total = total + decoded
    total.backward()
    assert leaf.grad is not None and leaf.grad.abs().sum() > 0
    # a sparse space computes only the experts its rows chose: the others get no gradient
    unused = [n for n, p in space.named_parameters() if p.grad is None]
    assert not unused or getattr(space, "sparse", False), f"{name}: no gradient reaches {unused}"
    assert any(p.grad is not None for p in space.parameters()) or not list(space.parameters())


@pytest.mark.parametrize("name", [n for n in SPACES if getattr(SPACES.get(n), "decodes", False)])
def test_a_decoding_space_decodes_its_encoding_as_its_call_does(name):
    """``space(h, task, targets)`` is ``decode(encode(h, task), targets)``, and the decoder
    started on that encoding gives teacher forcing's first state: validation encodes once."""
    space = build(name).eval()
    _, h = representation("sequence")
    targets = embedded_targets(space.out_dim)
    with torch.no_grad():
        forced = space(h, 1, targets).values
        memory = space.encode(h, 1)
        torch.testing.assert_close(space.decode(memory, targets).values, forced)
        steps, state = space.decoder(memory)
        first, _ = steps.step(targets.values[:, 0], state)
    torch.testing.assert_close(first, forced[:, 0], atol=1e-5, rtol=1e-4)


def test_sus_is_three_dense_layers_2048_to_512_by_default():
    space = build("sus", in_dim=2048, num_tasks=1)
    linears = [m for m in space.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (2048, 1024),
        (1024, 1024),
        (1024, 512),
    ]
    assert sum(isinstance(m, torch.nn.LeakyReLU) for m in space.modules()) == 3


def test_sus_maps_a_sequence_position_by_position():
    space = build("sus", hidden=[16], out_dim=8)
    _, seq = representation("sequence")
    z = space(seq, 0)
    torch.testing.assert_close(z.values[2, 1], space.layers(seq.values[2, 1]))  # float32 rtol
    assert z.mask is seq.mask


def test_none_space_is_the_identity():
    space = build("none", in_dim=10, num_tasks=2)
    h = torch.randn(3, 10)
    assert space(h, 0) is h and space.out_dim == 10


def inputs(space, tasks: int, n: int, dim: int) -> torch.Tensor:
    """(tasks, n, dim) random vectors, or (tasks, n, dim, 2, 2) maps for a space of maps only."""
    shape = (tasks, n, dim) if "vector" in space.forms else (tasks, n, dim, 2, 2)
    return torch.randn(shape)


def train_step(space, heads, optimizer, x, y, tasks: list[int]) -> None:
    """One step on ``tasks`` as the trainer takes it: forward, per-example losses, the
    loss-feedback hook and the aux losses, one backward, one optimizer step."""
    total = torch.zeros(())
    for t in tasks:
        z = space(x[t], t)
        aux = collect(space.modules())
        losses = F.cross_entropy(heads[t](pooled(z)), y[t], reduction="none")
        feedback = getattr(space, "loss_feedback", lambda *_: {})(t, losses.detach())
        total = total + losses.mean() + sum({**aux, **feedback}.values(), torch.zeros(()))
    optimizer.zero_grad()
    total.backward()
    optimizer.step()


@pytest.mark.parametrize("name", list(SPACES))
def test_space_overfits_a_tiny_batch(name):
    """Two tasks on 32 random vectors (or maps) with random labels, a linear head each, trained as
    the trainer does (forward, per-example losses, the loss-feedback hook, aux losses)."""
    torch.manual_seed(0)
    space = build(name, in_dim=16, num_tasks=2)
    heads = torch.nn.ModuleList(torch.nn.Linear(space.out_dim, 4) for _ in range(2))
    x, y = inputs(space, 2, 32, 16), torch.randint(0, 4, (2, 32))
    optimizer = torch.optim.Adam([*space.parameters(), *heads.parameters()], lr=1e-2)

    def evaluation_loss() -> torch.Tensor:
        space.eval()
        z = [space(x[t], t) for t in range(2)]
        return sum(F.cross_entropy(heads[t](pooled(z[t])), y[t]) for t in range(2)) / 2

    with torch.no_grad():
        before = evaluation_loss()
    space.train()
    for _ in range(300):
        train_step(space, heads, optimizer, x, y, [0, 1])
    with torch.no_grad():
        after = evaluation_loss()
    assert after < 0.2 * before, f"{name}: loss {before:.3f} → {after:.3f}"


@pytest.mark.parametrize("name", list(SPACES))
def test_a_task_not_stepped_leaves_its_own_parameters_bit_unchanged(name):
    """Per-task gates are their task's own parameters: once both tasks have stepped (so Adam has
    momentum for both), steps of task 0 alone leave task 1's parameters exactly as they were —
    as one (T, …) tensor, its zero-gradient row would keep moving with the momentum."""
    torch.manual_seed(0)
    space = build(name, in_dim=8, num_tasks=2).train()
    own = getattr(space, "task_parameters", dict)()
    if not own:
        pytest.skip(f"{name} has no task-specific parameters")
    assert sorted(own) == [0, 1] and all(own.values())
    heads = torch.nn.ModuleList(torch.nn.Linear(space.out_dim, 3) for _ in range(2))
    x, y = inputs(space, 2, 16, 8), torch.randint(0, 3, (2, 16))
    optimizer = torch.optim.Adam([*space.parameters(), *heads.parameters()], lr=0.1, fused=True)
    train_step(space, heads, optimizer, x, y, [0, 1])
    before = [[p.detach().clone() for p in own[t]] for t in (0, 1)]
    for _ in range(3):
        train_step(space, heads, optimizer, x, y, [0])
    assert all(p.grad is None for p in own[1])
    assert all(torch.equal(p, b) for p, b in zip(own[1], before[1], strict=True))
    assert any(not torch.equal(p, b) for p, b in zip(own[0], before[0], strict=True))
