"""Log-mel filterbank features of padded waveforms, computed with ``torch.stft`` (torchaudio has no
build for torch 2.13), as tensor2tensor's ``common_audio.compute_mel_filterbank_features`` (the
MultiModel's speech front end): pre-emphasis 0.97, 25 ms Hann windows every 10 ms (frames padded
at the end, none centred), magnitude spectrum, 80 triangular mel filters from 80 Hz to 7.6 kHz on
the HTK mel scale, log with a floor of 1e-3.

Padding never changes a real frame: the pre-emphasised signal is zeroed past each utterance's
length, so a padded batch gives, on each utterance's frames, exactly what the utterance alone
gives; frames past its length are zero and masked. Dither (tensor2tensor adds noise of one int16
step) is left out: features stay a function of the waveform.

Shape notation: B batch, T samples, F frames, M mel bins.
"""

import math
from dataclasses import dataclass

import torch
from torch import nn


def hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    """The HTK mel scale (tensorflow's ``linear_to_mel_weight_matrix``): 1127 ln(1 + f/700)."""
    return 1127.0 * torch.log1p(hz / 700.0)


def mel_filterbank(
    n_mels: int, n_fft: int, sample_rate: int, f_min: float, f_max: float
) -> torch.Tensor:
    """(n_fft // 2 + 1, n_mels) triangular filters: filter m rises from mel point m to m + 1 and
    falls to m + 2, the ``n_mels + 2`` points evenly spaced in mel between ``f_min`` and ``f_max``;
    the DC bin gets no weight (as tensorflow's)."""
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    mel = hz_to_mel(freqs)
    low, high = hz_to_mel(torch.tensor([f_min, f_max], dtype=torch.float64)).tolist()
    edges = torch.linspace(low, high, n_mels + 2, dtype=torch.float64)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (mel[:, None] - lower) / (centre - lower)
    falling = (upper - mel[:, None]) / (upper - centre)
    weights = torch.clamp(torch.minimum(rising, falling), min=0.0)
    weights[0] = 0.0
    return weights.float()


class LogMel(nn.Module):
    """Waveforms (B, T) float with their lengths (B,) → log-mel features (B, F, M) and the frame
    mask (B, F), True at real frames: an utterance of n samples has ``frames(n)`` = ceil((n − 1) /
    hop) real frames (pre-emphasis drops its first sample; without it ceil(n / hop)), and F =
    ``frames(T)``."""

    @dataclass
    class Config:
        window_ms: float = 25.0
        hop_ms: float = 10.0
        n_mels: int = 80
        f_min: float = 80.0
        f_max: float = 7600.0
        preemphasis: float = 0.97  # 0: none
        log_floor: float = 1e-3  # mel energies below it are clipped before the log

    def __init__(self, cfg: Config, sample_rate: int = 16000) -> None:
        super().__init__()
        self.cfg = cfg
        self.window = int(cfg.window_ms * sample_rate / 1000)
        self.hop = int(cfg.hop_ms * sample_rate / 1000)
        self.n_fft = 2 ** math.ceil(math.log2(self.window))
        self.bins = cfg.n_mels  # M, the features of a frame
        filters = mel_filterbank(cfg.n_mels, self.n_fft, sample_rate, cfg.f_min, cfg.f_max)
        self.register_buffer("filters", filters, persistent=False)
        # a frame is the window's samples, zero-padded at its end to n_fft (as tensorflow's
        # stft; torch.stft would centre a shorter window inside the n_fft samples)
        window = nn.functional.pad(torch.hann_window(self.window), (0, self.n_fft - self.window))
        self.register_buffer("window_fn", window, persistent=False)

    def frames(self, lengths: torch.Tensor) -> torch.Tensor:
        """Real frames of utterances of ``lengths`` samples (B,)."""
        samples = (lengths - int(self.cfg.preemphasis > 0)).clamp(min=0)
        return torch.div(samples + self.hop - 1, self.hop, rounding_mode="floor")

    def forward(
        self, waves: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        real = self.frames(lengths)
        x = waves.float()
        if self.cfg.preemphasis > 0:
            x = x[:, 1:] - self.cfg.preemphasis * x[:, :-1]
            lengths = lengths - 1
        positions = torch.arange(x.shape[1], device=x.device)
        x = x * (positions < lengths[:, None])  # nothing past an utterance reaches its frames
        count = -(-x.shape[1] // self.hop)  # frames padded at the end, as tensorflow's pad_end
        x = nn.functional.pad(x, (0, (count - 1) * self.hop + self.n_fft - x.shape[1]))
        spectrum = torch.stft(
            x, self.n_fft, self.hop, window=self.window_fn, center=False, return_complex=True
        ).abs()  # (B, n_fft // 2 + 1, F)
        mel = spectrum.transpose(1, 2) @ self.filters  # (B, F, M)
        mask = torch.arange(count, device=x.device) < real[:, None]
        features = torch.log(mel.clamp(min=self.cfg.log_floor)) * mask[..., None]
        return features, mask
