"""MultiModel's audio modality net: a log-mel spectrogram (or frames of raw samples) compressed in
time by residual separable-conv blocks, then read as a sequence of frames.

Kaiser et al. (2017), "One Model To Learn Them All", written from tensor2tensor's paper-era
``AudioSpectralModality.bottom`` (commit 3d9c62f2): ``xnet_resblock``s with stride (2, 1) — each
halves time and keeps the mel bins ("tiny in dimensionality relative to length") — a block being
two ReLU → separable 3×3 conv → LayerNorm steps, a 3×3 max-pool of stride (2, 1) and a 1×1
conv shortcut of stride (2, 1); the front end follows ``common_audio`` (``layers.log_mel``).
``front_end: waveform`` convolves consecutive frames of raw samples instead (``layers.waveform``;
tensor2tensor's ``AudioModality``), the paper's second option.

Deliberate differences: padded batches are exact — every conv and pool sees the frames behind the
mask as zero (the convolutions) or −∞ (the pool), which is what an utterance alone sees past its
end, so adding padding changes none of its outputs; waveforms are standardised by the dataset's
mean and std first (``per_utterance: true``: by each utterance's own), as images are; the first
step reads the features without a ReLU (tensor2tensor rectifies them, dropping every log-mel below
zero); the blocks' channels are free (tensor2tensor: 2, 4, …, 2^k, then the body's depth) and each
frame's mel bins × channels are mapped to ``out_dim`` by one linear layer, so the body reads one
position per frame (tensor2tensor flattens frames × bins into positions).

Shape notation: B batch, T samples, F frames, M mel bins (or samples per frame), C channels.
"""

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from sharedspace.data.specs import AudioSpec
from sharedspace.layers.log_mel import LogMel
from sharedspace.layers.waveform import WaveformFrames
from sharedspace.layers.xception import ConvStep2d, SeparableConv2d
from sharedspace.modalities.base import MODALITIES
from sharedspace.representation import PaddedSequence

FRONT_ENDS = {"log_mel": LogMel, "waveform": WaveformFrames}
INT16_SCALE = 32768.0  # int16 samples → the −1…1 scale of the spec's statistics


def halved(mask: torch.Tensor) -> torch.Tensor:
    """A frame mask (B, F) after a stride-2 block: (B, ⌈F/2⌉), True at the ⌈n/2⌉ frames of a
    sequence of n real frames."""
    return mask[:, ::2]


