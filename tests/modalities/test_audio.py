"""The audio cap (``audio_spectral``): its output length follows its strides and its mask marks
exactly each utterance's real frames, padding changes none of an utterance's outputs, the
standardisation is the dataset's or each utterance's, and it learns to tell tones apart."""

import math

import pytest
import torch
from torch import nn

from sharedspace.data.specs import AudioSpec
from sharedspace.layers.log_mel import LogMel
from sharedspace.modalities.audio import AudioSpectral
from sharedspace.representation import masked_mean

RATE = 16000
SPEC = AudioSpec(RATE, 8000, 0.0, 0.2)


def cap(front_end: str = "log_mel", blocks=(4, 8, 8), **kw) -> AudioSpectral:
    torch.manual_seed(0)
    cfg = AudioSpectral.Config(
        front_end=front_end, log_mel=LogMel.Config(n_mels=20), block_channels=list(blocks), **kw
    )
    return AudioSpectral(cfg, 12, SPEC).eval()


def padded(waves: list[torch.Tensor], fill: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T) float with ``fill`` behind the mask, and the mask (B, T)."""
    lengths = torch.tensor([len(w) for w in waves])
    mask = torch.arange(int(lengths.max())) < lengths[:, None]
    x = torch.full(mask.shape, fill)
    for i, w in enumerate(waves):
        x[i, : len(w)] = w
    return x, mask


def halve(n: int, times: int) -> int:
    for _ in range(times):
        n = math.ceil(n / 2)
    return n


@pytest.mark.parametrize(
    ("front_end", "frames_of"),
    [("log_mel", lambda n: math.ceil((n - 1) / 160)), ("waveform", lambda n: math.ceil(n / 160))],
)
def test_output_length_follows_the_strides_and_the_mask_marks_exactly_the_real_frames(
    front_end, frames_of
):
    lengths = [8000, 4001, 1601, 321, 160]
    g = torch.Generator().manual_seed(0)
    x, mask = padded([torch.randn(n, generator=g) * 0.2 for n in lengths])
    net = cap(front_end)
    out = net(x, mask)
    assert out.values.shape == (5, halve(frames_of(8000), 3), 12)
    assert out.mask.sum(1).tolist() == [halve(frames_of(n), 3) for n in lengths] == [7, 4, 2, 1, 1]
    assert torch.equal(out.mask, torch.arange(out.mask.shape[1]) < out.mask.sum(1)[:, None])
    assert torch.equal(out.mask, net.sequence_mask(mask))


@pytest.mark.parametrize("front_end", ["log_mel", "waveform"])
def test_padding_changes_none_of_an_utterances_outputs(front_end):
    g = torch.Generator().manual_seed(1)
    waves = [torch.randn(n, generator=g) * 0.2 for n in (7999, 3370, 1000)]
    net = cap(front_end)
    batch = net(*padded(waves, fill=0.9))  # whatever the padding holds
    for i, w in enumerate(waves):
        for extra in (0, 481, 2000):  # alone, and with padding of its own
            x, mask = padded([w, torch.zeros(len(w) + extra)], fill=-0.7)
            alone = net(x[:1], mask[:1])
            n = int(alone.mask.sum())
            assert int(batch.mask[i].sum()) == n
            torch.testing.assert_close(batch.values[i, :n], alone.values[0, :n], atol=1e-4, rtol=0)


def test_int16_waveforms_read_as_their_float_scale():
    g = torch.Generator().manual_seed(2)
    x, mask = padded([torch.randn(n, generator=g) * 0.2 for n in (4000, 2500)])
    quantised = (x * 32768).round().to(torch.int16)
    net = cap()
    torch.testing.assert_close(net(quantised, mask).values, net(quantised / 32768, mask).values)


def test_dataset_statistics_standardise_and_per_utterance_ignores_the_level():
    g = torch.Generator().manual_seed(3)
    w = torch.randn(4000, generator=g) * 0.2
    x, mask = padded([w, 3 * w])
    own = cap(per_utterance=True)(x, mask).values
    torch.testing.assert_close(own[0], own[1], atol=1e-4, rtol=0)
    shared = cap()(x, mask).values  # one level for the dataset: a louder input reads louder
    assert not torch.allclose(shared[0], shared[1], atol=1e-2)
    assert cap().reads(AudioSpectral.Config(), SPEC) == (RATE, (0.0, 0.2))
    assert cap().reads(AudioSpectral.Config(per_utterance=True), SPEC) == (RATE, None)


def test_it_tells_four_tones_apart_and_every_parameter_learns():
    g = torch.Generator().manual_seed(4)
    pitches = [220.0, 440.0, 880.0, 1760.0]
    waves, labels = [], []
    for label, hz in enumerate(pitches):
        for n, level in ((4000, 0.3), (2600, 0.1)):
            t = torch.arange(n) / RATE
            phase = float(torch.rand(1, generator=g)) * 2 * math.pi
            waves.append(level * torch.sin(2 * math.pi * hz * t + phase))
            labels.append(label)
    x, mask = padded(waves)
    y = torch.tensor(labels)
    net = cap(blocks=(4, 8)).train()
    head = nn.Linear(12, 4)
    params = [*net.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(head(masked_mean(net(x, mask))), y)
        loss.backward()
        if _ == 0:
            silent = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.any()]
            assert not silent, f"no gradient reaches {silent}"
        opt.step()
    logits = head(masked_mean(net(x, mask)))
    assert loss.item() < 0.05 and torch.equal(logits.argmax(1), y)
