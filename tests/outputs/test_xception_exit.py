"""The Xception exit-flow output net: padding never matters (garbage behind the mask, extra
padded positions, each example alone), a vector is a one-position sequence, gradient flow,
fitting a tiny batch, a bad kernel list is refused, and a config naming the Xception cap and this
net trains a classification task through the trainer. (The registry-wide checks in
test_outputs.py cover it too.)"""

import pytest
import torch
import torch.nn.functional as F

from sharedspace.data.specs import ClassesTarget
from sharedspace.errors import ConfigError
from sharedspace.modalities import ImageXception
from sharedspace.outputs import XceptionExit
from sharedspace.representation import PaddedSequence
from sharedspace.train.trainer import train
from tests.tiny import tiny_config

B, T, D = 4, 6, 16
MASK = torch.arange(T) < torch.tensor([6, 4, 1, 3])[:, None]  # (B, T)


def build(**config) -> XceptionExit:
    torch.manual_seed(0)
    return XceptionExit(XceptionExit.Config(**config), D, ClassesTarget.toy(), ("a", "b"))


def sequence(seed: int = 1) -> PaddedSequence:
    g = torch.Generator().manual_seed(seed)
    return PaddedSequence(torch.randn(B, T, D, generator=g), MASK)


def test_logits_ignore_what_padding_holds_and_how_much_there_is():
    net, seq = build(), sequence()
    logits = net(seq, 0)
    assert logits.shape == (B, 5)
    garbage = torch.where(MASK[..., None], seq.values, 100 * torch.randn(B, T, D))
    torch.testing.assert_close(net(PaddedSequence(garbage, MASK), 0), logits, atol=1e-6, rtol=0)
    extra = 50 * torch.randn(B, 5, D)  # five more padded positions, holding garbage
    longer = PaddedSequence(
        torch.cat([garbage, extra], 1), torch.cat([MASK, torch.zeros(B, 5, dtype=torch.bool)], 1)
    )
    torch.testing.assert_close(net(longer, 0), logits, atol=1e-6, rtol=0)
    for b, length in enumerate(MASK.sum(1).tolist()):  # each example alone, without padding
        alone = PaddedSequence(seq.values[b : b + 1, :length], MASK[b : b + 1, :length])
        torch.testing.assert_close(net(alone, 0), logits[b : b + 1], atol=1e-6, rtol=0)


def test_positions_matter_a_vector_is_a_one_position_sequence():
    net, seq = build(), sequence()
    shuffled = PaddedSequence(seq.values[:, [1, 0, 2, 3, 4, 5]], MASK)
    assert not torch.allclose(net(shuffled, 0)[0], net(seq, 0)[0])  # convs see the order
    z = torch.randn(B, D)
    one = PaddedSequence(z[:, None], torch.ones(B, 1, dtype=torch.bool))
    torch.testing.assert_close(net(z, 1), net(one, 1))


def test_every_parameter_gets_a_gradient():
    net, seq = build(), sequence()
    F.cross_entropy(net(seq, 0), torch.tensor([0, 1, 2, 3])).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing, f"no gradient reaches {missing}"


def test_the_net_fits_a_tiny_batch(one_thread):
    net, seq = build(), sequence()
    y = torch.tensor([4, 1, 0, 2])
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(net(seq, 0), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0], losses


def test_a_kernel_list_that_is_not_four_long_is_refused():
    with pytest.raises(ConfigError, match=r"kernel_sizes \[5, 5\] .*expected four"):
        build(kernel_sizes=[5, 5])


def test_the_xception_cap_and_exit_flow_train_a_classifier(one_thread, tiny_data_dir, tmp_path):
    """Fashion-MNIST-shaped toy images → image_xception → no space → xception_exit."""
    overrides = [
        "tasks.classification.output=labels",
        "~model.modalities.image",
        "+model.modalities.image={name: image_xception}",
        "~model.space",
        "model.space={name: none}",
        "model.outputs={labels: xception_exit}",
    ]
    cfg = tiny_config(tiny_data_dir, tmp_path, overrides=overrides, epochs=6, lr=3e-3)
    result = train(cfg)
    assert isinstance(result.model.caps["image"], ImageXception)
    assert isinstance(result.model.outputs["labels"], XceptionExit)
    assert result.metrics["test"]["classification"]["accuracy"] > 0.5  # 10 classes: chance 0.1
