"""Audio as the audio data kind keeps it: files decoded with ``soundfile`` (its wheel bundles
libsndfile: WAV, FLAC, Ogg Vorbis and Opus), mixed to mono, resampled once to 16 kHz with a
polyphase filter (``scipy.signal.resample_poly``) and held as int16 — half of float32's memory, and
what the recordings were. A split's utterances lie end to end in one tensor (``AudioClips``), so a
padded batch is cut from it in one vectorised step, never utterance by utterance.

``soundfile`` is optional (``pip install 'sharedspace[audio]'``); reading audio without it is a
one-line error saying so. A file that is not audio of an allowed format, is damaged, or is longer
than ``MAX_SECONDS`` is a DataError naming it; sizes are bounded before decoding.
"""

import io
import math
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from sharedspace.errors import DataError, SharedSpaceError
from sharedspace.untrusted import MiB, read_bytes

SAMPLE_RATE = 16000  # Hz: what every audio dataset is resampled to, once, when read
AUDIO_FILE_LIMIT = 256 * MiB  # one file; 10 minutes of 44.1 kHz stereo WAV is 106 MB
MAX_SECONDS = 600  # one utterance, from the header, before decoding
FORMATS = ("WAV", "FLAC", "OGG")  # libsndfile's major formats a user's file may be in
INSTALL = (
    "reading audio needs soundfile: pip install 'sharedspace[audio]' "
    "(in this repo: .venv/bin/pip install -e '.[audio]')"
)


def soundfile() -> ModuleType:
    """The ``soundfile`` module, or a one-line error naming the install command."""
    try:
        import soundfile
    except ImportError:
        raise SharedSpaceError(INSTALL) from None
    return soundfile


def decode_audio(data: bytes, where: str) -> np.ndarray:
    """Audio file bytes → (n,) float32 mono at SAMPLE_RATE, on the −1…1 scale: channels averaged,
    resampled once (n = ceil(frames · 16000 / rate)). DataError naming ``where`` when it is not
    WAV, FLAC or Ogg, is damaged, empty or longer than MAX_SECONDS."""
    sf = soundfile()
    try:
        info = sf.info(io.BytesIO(data))
        if info.format not in FORMATS:
            raise DataError(f"{where}: {info.format} audio; expected {', '.join(FORMATS)}")
        if info.frames > MAX_SECONDS * info.samplerate:
            seconds = info.frames / info.samplerate
            raise DataError(f"{where}: {seconds:.0f} s of audio, more than {MAX_SECONDS} s")
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, ValueError, EOFError) as e:
        reason = " ".join(str(getattr(e, "error_string", None) or e).split())
        raise DataError(f"{where}: not readable audio ({reason[:120]})") from None
    if not len(samples):
        raise DataError(f"{where}: no audio samples")
    return resample(samples.mean(1), rate)


def resample(wave: np.ndarray, rate: int) -> np.ndarray:
    """(n,) float32 at ``rate`` Hz → (ceil(n · 16000 / rate),) float32 at SAMPLE_RATE."""
    if rate == SAMPLE_RATE:
        return wave.astype(np.float32, copy=False)
    from scipy.signal import resample_poly  # scipy comes with scikit-learn

    g = math.gcd(SAMPLE_RATE, rate)
    return resample_poly(wave, SAMPLE_RATE // g, rate // g).astype(np.float32)


def read_audio(path: Path, where: str | None = None) -> np.ndarray:
    """``decode_audio`` of the regular file ``path`` (at most AUDIO_FILE_LIMIT bytes); errors
    name ``where`` (default: the path)."""
    return decode_audio(read_bytes(path, AUDIO_FILE_LIMIT, DataError), where or str(path))


def to_int16(wave: np.ndarray) -> np.ndarray:
    """−1…1 float samples → int16, clipped (resampling can overshoot a full-scale signal)."""
    return np.clip(np.round(wave * 32768), -32768, 32767).astype(np.int16)


@dataclass
class AudioClips:
    """Utterances end to end: ``samples`` (S,) int16 at SAMPLE_RATE, utterance i being
    ``samples[offsets[i]:offsets[i + 1]]``; ``offsets`` (N + 1,) int64."""

    samples: torch.Tensor
    offsets: torch.Tensor

    @classmethod
    def of(cls, waves: list[np.ndarray]) -> "AudioClips":
        """From float waves on the −1…1 scale (each (n,))."""
        lengths = torch.tensor([0] + [len(w) for w in waves], dtype=torch.long)
        joined = np.concatenate([to_int16(w) for w in waves]) if waves else np.zeros(0, np.int16)
        return cls(torch.from_numpy(joined), lengths.cumsum(0))

    @classmethod
    def cat(cls, parts: list["AudioClips"]) -> "AudioClips":
        """The utterances of ``parts``, one after another."""
        starts = torch.tensor([0] + [len(p.samples) for p in parts]).cumsum(0)
        offsets = [p.offsets[1:] + start for p, start in zip(parts, starts, strict=False)]
        return cls(torch.cat([p.samples for p in parts]), torch.cat([starts[:1], *offsets]))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> torch.Tensor:
        """(N,) samples per utterance."""
        return self.offsets.diff()

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Utterances ``idx`` (B,) → ``x`` (B, T) int16 padded with zeros to the longest of them
        and ``x_mask`` (B, T) bool, True at real samples."""
        lengths = self.lengths[idx]  # (B,)
        width = int(lengths.max()) if len(idx) else 0
        positions = torch.arange(width)
        mask = positions < lengths[:, None]  # (B, T)
        where = (self.offsets[idx][:, None] + positions).clamp(max=len(self.samples) - 1)
        return torch.where(mask, self.samples[where], 0), mask

    def moments(self) -> tuple[float, float]:
        """Mean and std of every sample on the −1…1 scale (an AudioSpec's ``mean``, ``std``)."""
        total = squares = 0.0
        for chunk in self.samples.split(1 << 22):  # bounded memory: float64 of 4M samples
            x = chunk.double() / 32768
            total += float(x.sum())
            squares += float(x.square().sum())
        n = max(len(self.samples), 1)
        mean = total / n
        return mean, max(squares / n - mean * mean, 0.0) ** 0.5
