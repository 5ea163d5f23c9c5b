"""Speech recognition's data (``transcripts``): utterances in, transcripts then ``<eos>`` out, read
from a tiny transcribed folder in the real format; long ones dropped and warned of; one shared
vocabulary with a text task; and a few utterances overfitted to exact transcripts through the
trainer (an audio cap, MultiModel's body, the language net)."""

import numpy as np
import pytest
import torch

from sharedspace.data import DATASETS, ParallelSplits, dataset, tokenizer_from_state
from sharedspace.data.audio import SAMPLE_RATE, AudioClips
from sharedspace.data.parallel import split_rows
from sharedspace.data.specs import AudioSpec, TokensTarget
from sharedspace.data.tokenizers import EOS_ID, PAD_ID
from sharedspace.data.transcribed_audio import SPLIT_NAMES, TranscribedAudio
from sharedspace.data.word_errors import WORD_ERRORS
from sharedspace.decoding import Decoding
from sharedspace.errors import ConfigError
from sharedspace.resolve import load_config
from sharedspace.spaces.multimodel import MultiModelBody
from sharedspace.tasks.data import load_dataset
from sharedspace.tasks.pair_data import Pairs
from sharedspace.tasks.transcript_data import Transcripts
from sharedspace.tasks.views import DATA_VIEWS
from sharedspace.tasks.vocabulary import shared_tokenizers
from sharedspace.train.trainer import train
from tests.data.registry_checks import check_view, isolate

sf = pytest.importorskip("soundfile", reason="pip install 'sharedspace[audio]'")
pytest.importorskip("jiwer", reason="pip install 'sharedspace[audio]'")
# 40 phrases; by the reader's hash of the transcript, 12 and 23 are validation, 30 test
PHRASES = [f"Number {i}, please." for i in range(40)]


def samples(i: int) -> int:
    """Utterance i's length: 0.1 to 0.19 s."""
    return 1600 + 160 * (i % 10)


@pytest.fixture
def folder(tmp_path):
    """A transcribed folder: one 16 kHz WAV of noise per phrase, and transcripts.tsv."""
    rng = np.random.default_rng(0)
    for i in range(len(PHRASES)):
        sf.write(tmp_path / f"{i:02}.wav", rng.uniform(-0.3, 0.3, samples(i)), 16000, "PCM_16")
    lines = [f"{i:02}.wav\t{phrase}" for i, phrase in enumerate(PHRASES)]
    (tmp_path / "transcripts.tsv").write_text("\n".join(lines) + "\n")
    return str(tmp_path)


def prepare(folder, state=None, **fields):
    cfg = Transcripts.Config(**fields)
    return Transcripts.prepare("transcribed_audio", cfg, folder, 0, "tasks.asr.data", state or {})


def test_the_view_is_sequence_to_sequences_reading_of_audio(folder):
    check_view("seq2seq", "audio", "transcripts", Transcripts)
    assert DATA_VIEWS.pick("seq2seq", "transcribed_audio", None) is Transcripts
    # (batches are padded to their longest utterance, not to the spec's: no check_prepared)
    with pytest.raises(ConfigError, match=r"^max_seconds: expected a number > 0, got 0"):
        Transcripts.Config(max_seconds=0)


@pytest.mark.parametrize(("tokenizer", "max_len"), [("char", 24), ("bpe", 16)])
def test_batches_are_padded_utterances_and_their_whole_transcripts(folder, tokenizer, max_len):
    data = prepare(folder, tokenizer=tokenizer, vocab_size=300, max_len=max_len)
    ds = load_dataset("transcribed_audio", folder)
    assert {s: len(split) for s, split in data.splits.items()} == {
        "train": 37,
        "validation": 2,
        "test": 1,
    }
    decode = tokenizer_from_state(data.state["tokenizer"]).decode
    assert data.detokenize is not None and data.score_text is WORD_ERRORS
    assert isinstance(data.spec, AudioSpec) and data.spec.max_samples == samples(9)
    assert data.target == TokensTarget(data.target.vocab_size, max_len, data.target.vocabulary)
    for name, split in data.splits.items():
        n = len(split)
        batch = split.get(torch.arange(n))
        utterances = split.index.tolist()
        assert sorted(utterances) == list(range(len(ds.transcripts[name])))  # each one once
        lengths = ds.audio[name].lengths[split.index]
        assert batch["x"].dtype == torch.int16 and batch["x"].shape == (n, int(lengths.max()))
        assert torch.equal(batch["x_mask"].sum(1), lengths)
        assert torch.equal(batch["x"], ds.audio[name].batch(split.index)[0])
        assert batch["y"].shape == batch["y_mask"].shape == (n, max_len)
        for row, j in enumerate(utterances):
            real = int(batch["y_mask"][row].sum())
            ids = batch["y"][row].tolist()
            assert ids[real - 1] == EOS_ID and set(ids[real:]) <= {PAD_ID}
            assert decode(ids[: real - 1]) == ds.transcripts[name][j]  # whole, exact
    if tokenizer == "char":
        assert data.target.vocab_size == 3 + len(set("".join(ds.transcripts["train"])))


