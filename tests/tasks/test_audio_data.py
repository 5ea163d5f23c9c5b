"""Audio as tasks read it: keyword spotting (``spoken_words``) on a tiny transcribed folder —
classes, a seeded split of recordings, padded int16 batches and the dataset's spec."""

import numpy as np
import pytest
import torch

from sharedspace.data.audio import AudioClips
from sharedspace.data.specs import AudioSpec
from sharedspace.data.transcribed_audio import TranscribedAudio
from sharedspace.errors import ConfigError
from sharedspace.tasks import audio_data
from sharedspace.tasks.audio_data import SpokenWords, SpokenWordsConfig
from sharedspace.tasks.data import load_dataset
from sharedspace.tasks.views import DATA_VIEWS
from tests.data.registry_checks import check_view

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
