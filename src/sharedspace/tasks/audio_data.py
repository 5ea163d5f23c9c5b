"""Audio as tasks read it: padded int16 waveforms with their mask, cut from a dataset's utterances
one whole batch at a time (``AudioClips.batch``), and the spec the audio cap is built from.

``SpokenWords`` is keyword spotting (the issue's second audio problem): each utterance's class is
its transcript (a word, a letter, a short phrase). A dataset split by transcript keeps every
recording of a word in one split, so this view pools the dataset's utterances and holds out
validation and test recordings by a seeded shuffle: the same words, other recordings.
"""

import functools
from dataclasses import dataclass
from typing import Any

import torch

from sharedspace.data.audio import SAMPLE_RATE, AudioClips
from sharedspace.data.specs import AudioSpec, ClassesTarget
from sharedspace.data.transcribed_audio import SPLIT_NAMES, TranscribedAudio
from sharedspace.errors import ConfigError
from sharedspace.tasks.classification import Classification
from sharedspace.tasks.data import DataView, Sizes, TaskData, load_dataset
from sharedspace.tasks.views import DATA_VIEWS


@functools.lru_cache(maxsize=8)
def audio_spec(source: str, data_dir: str | None) -> AudioSpec:
    """The dataset's spec: its longest utterance, and the mean and std of its training samples
    (of every split for a test-only set such as ``real_speech_en``; the std floored at one int16
    step, so silence divides by no zero) — one spec per dataset, so every task on it can share
    one audio cap."""
    ds = load_dataset(source, data_dir)
    longest = max(int(ds.audio[s].lengths.max()) for s in SPLIT_NAMES if len(ds.audio[s]))
    train = ds.audio["train"]
    mean, std = (train if len(train) else AudioClips.cat(list(ds.audio.values()))).moments()
    return AudioSpec(SAMPLE_RATE, longest, mean, max(std, 1 / 32768))


@dataclass
class AudioSplit:
    """Utterances ``index`` (N,) of ``clips`` with one value each (``labels`` (N,) int64)."""

    clips: AudioClips
    index: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.index)

    def get(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """``x`` (B, T) int16 padded to the batch's longest, ``x_mask`` (B, T), ``y`` (B,)."""
        x, mask = self.clips.batch(self.index[idx])
        return {"x": x, "x_mask": mask, "y": self.labels[idx]}

    def first(self, n: int | None) -> "AudioSplit":
        return AudioSplit(self.clips, self.index[:n], self.labels[:n])


@dataclass
class SpokenWordsConfig(Sizes):
    validation_fraction: float = 0.1  # of all utterances, held out by a seeded shuffle
    test_fraction: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        held = (self.validation_fraction, self.test_fraction)
        if not all(0 <= f < 1 for f in held) or sum(held) >= 1:
            raise ConfigError(f"validation_fraction, test_fraction {held}: expected 0 ≤ f, sum < 1")


@DATA_VIEWS.register(Classification)
class SpokenWords(DataView):
    """Utterances and their transcripts as classes (sorted), split by a seeded shuffle."""

    kind = "audio"
    target = "classes"
    name = "spoken_words"
    reads = TranscribedAudio
    Config = SpokenWordsConfig

    @classmethod
    def prepare(cls, source: str, cfg: Any, data_dir, seed, key, state) -> TaskData:
        ds = load_dataset(source, data_dir)
        clips = AudioClips.cat([ds.audio[s] for s in SPLIT_NAMES])
        words = [w for s in SPLIT_NAMES for w in ds.transcripts[s]]
        classes = sorted(set(words))
        label = {word: i for i, word in enumerate(classes)}
        labels = torch.tensor([label[w] for w in words], dtype=torch.long)
        order = torch.randperm(len(words), generator=torch.Generator().manual_seed(seed))
        n_val = round(cfg.validation_fraction * len(words))
        n_test = round(cfg.test_fraction * len(words))
        parts = order.split([n_val, n_test, len(words) - n_val - n_test])
        val, test, train = (AudioSplit(clips, i, labels[i]) for i in parts)
        splits = {
            "train": train.first(cfg.train_size),
            "validation": val.first(cfg.eval_size),
            "test": test.first(cfg.eval_size),
        }
        return TaskData(splits, audio_spec(source, data_dir), ClassesTarget(tuple(classes)))