def test_long_utterances_and_transcripts_are_dropped_and_warned_of(folder):
    # at 0.125 s: of validation's two (12: 0.12 s, 23: 0.13 s) one is left; train loses silently
    with pytest.warns(UserWarning, match=r"1 of 2 validation examples are longer than"):
        data = prepare(folder, tokenizer="char", max_len=24, max_seconds=0.125)
    assert len(data.splits["validation"]) == 1 and len(data.splits["test"]) == 1
    train_split = data.splits["train"]
    kept = load_dataset("transcribed_audio", folder).audio["train"].lengths[train_split.index]
    # the 0.10, 0.11 and 0.12 s utterances of training: i % 10 < 3, less 12 and 30 held out
    assert len(train_split) == 10 and kept.max() <= 0.125 * SAMPLE_RATE
    # "Number 12, please." is 18 characters, 19 tokens with <eos>: 18 leaves validation empty
    with (
        pytest.warns(UserWarning, match=r"2 of 2 validation examples"),
        pytest.raises(ConfigError, match=r"validation split of transcribed_audio has no utter"),
    ):
        prepare(folder, tokenizer="char", max_len=18)
    sizes = prepare(folder, tokenizer="char", max_len=24, train_size=5, eval_size=1)
    assert [len(s) for s in sizes.splits.values()] == [5, 1, 1]


# four "words", each a 80 ms tone of its own pitch; a sentence says them 40 ms apart
TONES = {"ba": 300.0, "di": 700.0, "ko": 1500.0, "mu": 3200.0}
SENTENCES = ["ba", "di ko", "ko ba mu", "mu di", "ba ko di", "mu mu ba"]


def spoken(sentence: str) -> np.ndarray:
    """The sentence's tones, each 80 ms at 0.5 of full scale, 40 ms of silence around each."""
    t = np.arange(int(0.08 * SAMPLE_RATE)) / SAMPLE_RATE
    gap = np.zeros(int(0.04 * SAMPLE_RATE))
    parts = [gap]
    for word in sentence.split():
        parts += [0.5 * np.sin(2 * np.pi * TONES[word] * t), gap]
    return np.concatenate(parts).astype(np.float32)


def load_tones(data_dir=None) -> TranscribedAudio:
    """The six sentences, spoken in tones: ten copies to train on, and the same six utterances
    as validation and test, so a run's validation scores are its training utterances'."""
    clips = AudioClips.of([spoken(s) for s in SENTENCES])
    copies = AudioClips.cat([clips] * 10)
    return TranscribedAudio(
        audio={"train": copies, "validation": clips, "test": clips},
        transcripts={"train": SENTENCES * 10, "validation": SENTENCES, "test": SENTENCES},
        names={s: [f"{i}.wav" for i in range(len(SENTENCES))] for s in SPLIT_NAMES},
    )


def load_phrases(data_dir=None) -> ParallelSplits:
    """English words and their German, which share no word with the tone sentences."""
    rows = [{"en": f"{w} one", "de": f"{w} eins"} for w in ("cat", "dog", "owl", "yak") * 50]
    return split_rows([{**r, "id": str(i)} for i, r in enumerate(rows)], "id", ("en", "de"))


@pytest.fixture
def toys(monkeypatch):
    isolate(monkeypatch, DATASETS)
    dataset("tones", kind="audio", splits=TranscribedAudio)(load_tones)
    dataset("phrases", kind="text", splits=ParallelSplits)(load_phrases)


def asr_config(tmp_path, tasks: dict, **train_fields) -> dict:
    """``tasks`` on a small audio cap, text cap, MultiModel body and one language net."""
    space = {**MultiModelBody.toy, "name": "multimodel", "width": 16, "expert_width": 16}
    return {
        "name": "asr",
        "out_dir": str(tmp_path),
        "tasks": tasks,
        "model": {
            "width": 16,
            "modalities": {
                "audio": {
                    "name": "audio_spectral",
                    "log_mel": {"n_mels": 16},
                    "block_channels": [4, 8],
                },
                "text": {"name": "text_encoder", "embed_dim": 16, "layers": 1, "ff_dim": 32},
            },
            "space": {**space, "heads": 2, "max_len": 12},
            "outputs": {"text": {"name": "language"}},
        },
        "train": {"progress": False, "sampler": "all", **train_fields},
    }


