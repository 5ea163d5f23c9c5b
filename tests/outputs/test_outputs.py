"""Every registered output net keeps the contract (output shape per target kind, gradients reach z
and every parameter, only declared aux losses, refusal of other target kinds, it overfits a tiny
batch); the language net's tying, teacher forcing, task start tokens and incremental steps; the
task kinds' own heads are these nets with today's parameters."""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sharedspace import decoding
from sharedspace.config import Component
from sharedspace.data.specs import TARGET_KINDS, ClassesTarget, PixelsTarget, TokensTarget
from sharedspace.errors import ConfigError
from sharedspace.outputs import OUTPUTS, Categorical, Pixels, build_output
from sharedspace.parts import ParameterRows, collect
from sharedspace.representation import FORMS, PaddedSequence, masked_mean
from sharedspace.tasks.classification import LinearClassifier
from sharedspace.tasks.reconstruction import PixelDecoder

B, L, D, TASKS = 4, 5, 16, 3
MASK = torch.arange(L) < torch.tensor([5, 3, 1, 4])[:, None]  # (B, L): padded rows


def build(
    name: str, target, in_dim: int = D, tokens: tuple[str, ...] = ("a", "b", "c"), **params
) -> nn.Module:
    """The net ``name`` for ``len(tokens)`` tasks (TASKS, each with a token of its own)."""
    cls = OUTPUTS.get(name)
    return build_output(Component(name, config=cls.Config(**params)), in_dim, target, tokens, "o")


def z_of(form: str) -> tuple[torch.Tensor, object]:
    """A leaf to check gradients on, and z of ``form`` built from it."""
    if form == "vector":
        leaf = torch.randn(B, D, requires_grad=True)
        return leaf, leaf
    if form == "map":
        leaf = torch.randn(B, D, 3, 2, requires_grad=True)
        return leaf, leaf
    leaf = torch.randn(B, L, D, requires_grad=True)
    return leaf, PaddedSequence(leaf, MASK)


