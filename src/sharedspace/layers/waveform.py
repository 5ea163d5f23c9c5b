"""The waveform front end: an utterance cut into consecutive frames of raw samples, no spectrum —
the second option the MultiModel paper describes (tensor2tensor's ``AudioModality`` convolves the
raw signal; ``AudioSpectralModality`` its spectrogram, ``layers.log_mel``). The convolutions after
it learn their own filters.

Shape notation: B batch, T samples, F frames, M samples per frame.
"""

from dataclasses import dataclass

import torch
from torch import nn


class WaveformFrames(nn.Module):
    """Waveforms (B, T) float with their lengths (B,) → frames (B, F, M) of M consecutive samples,
    F = ceil(T / M), and the frame mask (B, F), True at the ceil(n / M) frames of an utterance of
    n samples; samples past an utterance's length are zero in its last frame, so padding never
    reaches a real frame (the interface of ``LogMel``)."""

    @dataclass
    class Config:
        frame_ms: float = 10.0  # 160 samples at 16 kHz: one frame per log-mel hop

    def __init__(self, cfg: Config, sample_rate: int = 16000) -> None:
        super().__init__()
        self.cfg = cfg
        self.bins = int(cfg.frame_ms * sample_rate / 1000)  # M

    def frames(self, lengths: torch.Tensor) -> torch.Tensor:
        """Real frames of utterances of ``lengths`` samples (B,)."""
        return torch.div(lengths + self.bins - 1, self.bins, rounding_mode="floor")

    def forward(
        self, waves: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        positions = torch.arange(waves.shape[1], device=waves.device)
        x = waves.float() * (positions < lengths[:, None])
        count = -(-x.shape[1] // self.bins)
        x = nn.functional.pad(x, (0, count * self.bins - x.shape[1]))
        mask = torch.arange(count, device=x.device) < self.frames(lengths)[:, None]
        return x.view(x.shape[0], count, self.bins), mask