def test_speech_shares_one_vocabulary_with_text_tasks(toys, tmp_path):
    """The shared tokenizer is fitted on the transcripts too: their words are single tokens,
    and both tasks' targets carry its digest, so they write through one language net."""
    data = {"vocabulary": "subwords", "tokenizer": "bpe", "vocab_size": 300, "max_len": 12}
    tasks = {
        "asr": {"kind": "seq2seq", "modality": "audio", "output": "text",
                "data": {"source": "tones", **data}},
        "en_de": {"kind": "seq2seq", "modality": "text", "output": "text",
                  "data": {"source": "phrases", **data, "seq_len": 6}},
    }  # fmt: skip
    cfg = load_config(data=asr_config(tmp_path, tasks, max_steps=1))
    shared = shared_tokenizers(cfg, {})
    assert shared["asr"] == shared["en_de"]
    tokenizer = tokenizer_from_state(shared["asr"]["tokenizer"])
    assert len(tokenizer.encode("ko ba mu")) == 3  # "ko", " ba", " mu": a token each
    assert len(tokenizer.encode("owl eins")) == 2
    asr = Transcripts.prepare("tones", cfg.tasks["asr"].data.config, None, 0, "k", shared["asr"])
    mt = Pairs.prepare("phrases", cfg.tasks["en_de"].data.config, None, 0, "k", shared["en_de"])
    assert asr.target == mt.target  # one vocabulary digest, size and length


def test_speech_recognition_overfits_a_few_utterances_to_exact_transcripts(toys, tmp_path):
    tasks = {
        "asr": {"kind": "seq2seq", "modality": "audio", "output": "text",
                "data": {"source": "tones", "tokenizer": "char", "vocab_size": 16,
                         "max_len": 10}},
    }  # fmt: skip
    train_fields = {"batch_size": 12, "lr": 3e-3, "warmup_steps": 10, "epochs": 24}
    result = train(load_config(data=asr_config(tmp_path, tasks, **train_fields)))
    metrics = result.metrics["validation"]["asr"]  # the training utterances, decoded greedily
    assert metrics["exact_match"] == 1.0 and metrics["wer"] == metrics["cer"] == 0.0, metrics
    task = result.tasks[0]
    batch = task.data.splits["validation"].get(torch.arange(len(SENTENCES)))
    result.model.eval()
    greedy = result.model.predict(0, batch)
    beam = result.model.predict(0, batch, Decoding(beam_size=3))
    assert task.texts(greedy) == task.texts(beam) == task.texts(batch["y"])
    assert sorted(task.texts(batch["y"])) == sorted(SENTENCES)


def load_heard_once(data_dir=None) -> TranscribedAudio:
    """Three of the tone sentences, all in the test split (as real_speech_en)."""
    empty, said = AudioClips.of([]), SENTENCES[:3]
    return TranscribedAudio(
        audio={
            "train": empty,
            "validation": empty,
            "test": AudioClips.of([spoken(s) for s in said]),
        },
        transcripts={"train": [], "validation": [], "test": said},
        names={"train": [], "validation": [], "test": [f"{i}.wav" for i in range(3)]},
    )


def test_a_test_only_set_is_read_with_a_trained_tokenizer_and_never_fits_one(toys):
    dataset("heard_once", kind="audio", splits=TranscribedAudio)(load_heard_once)
    cfg = Transcripts.Config(tokenizer="char", vocab_size=16, max_len=10)
    trained = Transcripts.prepare("tones", cfg, None, 0, "k", {})
    data = Transcripts.prepare("heard_once", cfg, None, 0, "tasks.asr.data", trained.state)
    assert [len(s) for s in data.splits.values()] == [0, 0, 3]
    assert data.target == trained.target  # the trained tokenizer's ids
    batch = data.splits["test"].get(torch.arange(3))
    ids = [y[m].tolist()[:-1] for y, m in zip(batch["y"], batch["y_mask"], strict=True)]
    assert sorted(map(data.detokenize, ids)) == sorted(SENTENCES[:3])  # <eos> dropped
    message = r"^tasks.asr.data.source: heard_once has no training utterances to fit a tokenizer"
    with pytest.raises(ConfigError, match=message + r" .*tasks.asr.data.source=heard_once\)$"):
        Transcripts.prepare("heard_once", cfg, None, 0, "tasks.asr.data", {})