def token_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy per real target token."""
    return F.cross_entropy(logits[MASK], y[MASK])


# What a net called on z of a form gives for each target kind: the forms that kind is read from,
# targets y, the output's shape, and the loss its task kind would take.
KINDS = {
    "classes": (
        ("vector", "sequence", "map"),
        lambda t: torch.randint(0, len(t.classes), (B,)),
        lambda t: (B, len(t.classes)),
        F.cross_entropy,
    ),
    "token": (
        ("vector",),
        lambda t: torch.randint(3, t.vocab_size, (B,)),
        lambda t: (B, t.vocab_size),
        F.cross_entropy,
    ),
    "tokens": (
        ("sequence",),
        lambda t: torch.randint(3, t.vocab_size, (B, L)),
        lambda t: (B, L, t.vocab_size),
        token_loss,
    ),
    "pixels": (
        ("vector",),
        lambda t: torch.rand(B, *t.shape),
        lambda t: (B, *t.shape),
        F.mse_loss,
    ),
    # no shared output net writes boxes: a detection task has its own head (tasks/detection.py)
    "boxes": ((), None, None, None),
    # nor pairs: a zero-shot kind scores every pair with a head of its own (tasks/zero_shot.py,
    # tasks/pair_baselines.py)
    "pairs": ((), None, None, None),
}
CASES = [
    (name, kind, form)
    for name in OUTPUTS
    for kind in OUTPUTS.get(name).target_kinds
    for form in KINDS[kind][0]
    if form in OUTPUTS.get(name).accepts
]


def test_every_target_kind_is_covered_here():
    assert set(KINDS) == set(TARGET_KINDS)


def read_targets(net: nn.Module, z, y: torch.Tensor, task: int):
    """A decoding net's embedded targets reach z, as a decoding space would read them (here
    simply added): teacher-forced inputs for a sequence, the start token for one next token."""
    if not net.decodes:
        return z
    if isinstance(z, PaddedSequence):
        return PaddedSequence(z.values + net.shifted(y, z.mask, task).values, z.mask)
    return z + net.embed(torch.full((len(z),), net.start_id), task)


@pytest.mark.parametrize(("name", "kind", "form"), CASES)
def test_output_net_contract(name, kind, form):
    torch.manual_seed(0)
    cls = OUTPUTS.get(name)
    assert dataclasses.is_dataclass(cls.Config) and isinstance(cls.decodes, bool)
    assert set(cls.accepts) <= set(FORMS) and set(cls.target_kinds) <= set(TARGET_KINDS)
    assert isinstance(cls.aux_losses, tuple)
    target = TARGET_KINDS.get(kind).toy()
    net = build(name, target)
    _, make_y, shape, loss_of = KINDS[kind]
    leaf, z = z_of(form)
    y, task = make_y(target), 1
    out = net(read_targets(net, z, y, task), task)
    assert set(collect(net.modules())) <= set(cls.aux_losses)
    assert tuple(out.shape) == shape(target)
    if kind == "pixels":
        assert out.min() >= 0 and out.max() <= 1
    loss_of(out, y).backward()
    assert leaf.grad is not None and leaf.grad.abs().sum() > 0
    others = {
        id(p) for t, ps in getattr(net, "task_parameters", dict)().items() if t != task for p in ps
    }
    missing = [
        n
        for n, p in net.named_parameters()
        if id(p) not in others and (p.grad is None or not p.grad.abs().sum())
    ]
    assert not missing, f"no gradient reaches {missing}"
    assert all(p.grad is None for p in net.parameters() if id(p) in others)


@pytest.mark.parametrize(("name", "kind", "form"), CASES)
def test_output_net_overfits_a_tiny_batch(name, kind, form):
    torch.manual_seed(0)
    target = TARGET_KINDS.get(kind).toy()
    net = build(name, target)
    _, make_y, _, loss_of = KINDS[kind]
    _, z = z_of(form)
    z = z.map(torch.Tensor.detach) if isinstance(z, PaddedSequence) else z.detach()
    y = make_y(target)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        loss = loss_of(net(read_targets(net, z, y, 0), 0), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("name", list(OUTPUTS))
def test_a_target_kind_the_net_does_not_produce_is_refused(name):
    cls = OUTPUTS.get(name)
    for kind in set(TARGET_KINDS) - set(cls.target_kinds):
        expected = (
            rf"^o\.name: output net '{name}' produces .*, but the tasks using it have {kind} "
        )
        with pytest.raises(ConfigError, match=expected + "targets$"):
            build(name, TARGET_KINDS.get(kind).toy())


def test_tied_language_softmax_is_the_token_embedding():
    torch.manual_seed(0)
    net = build("language", TokensTarget.toy())
    vocab_by_width = [p for p in net.parameters() if p.shape == (50, D)]
    assert net.out is None and vocab_by_width == [net.tokens.weight]  # one tensor, both roles
    h = torch.randn(B, D)
    torch.testing.assert_close(net(h, 0), h @ net.tokens.weight.T)
    with torch.no_grad():
        net.tokens.weight[7] += 1
    torch.testing.assert_close(net(h, 0)[:, 7], h @ net.tokens.weight[7])


def test_untied_language_has_its_own_softmax():
    torch.manual_seed(0)
    net = build("language", TokensTarget.toy(), tied=False)
    assert net.out.weight.shape == net.tokens.weight.shape
    assert net.out.weight.data_ptr() != net.tokens.weight.data_ptr()
    h = torch.randn(B, D)
    before = net(h, 0)
    with torch.no_grad():
        net.tokens.weight.add_(1)
    torch.testing.assert_close(net(h, 0), before)  # the embedding does not reach the softmax
    torch.testing.assert_close(before, h @ net.out.weight.T + net.out.bias)


def test_shifted_puts_the_task_start_first_and_the_targets_one_to_the_right():
    torch.manual_seed(0)
    net = build("language", TokensTarget.toy())
    y = torch.randint(3, 50, (B, L))
    for task in range(TASKS):
        seq = net.shifted(y, MASK, task)
        assert seq.values.shape == (B, L, D) and torch.equal(seq.mask, MASK)
        scale = math.sqrt(D)
        torch.testing.assert_close(seq.values[:, 0], (net.starts[task] * scale).expand(B, D))
        torch.testing.assert_close(seq.values[:, 1:], net.tokens.weight[y[:, :-1]] * scale)
    assert not torch.allclose(
        net.shifted(y, MASK, 0).values[:, 0], net.shifted(y, MASK, 1).values[:, 0]
    )
    assert net.start_id == 50  # one past the vocabulary: no real token has it


def test_start_tokens_are_task_parameters_and_an_absent_task_gets_no_gradient():
    torch.manual_seed(0)
    net = build("language", TokensTarget.toy())
    assert isinstance(net.starts, ParameterRows)
    own = net.task_parameters()
    assert set(own) == set(range(TASKS))
    assert all(len(own[t]) == 1 and own[t][0] is net.starts[t] for t in own)
    y = torch.randint(3, 50, (B, L))
    net(net.shifted(y, MASK, 0), 0).sum().backward()
    assert net.starts[0].grad is not None and net.starts[0].grad.abs().sum() > 0
    assert net.starts[1].grad is None and net.starts[2].grad is None


def test_tasks_of_one_task_token_start_alike_and_share_its_row():
    torch.manual_seed(0)
    net = build("language", TokensTarget.toy(), tokens=("to-de", "to-en", "to-de"))
    assert len(net.starts) == 2 and net.start_row == [0, 1, 0]
    y = torch.randint(3, 50, (B, L))
    first = [net.shifted(y, MASK, task).values[:, 0] for task in range(3)]
    torch.testing.assert_close(first[0], first[2])
    assert not torch.allclose(first[0], first[1])
    own = net.task_parameters()  # the shared "to-de" row is no one task's own parameter
    assert set(own) == {1} and own[1][0] is net.starts[1]
    net(net.shifted(y, MASK, 2), 2).sum().backward()  # task 2 trains the row task 0 reads
    assert net.starts[0].grad is not None and net.starts[1].grad is None


class FakeSteps(nn.Module):
    """A space's incremental steps at their simplest: h = tanh(W x + state), state += x."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(D, D)
        self.reordered: list[torch.Tensor] = []

    def step(self, x: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.tanh(self.proj(x) + state), state + x  # (N, D), (N, D)

    def reorder(self, state: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        self.reordered.append(rows)
        return state[rows]


def test_token_steps_embed_step_and_score_the_next_token():
    torch.manual_seed(0)
    net, steps = build("language", TokensTarget.toy()), FakeSteps()
    decoder = net.token_steps(steps, 2)
    state = torch.randn(B, D)
    tokens = torch.tensor([net.start_id, 4, 9, net.start_id])
    log_probs, after = decoder.step(tokens, state)
    assert log_probs.shape == (B, 50)
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(B))
    x = torch.cat([net.starts[2][None], net.tokens.weight[[4, 9]], net.starts[2][None]]) * D**0.5
    expected = (torch.tanh(steps.proj(x) + state) @ net.tokens.weight.T).log_softmax(-1)
    torch.testing.assert_close(log_probs, expected)
    torch.testing.assert_close(after, state + x)
    rows = torch.tensor([3, 3, 0])
    assert torch.equal(decoder.reorder(after, rows), after[rows]) and steps.reordered == [rows]
    # and it is what the searches read: beam search runs through it
    found = decoding.search(
        decoder, state, torch.full((B,), net.start_id), decoding.Decoding(2, max_len=4), 2, 0
    )
    assert found.shape[0] == B and found.shape[1] <= 4 and bool((found < 50).all())


def test_categorical_classifies_the_mean_of_a_sequence():
    torch.manual_seed(0)
    net = build("categorical", ClassesTarget.toy())
    values = torch.randn(B, L, D)
    seq = PaddedSequence(values, MASK)
    torch.testing.assert_close(net(seq, 0), net(masked_mean(seq), 0))
    garbage = PaddedSequence(values.masked_fill(~MASK[..., None], 99.0), MASK)
    torch.testing.assert_close(net(garbage, 0), net(seq, 0))


def test_task_heads_are_the_output_nets_with_todays_parameters():
    """Same draws, same order, same keys as the heads built by hand before the nets existed."""
    classes, pixels = ClassesTarget.toy(), PixelsTarget((1, 28, 28))
    torch.manual_seed(0)
    head = LinearClassifier(Categorical.Config(), 48, classes, 1)
    torch.manual_seed(0)
    today = nn.Linear(48, len(classes.classes))
    assert isinstance(head, Categorical)
    assert list(head.state_dict()) == ["weight", "bias"]
    for key, value in today.state_dict().items():
        assert torch.equal(head.state_dict()[key], value), key

    torch.manual_seed(0)
    head = PixelDecoder(Pixels.Config(), 48, pixels, 1)
    torch.manual_seed(0)
    today = nn.Sequential(
        nn.Linear(48, 1024),
        nn.LeakyReLU(0.01),
        nn.Linear(1024, 784),
        nn.Sigmoid(),
        nn.Unflatten(1, (1, 28, 28)),
    )
    assert isinstance(head, Pixels)
    assert list(head.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    for key, value in today.state_dict().items():
        assert torch.equal(head.state_dict()[key], value), key
    z = torch.randn(B, 48)
    torch.testing.assert_close(head(z, {}), today(z))
