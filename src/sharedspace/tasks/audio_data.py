"""Audio as tasks read it: padded int16 waveforms with their mask, cut from a dataset's utterances
one whole batch at a time (``AudioClips.batch``), and the spec the audio cap is built from.

``SpokenWords`` is keyword spotting (the issue's second audio problem): each utterance's class is
its transcript (a word, a letter, a short phrase), and a class can only be learnt from training
recordings of it. So the view decides from the data which splits to use:
- a dataset whose splits share their classes (validation or test is not empty, and every
  validation and test transcript occurs in train: ``spoken_words_en``, synthetic speech to train
  on, real recordings to test on) keeps its own splits, each shuffled by the seed;
- any other (``transcribed_audio`` splits by a hash of the transcript, so its splits share no
  word) is pooled, and a seeded shuffle holds out ``validation_fraction`` and ``test_fraction``
  of the recordings: the same words, other recordings. An evaluation recording whose word no
  training recording says (a word recorded once) cannot be classified right: a warning says how
  many there are.
"""

import functools
import warnings
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
    # of all utterances, held out by a seeded shuffle when the dataset's splits are pooled
    validation_fraction: float = 0.1
    test_fraction: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        held = (self.validation_fraction, self.test_fraction)
        if not all(0 <= f < 1 for f in held) or sum(held) >= 1:
            raise ConfigError(f"validation_fraction, test_fraction {held}: expected 0 ≤ f, sum < 1")


@DATA_VIEWS.register(Classification)
class SpokenWords(DataView):
    """Utterances and their transcripts as classes (sorted): the dataset's splits when they share
    their classes, else a seeded split of all its recordings (module docstring)."""

    kind = "audio"
    target = "classes"
    name = "spoken_words"
    reads = TranscribedAudio
    Config = SpokenWordsConfig

    @classmethod
    def prepare(cls, source: str, cfg: Any, data_dir, seed, key, state) -> TaskData:
        ds = load_dataset(source, data_dir)
        heard, held = set(ds.transcripts["train"]), ("validation", "test")
        shared = any(ds.transcripts[s] for s in held) and all(
            set(ds.transcripts[s]) <= heard for s in held
        )
        classes, split = (sorted(heard), _own_splits) if shared else (_all_words(ds), _pooled)
        label = {word: i for i, word in enumerate(classes)}
        splits = split(ds, label, cfg, seed)
        splits = {
            "train": splits["train"].first(cfg.train_size),
            "validation": splits["validation"].first(cfg.eval_size),
            "test": splits["test"].first(cfg.eval_size),
        }
        trained = set(splits["train"].labels.tolist())
        for name in ("validation", "test"):
            unheard = sum(y not in trained for y in splits[name].labels.tolist())
            if unheard:
                warnings.warn(
                    f"{key}: {unheard} of {len(splits[name])} {name} recordings of {source} say "
                    "a word no training recording says and cannot be classified right",
                    stacklevel=2,
                )
        return TaskData(splits, audio_spec(source, data_dir), ClassesTarget(tuple(classes)))


def _all_words(ds: TranscribedAudio) -> list[str]:
    return sorted({w for s in SPLIT_NAMES for w in ds.transcripts[s]})


def _labels(words: list[str], label: dict[str, int]) -> torch.Tensor:
    return torch.tensor([label[w] for w in words], dtype=torch.long)


def _own_splits(ds: TranscribedAudio, label: dict[str, int], cfg: Any, seed: int) -> dict:
    """Each of the dataset's splits, its recordings in a seeded order."""
    g = torch.Generator().manual_seed(seed)
    splits = {}
    for s in SPLIT_NAMES:
        order = torch.randperm(len(ds.audio[s]), generator=g)
        splits[s] = AudioSplit(ds.audio[s], order, _labels(ds.transcripts[s], label)[order])
    return splits


def _pooled(ds: TranscribedAudio, label: dict[str, int], cfg: Any, seed: int) -> dict:
    """All the dataset's recordings, ``cfg``'s fractions held out by a seeded shuffle."""
    clips = AudioClips.cat([ds.audio[s] for s in SPLIT_NAMES])
    labels = _labels([w for s in SPLIT_NAMES for w in ds.transcripts[s]], label)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    n_val = round(cfg.validation_fraction * len(labels))
    n_test = round(cfg.test_fraction * len(labels))
    parts = order.split([n_val, n_test, len(labels) - n_val - n_test])
    val, test, train = (AudioSplit(clips, i, labels[i]) for i in parts)
    return {"train": train, "validation": val, "test": test}
