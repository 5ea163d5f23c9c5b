"""Audio as tasks read it: keyword spotting (``spoken_words``) on a tiny transcribed folder —
classes, a seeded split of recordings, padded int16 batches and the dataset's spec; a dataset
whose splits share their words keeps them (one class id per word), evaluation words never heard
in training are warned of, and tone "words" are learnt through the trainer."""

import warnings

import numpy as np
import pytest
import torch

from sharedspace.data import DATASETS, dataset
from sharedspace.data.audio import AudioClips
from sharedspace.data.specs import AudioSpec
from sharedspace.data.transcribed_audio import TranscribedAudio
from sharedspace.errors import ConfigError
from sharedspace.resolve import load_config
from sharedspace.tasks import audio_data
from sharedspace.tasks.audio_data import SpokenWords, SpokenWordsConfig
from sharedspace.tasks.data import load_dataset
from sharedspace.tasks.views import DATA_VIEWS
from sharedspace.train.trainer import train
from tests.data.registry_checks import check_view, isolate

sf = pytest.importorskip("soundfile", reason="pip install 'sharedspace[audio]'")
WORDS = ("ball", "cat", "sun")


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    lines = []
    for w, word in enumerate(WORDS):
        for k in range(4):
            n = 800 + 160 * k + 40 * w
            sf.write(tmp_path / f"{word}{k}.wav", rng.uniform(-0.3, 0.3, n), 16000, "PCM_16")
            lines.append(f"{word}{k}.wav\t{word}")
    (tmp_path / "transcripts.tsv").write_text("\n".join(lines) + "\n")
    return str(tmp_path)


def prepare(folder, seed=0, **kw):
    cfg = SpokenWordsConfig(validation_fraction=0.25, test_fraction=0.25, **kw)
    return SpokenWords.prepare("transcribed_audio", cfg, folder, seed, "tasks.t.data", {})


def test_the_view_is_classifications_only_reading_of_audio():
    check_view("classification", "audio", "spoken_words", SpokenWords)
    assert DATA_VIEWS.pick("classification", "transcribed_audio", None) is SpokenWords


