"""The waveform front end: frames of raw samples, counted from the length, padding kept out."""

import torch

from sharedspace.layers.waveform import WaveformFrames


def test_frames_are_consecutive_samples_and_padding_never_reaches_them():
    front = WaveformFrames(WaveformFrames.Config(frame_ms=0.25), sample_rate=16000)  # 4 samples
    assert front.bins == 4
    x = torch.arange(1.0, 12.0).repeat(2, 1)  # (2, 11)
    frames, mask = front(x, torch.tensor([11, 5]))
    assert frames.shape == (2, 3, 4) and mask.tolist() == [[True] * 3, [True, True, False]]
    assert frames[0].flatten().tolist() == [*range(1, 12), 0]  # the last frame zero-filled
    assert frames[1].flatten().tolist() == [1, 2, 3, 4, 5] + [0] * 7  # nothing past sample 5
    assert front.frames(torch.tensor([0, 1, 4, 5, 16000])).tolist() == [0, 1, 1, 2, 4000]
