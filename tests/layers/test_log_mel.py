"""The log-mel front end: the filterbank against hand-built cases (a pure tone lands in the mel bin
centred on it; the triangles sum to one between the first and last centre; a tiny bank by hand),
frame counts, and a padded batch giving each utterance's own features on its real frames."""

import math

import pytest
import torch

from sharedspace.layers.log_mel import LogMel, hz_to_mel, mel_filterbank

RATE = 16000


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    return 700.0 * torch.expm1(mel / 1127.0)


def centres(n_mels: int, f_min: float = 80.0, f_max: float = 7600.0) -> torch.Tensor:
    """The centre frequency (Hz) of each filter."""
    low, high = hz_to_mel(torch.tensor([f_min, f_max], dtype=torch.float64))
    return mel_to_hz(torch.linspace(low, high, n_mels + 2, dtype=torch.float64))[1:-1]


def tone(hz: float, seconds: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(RATE * seconds)) / RATE
    return torch.sin(2 * math.pi * hz * t)


def test_a_tiny_bank_by_hand():
    # 8-point FFT at 8 Hz: bins at 0, 1, 2, 3, 4 Hz; one filter with mel edges at f(0), f(2), f(4)
    bank = mel_filterbank(1, 8, 8, 0.0, 4.0)
    low, high = hz_to_mel(torch.tensor([0.0, 4.0], dtype=torch.float64))
    mid = (low + high) / 2
    mel = hz_to_mel(torch.arange(5, dtype=torch.float64))
    expected = torch.where(mel <= mid, (mel - low) / (mid - low), (high - mel) / (high - mid))
    expected[0] = 0.0  # no DC
    torch.testing.assert_close(bank[:, 0], expected.float())


@pytest.mark.parametrize("hz", [300.0, 1000.0, 2500.0, 6000.0])
def test_a_pure_tone_lands_in_the_mel_bin_centred_nearest_it(hz):
    front = LogMel(LogMel.Config(preemphasis=0.0))
    wave = tone(hz)
    features, mask = front(wave[None], torch.tensor([len(wave)]))
    loudest = features[0, mask[0]].mean(0).argmax().item()
    assert loudest == (centres(80) - hz).abs().argmin().item()


def test_the_triangles_sum_to_one_between_the_first_and_last_centre():
    bank = mel_filterbank(40, 512, RATE, 80.0, 7600.0)
    freqs = torch.linspace(0, RATE / 2, 257, dtype=torch.float64)
    c = centres(40)
    inside = (freqs >= c[0]) & (freqs <= c[-1])
    torch.testing.assert_close(bank.sum(1)[inside], torch.ones(int(inside.sum())))
    assert bank.sum(1)[freqs < 80].abs().max() == 0 and bank.sum(1)[freqs > 7600].max() == 0


def test_frames_are_counted_from_the_samples_left_after_pre_emphasis():
    front = LogMel(LogMel.Config())  # 400-sample windows, 160-sample hop
    assert front.window == 400 and front.hop == 160 and front.n_fft == 512
    assert front.frames(torch.tensor([0, 1, 2, 161, 162, 16000])).tolist() == [0, 0, 1, 1, 2, 100]


def test_a_padded_batch_gives_each_utterance_its_own_features_on_its_real_frames():
    g = torch.Generator().manual_seed(0)
    lengths = [16000, 9001, 480]
    waves = [torch.randn(n, generator=g) * 0.3 for n in lengths]
    batch = torch.zeros(3, max(lengths))
    for i, w in enumerate(waves):
        batch[i, : len(w)] = w
    batch[1, lengths[1] :] = 5.0  # whatever the padding holds
    front = LogMel(LogMel.Config())
    features, mask = front(batch, torch.tensor(lengths))
    assert features.shape == (3, 100, 80) and mask.sum(1).tolist() == [100, 57, 3]
    for i, w in enumerate(waves):
        alone, alone_mask = front(w[None], torch.tensor([len(w)]))
        n = int(alone_mask.sum())
        torch.testing.assert_close(features[i, :n], alone[0, :n], atol=1e-4, rtol=1e-5)
        assert not features[i, n:].any() and not mask[i, n:].any()