class CompressBlock(nn.Module):
    """tensor2tensor's audio ``xnet_resblock``: (B, c_in, F, M), mask (B, F) → (B, c_out, ⌈F/2⌉,
    M), mask (B, ⌈F/2⌉); out = maxpool₃ₓ₃,stride (2,1)(step(step(x))) + shortcut(x), frames behind
    the output mask zero.

    Output frame i reads input frames 2i − 3 … 2i + 3 (pool of two 3×3 convs) and 2i (shortcut);
    frames behind the mask enter the convolutions as zeros and the pool as −∞, exactly what an
    unpadded sequence ending there sees ("SAME" zero padding; the pool's −∞ padding).
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int, first_relu: bool) -> None:
        super().__init__()
        self.steps = nn.ModuleList(
            [
                ConvStep2d(SeparableConv2d(c_in, c_out, kernel_size), c_out, first_relu),
                ConvStep2d(SeparableConv2d(c_out, c_out, kernel_size), c_out),
            ]
        )
        self.pool = nn.MaxPool2d(3, stride=(2, 1), padding=1)
        shortcut = nn.Conv2d(c_in, c_out, 1, stride=(2, 1), bias=False)
        self.shortcut = ConvStep2d(shortcut, c_out, first_relu)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        padding = ~mask[:, None, :, None]  # (B, 1, F, 1)
        y = x
        for step in self.steps:
            y = step(y.masked_fill(padding, 0.0))
        y = self.pool(y.masked_fill(padding, float("-inf")))
        out = halved(mask)
        y = y + self.shortcut(x.masked_fill(padding, 0.0))  # reads frame 2i: real where i is
        return y.masked_fill(~out[:, None, :, None], 0.0), out


@MODALITIES.register("audio_spectral")
class AudioSpectral(nn.Module):
    """Waveforms (B, T) int16 (or float on the −1…1 scale) and their mask (B, T), True at real
    samples (a prefix of each row) → a PaddedSequence (B, F', out_dim), F' = F / 2^blocks
    rounded up at each halving, F the front end's frames (log-mel: ⌈T / hop⌉); its mask marks
    each utterance's real frames (``sequence_mask``)."""

    modality_kind = "audio"
    produces = "sequence"
    aux_losses = ()

    @dataclass
    class Config:
        front_end: Literal["log_mel", "waveform"] = "log_mel"
        log_mel: LogMel.Config = field(default_factory=LogMel.Config)  # front_end: log_mel
        waveform: WaveformFrames.Config = field(default_factory=WaveformFrames.Config)
        # standardise each utterance by its own mean and std, else by the dataset's (the spec's)
        per_utterance: bool = False
        # one residual block each, each halving time (tensor2tensor: [2, 4, …, 2^k, width])
        block_channels: list[int] = field(default_factory=lambda: [16, 32, 64])
        kernel_size: int = 3  # of the blocks' separable convolutions (tensor2tensor: 3)

    @classmethod
    def reads(cls, cfg: Config, spec: AudioSpec) -> tuple:
        """The sample rate and the statistics unless per utterance, not the length."""
        return spec.sample_rate, None if cfg.per_utterance else (spec.mean, spec.std)

    def __init__(self, cfg: Config, out_dim: int, spec: AudioSpec) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.per_utterance = cfg.per_utterance
        self.mean, self.std = spec.mean, spec.std
        self.front = FRONT_ENDS[cfg.front_end](getattr(cfg, cfg.front_end), spec.sample_rate)
        blocks, c = [], 1
        for i, c_out in enumerate(cfg.block_channels):
            blocks.append(CompressBlock(c, c_out, cfg.kernel_size, first_relu=i > 0))
            c = c_out
        self.blocks = nn.ModuleList(blocks)
        self.proj = nn.Linear(c * self.front.bins, out_dim)  # a frame's bins × channels → width

    def sequence_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """The output's frame mask (B, F') for the input samples' ``mask`` (B, T): the front
        end's frames of each utterance's length, halved by each block — from the lengths alone."""
        frames = self.front.frames
        count = int(frames(torch.tensor(mask.shape[1])))  # F, the padded batch's frames
        out = torch.arange(count, device=mask.device) < frames(mask.sum(1))[:, None]
        for _ in self.blocks:
            out = halved(out)
        return out

    def standardise(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """int16 or float (B, T) → float (B, T), zero mean and unit std by the dataset's statistics
        or over each utterance's real samples (its std floored at 1e-5: silence stays finite);
        zero behind the mask."""
        x = x.float() / INT16_SCALE if x.dtype == torch.int16 else x.float()
        if self.per_utterance:
            count = mask.sum(1, keepdim=True).clamp_min(1)
            mean = (x * mask).sum(1, keepdim=True) / count
            var = ((x - mean).square() * mask).sum(1, keepdim=True) / count
            x = (x - mean) / var.sqrt().clamp_min(1e-5)
        else:
            x = (x - self.mean) / self.std
        return x * mask

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> PaddedSequence:
        if mask is None:
            mask = torch.ones(x.shape, dtype=torch.bool, device=x.device)
        features, frames = self.front(self.standardise(x, mask), mask.sum(1))  # (B, F, M), (B, F)
        grid = features.unsqueeze(1).contiguous(memory_format=torch.channels_last)  # (B, 1, F, M)
        for block in self.blocks:
            grid, frames = block(grid, frames)  # (B, C, F', M), (B, F')
        values = self.proj(grid.permute(0, 2, 3, 1).flatten(2))  # (B, F', M·C) → (B, F', out_dim)
        return PaddedSequence(values, frames)
