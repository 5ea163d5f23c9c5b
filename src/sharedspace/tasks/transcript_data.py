"""Speech recognition as a sequence-to-sequence task reads it: an utterance in, its transcript out.

The ``transcripts`` view reads any ``TranscribedAudio`` dataset: ``x`` the utterance's int16
samples padded to the batch's longest (``AudioClips.batch``, as keyword spotting reads them),
``y`` its transcript's tokens then ``<eos>``. Every task reports word and character error rates
of its decoded transcripts (``data.word_errors``) beside exact match and BLEU.

Tokens: byte-level BPE by default, MultiModel's choice (its speech problem wrote the same 8k
subwords as its translation and parsing problems): with a shared ``vocabulary`` (``texts`` gives
the training transcripts to fit it on) speech recognition writes through the one language net
that translation and captioning write through, which is what joint training can share. ``char``
(one id per character) suits speech recognition trained alone: a small softmax and no word it
cannot spell, at about five times as many decoding steps. Either writes a transcript back
exactly, so the error rates read what the decoder wrote.

Utterances longer than ``max_seconds`` or with a transcript longer than ``max_len`` tokens are
dropped, never truncated (a cut transcript teaches stopping mid-sentence, cut audio asks for words
it cannot hear); dropped validation or test utterances are warned of, as long pairs are. A split
the dataset leaves empty stays empty: ``real_speech_en`` is a test set only, read with the tokenizer
of a run trained elsewhere (``sharedspace evaluate RUN tasks.<t>.data.source=real_speech_en``).
"""

import functools
from dataclasses import dataclass
from typing import ClassVar

import torch

from sharedspace.data import TOKENIZERS, Tokenizer, tokenizer_from_state
from sharedspace.data.audio import SAMPLE_RATE
from sharedspace.data.specs import TokensTarget
from sharedspace.data.tokenizers import EOS_ID
from sharedspace.data.transcribed_audio import TranscribedAudio
from sharedspace.data.word_errors import WORD_ERRORS, jiwer
from sharedspace.errors import ConfigError
from sharedspace.tasks.audio_data import AudioSplit, audio_spec
from sharedspace.tasks.data import (
    SPLITS,
    DataView,
    Sizes,
    Split,
    TaskData,
    load_dataset,
    warn_unscored,
)
from sharedspace.tasks.seq2seq import SequenceToSequence
from sharedspace.tasks.text_data import VocabularyConfig, padded, shuffled, vocabulary
from sharedspace.tasks.views import DATA_VIEWS


@dataclass
class TranscriptSplit(AudioSplit):
    """Utterances ``index`` (N,) of ``clips``; ``labels`` (N, L) their transcripts' ids padded
    with ``<pad>``, ``lengths`` (N,) tokens each, ``<eos>`` included."""

    lengths: torch.Tensor

    def get(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """``x`` (B, T) int16 padded to the batch's longest utterance, ``x_mask`` (B, T),
        ``y`` (B, L) int64, ``y_mask`` (B, L) True at real tokens."""
        batch = super().get(idx)
        batch["y_mask"] = torch.arange(self.labels.shape[1]) < self.lengths[idx][:, None]
        return batch

    def first(self, n: int | None) -> "TranscriptSplit":
        return TranscriptSplit(self.clips, self.index[:n], self.labels[:n], self.lengths[:n])


@functools.lru_cache(maxsize=8)
def _fitted(source: str, data_dir: str | None, kind: str, vocab_size: int) -> Tokenizer:
    """One tokenizer per (dataset, kind, size), fitted on its training transcripts."""
    return TOKENIZERS.get(kind)(load_dataset(source, data_dir).transcripts["train"], vocab_size)


@DATA_VIEWS.register(SequenceToSequence)
class Transcripts(DataView):
    """Utterances → their transcripts (speech recognition)."""

    kind = "audio"
    target = "tokens"
    name = "transcripts"
    reads = TranscribedAudio

    @dataclass
    class Config(VocabularyConfig):
        positive: ClassVar[tuple[str, ...]] = (*Sizes.positive, "max_len")

        tokenizer: str = "bpe"  # bpe: MultiModel's shared subwords; char: one id per character
        vocab_size: int = 8000  # MultiModel's 8k subwords, as the pairs view
        max_len: int = 56  # transcript tokens, <eos> included; a longer one is dropped
        max_seconds: float = 15.0  # the longest utterance read; a longer one is dropped

        def __post_init__(self) -> None:
            super().__post_init__()
            if not 0 < self.max_seconds < float("inf"):
                raise ConfigError(f"max_seconds: expected a number > 0, got {self.max_seconds!r}")

    @classmethod
    def texts(cls, source, cfg, data_dir):
        return {f"{source}.transcripts": load_dataset(source, data_dir).transcripts["train"]}

    @classmethod
    def prepare(cls, source, cfg, data_dir, seed, key, state):
        jiwer()  # its error rates are reported after training: a missing package fails now
        data: TranscribedAudio = load_dataset(source, data_dir)
        if "tokenizer" in state:
            tokenizer = tokenizer_from_state(state["tokenizer"])
        elif not data.transcripts["train"]:
            raise ConfigError(
                f"{key}.source: {source} has no training utterances to fit a tokenizer on (a "
                "test set: evaluate a trained run on it, sharedspace evaluate RUN "
                f"{key}.source={source})"
            )
        else:
            tokenizer = _fitted(source, data_dir, cfg.tokenizer, cfg.vocab_size)
        longest = cfg.max_seconds * SAMPLE_RATE
        splits: dict[str, Split] = {}
        for i, split in enumerate(SPLITS):
            clips = data.audio[split]
            encoded = tokenizer.encode_batch(data.transcripts[split])
            fits = [
                (j, [*ids, EOS_ID])
                for j, (ids, n) in enumerate(zip(encoded, clips.lengths.tolist(), strict=True))
                if len(ids) < cfg.max_len and n <= longest
            ]
            why = f"longer than max_seconds {cfg.max_seconds} or max_len {cfg.max_len} tokens"
            warn_unscored(key, split, len(fits), len(encoded), why)
            if encoded and not fits:  # an empty split (a test-only set's) stays empty
                raise ConfigError(
                    f"{key}: the {split} split of {source} has no utterance within max_seconds "
                    f"{cfg.max_seconds} and max_len {cfg.max_len} ({len(encoded)} before the cap)"
                )
            order = shuffled(len(fits), seed + i)  # datasets list utterances by name: mix them
            index = torch.tensor([j for j, _ in fits], dtype=torch.long)[order]
            ids, lengths = padded([t for _, t in fits], cfg.max_len)
            part = TranscriptSplit(clips, index, ids[order], lengths[order])
            splits[split] = part.first(cfg.train_size if split == "train" else cfg.eval_size)
        target = TokensTarget(tokenizer.vocab_size, cfg.max_len, vocabulary(tokenizer))
        spec = audio_spec(source, data_dir)
        state = {"tokenizer": tokenizer.state_dict()}
        return TaskData(splits, spec, target, state, tokenizer.decode, score_text=WORD_ERRORS)