def test_words_are_classes_and_recordings_are_split_by_seed(folder):
    data = prepare(folder)
    assert data.target.classes == WORDS
    assert {s: len(split) for s, split in data.splits.items()} == {
        "train": 6,
        "validation": 3,
        "test": 3,
    }
    seen = torch.cat([split.index for split in data.splits.values()])
    assert sorted(seen.tolist()) == list(range(12))  # every recording once
    batch = data.splits["train"].get(torch.arange(6))
    lengths = batch["x_mask"].sum(1)
    assert batch["x"].dtype == torch.int16 and batch["x"].shape == (6, int(lengths.max()))
    assert not batch["x"][~batch["x_mask"]].any()
    clips, index = data.splits["train"].clips, data.splits["train"].index
    assert torch.equal(lengths, clips.lengths[index])
    expected = [800 + 160 * (i % 4) + 40 * (i // 4) for i in range(12)]  # ball0…3, cat0…3, …
    assert sorted(clips.lengths.tolist()) == sorted(expected)
    spec = data.spec
    assert isinstance(spec, AudioSpec) and spec.sample_rate == 16000
    assert spec.max_samples == max(expected) and abs(spec.mean) < 0.02
    assert spec.std == pytest.approx(0.6 / 12**0.5, rel=0.05)  # uniform on ±0.3
    again, other = prepare(folder), prepare(folder, seed=1)
    assert torch.equal(again.splits["test"].index, data.splits["test"].index)
    assert not torch.equal(other.splits["test"].index, data.splits["test"].index)
    assert other.spec == spec  # one spec per dataset, whatever the split


def test_labels_are_each_recordings_word(folder):
    data = prepare(folder, train_size=4, eval_size=2)
    assert len(data.splits["train"]) == 4 and len(data.splits["test"]) == 2
    ds = load_dataset("transcribed_audio", folder)
    words = [w for split in ("train", "validation", "test") for w in ds.transcripts[split]]
    for split in data.splits.values():
        assert [WORDS[y] for y in split.labels] == [words[i] for i in split.index]


def test_held_out_fractions_are_checked():
    with pytest.raises(ConfigError, match="expected 0 ≤ f, sum < 1"):
        SpokenWordsConfig(validation_fraction=0.6, test_fraction=0.5)


def test_a_test_only_dataset_is_standardised_by_all_its_samples(monkeypatch):
    """real_speech_en has no training split: its level comes from the test recordings, and a
    silent set still gives a std above zero."""
    loud = AudioClips.of([np.full(300, 0.5, np.float32), np.full(100, -0.5, np.float32)])
    silent, empty = AudioClips.of([np.zeros(80, np.float32)]), AudioClips.of([])
    sets = {
        name: TranscribedAudio({"train": empty, "validation": empty, "test": clips}, {}, {})
        for name, clips in (("loud-test-only", loud), ("silent-test-only", silent))
    }
    monkeypatch.setattr(audio_data, "load_dataset", lambda source, data_dir: sets[source])
    spec = audio_data.audio_spec("loud-test-only", None)
    assert (spec.max_samples, spec.mean) == (300, pytest.approx(0.25))
    assert spec.std == pytest.approx(0.1875**0.5, rel=1e-4)  # E[x²] − mean² = 0.25 − 0.0625
    assert audio_data.audio_spec("silent-test-only", None).std == 1 / 32768


# ------------------------------------------------ a dataset's own splits (spoken_words_en's)

TONE_HZ = {"ba": 300.0, "di": 700.0, "ko": 1500.0, "mu": 3200.0}


def tone(word: str, take: int) -> np.ndarray:
    """Recording ``take`` of ``word``: its pitch, at a level, length and phase of the take's."""
    rng = np.random.default_rng(take)
    n = int(rng.integers(2400, 4800))
    t = np.arange(n) / 16000
    level, phase = rng.uniform(0.05, 0.5), rng.uniform(0, 2 * np.pi)
    return (level * np.sin(2 * np.pi * TONE_HZ[word] * t + phase)).astype(np.float32)


def said(takes: dict[str, range]) -> tuple[AudioClips, list[str], list[str]]:
    """Each word's recordings ``takes[split]``: clips, transcripts, names."""
    pairs = [(w, k) for w in TONE_HZ for k in takes]
    return (
        AudioClips.of([tone(w, k) for w, k in pairs]),
        [w for w, _ in pairs],
        [f"{w}/{k}.wav" for w, k in pairs],
    )


def load_tone_words(data_dir=None) -> TranscribedAudio:
    """Every word in every split, as in spoken_words_en: 8 takes to train on, 2 to validate
    and 3 to test on, all different recordings."""
    takes = {"train": range(8), "validation": range(8, 10), "test": range(10, 13)}
    made = {s: said(r) for s, r in takes.items()}
    return TranscribedAudio(*({s: m[i] for s, m in made.items()} for i in range(3)))


def load_said_once(data_dir=None) -> TranscribedAudio:
    """Eight words recorded once each, all in the test split (as real_speech_en)."""
    words = [f"w{i}" for i in range(8)]
    empty = AudioClips.of([])
    test = AudioClips.of([np.full(400 + 10 * i, 0.1, np.float32) for i in range(8)])
    return TranscribedAudio(
        {"train": empty, "validation": empty, "test": test},
        {"train": [], "validation": [], "test": words},
        {"train": [], "validation": [], "test": [f"{w}.wav" for w in words]},
    )


@pytest.fixture
def toys(monkeypatch):
    isolate(monkeypatch, DATASETS)
    dataset("tone_words", kind="audio", splits=TranscribedAudio)(load_tone_words)
    dataset("said_once", kind="audio", splits=TranscribedAudio)(load_said_once)


def test_splits_sharing_their_words_are_kept_with_one_class_id_per_word(toys):
    cfg = SpokenWordsConfig(validation_fraction=0.25, test_fraction=0.25)  # unused: kept splits
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every evaluation word is heard in training
        data = SpokenWords.prepare("tone_words", cfg, None, 0, "tasks.kws.data", {})
    ds = load_dataset("tone_words", None)
    assert data.target.classes == ("ba", "di", "ko", "mu")
    assert {s: len(split) for s, split in data.splits.items()} == {
        "train": 32,
        "validation": 8,
        "test": 12,
    }
    for s, split in data.splits.items():
        assert split.clips is ds.audio[s]  # the dataset's own recordings, none pooled
        assert sorted(split.index.tolist()) == list(range(len(ds.audio[s])))
        words = [data.target.classes[y] for y in split.labels]
        assert words == [ds.transcripts[s][i] for i in split.index]  # one id per word, all splits
    other = SpokenWords.prepare("tone_words", cfg, None, 1, "tasks.kws.data", {})
    assert not torch.equal(other.splits["test"].index, data.splits["test"].index)  # seeded order
    assert torch.equal(other.splits["test"].index.sort().values, torch.arange(12))
    sized = SpokenWords.prepare(
        "tone_words", SpokenWordsConfig(train_size=5, eval_size=3), None, 0, "k", {}
    )
    assert torch.equal(sized.splits["train"].index, data.splits["train"].index[:5])


def test_words_never_heard_in_training_are_warned_of_in_one_line(toys):
    cfg = SpokenWordsConfig(validation_fraction=0.25, test_fraction=0.25)
    with pytest.warns(UserWarning) as caught:
        data = SpokenWords.prepare("said_once", cfg, None, 0, "tasks.kws.data", {})
    assert [str(w.message) for w in caught] == [
        f"tasks.kws.data: 2 of 2 {s} recordings of said_once say a word no training recording "
        "says and cannot be classified right"
        for s in ("validation", "test")
    ]
    assert [len(s) for s in data.splits.values()] == [4, 2, 2]  # pooled, then held out


def test_keyword_spotting_learns_tone_words_through_the_trainer(toys, tmp_path, one_thread):
    raw = {
        "name": "kws",
        "out_dir": str(tmp_path),
        "tasks": {"kws": {"kind": "classification", "modality": "audio", "data": "tone_words"}},
        "model": {
            "width": 16,
            "modalities": {
                "audio": {"name": "audio_spectral", "log_mel": {"n_mels": 16},
                          "block_channels": [4, 8]},
            },
            "space": {"name": "sus", "hidden": [16], "out_dim": 16},
        },
        "train": {"epochs": 30, "batch_size": 8, "warmup_steps": 4, "lr": 0.01, "progress": False},
    }  # fmt: skip
    result = train(load_config(data=raw))
    assert result.metrics["test"]["kws"]["accuracy"] >= 0.9, result.metrics["test"]
