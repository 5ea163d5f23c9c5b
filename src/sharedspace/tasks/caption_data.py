"""Captioned images as a sequence-to-sequence task reads them: an image in, its caption out.

One tokenizer per (dataset, language, tokenizer kind, vocabulary size), fitted once on the
training captions of that language (or restored from a checkpoint); a caption is its tokens then
``<eos>``, padded with ``<pad>``; a longer caption than ``max_len`` leaves its image out, as the
``pairs`` view drops long pairs (a truncated caption teaches stopping mid-sentence; left-out
validation or test images are warned of). Images keep the dataset's uint8
(3, S, S) and one spec per dataset — per-channel mean/std of all its training images, computed
once — so tasks in several languages on one dataset share the image cap. An image with no caption
in the task's language is left out of that task.
"""

import functools
from dataclasses import dataclass
from typing import ClassVar

import torch

from sharedspace.data import TOKENIZERS, Tokenizer, tokenizer_from_state
from sharedspace.data.captions import CaptionedImages
from sharedspace.data.specs import ImageSpec, TokensTarget
from sharedspace.data.tokenizers import EOS_ID
from sharedspace.errors import ConfigError
from sharedspace.tasks.data import (
    SPLITS,
    DataView,
    Sizes,
    Split,
    TaskData,
    load_dataset,
    warn_unscored,
)
from sharedspace.tasks.image_data import images_spec
from sharedspace.tasks.seq2seq import SequenceToSequence
from sharedspace.tasks.text_data import VocabularyConfig, padded, shuffled, vocabulary
from sharedspace.tasks.views import DATA_VIEWS


@dataclass
class CaptionSplit:
    """Images and their captions as token ids padded with ``<pad>``."""

    images: torch.Tensor  # (N, 3, S, S) uint8
    captions: torch.Tensor  # (N, L) int64, <eos> ends each caption
    lengths: torch.Tensor  # (N,) tokens per caption, <eos> included

    def __len__(self) -> int:
        return len(self.images)

    def get(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """``x`` (B, 3, S, S) uint8, ``y`` (B, L) int64, ``y_mask`` (B, L) True at real tokens."""
        y = self.captions[idx]
        mask = torch.arange(y.shape[1]) < self.lengths[idx][:, None]
        return {"x": self.images[idx], "y": y, "y_mask": mask}

    def first(self, n: int | None) -> "CaptionSplit":
        return CaptionSplit(self.images[:n], self.captions[:n], self.lengths[:n])


@functools.lru_cache(maxsize=8)
def caption_image_spec(source: str, data_dir: str | None) -> ImageSpec:
    """The spec of all of a captioned dataset's training images."""
    return images_spec(load_dataset(source, data_dir).images["train"])


def _training_captions(source: str, data_dir: str | None, language: str) -> list[str]:
    """The training captions in ``language`` (none when the dataset lacks it)."""
    captions = load_dataset(source, data_dir).captions["train"].get(language, [])
    return [c for c in captions if c is not None]


@functools.lru_cache(maxsize=8)
def _fitted(source: str, data_dir: str | None, language: str, kind: str, size: int) -> Tokenizer:
    return TOKENIZERS.get(kind)(_training_captions(source, data_dir, language), size)


@DATA_VIEWS.register(SequenceToSequence)
class Captions(DataView):
    """Images → their captions in one language."""

    kind = "image"
    target = "tokens"
    name = "captions"
    reads = CaptionedImages

    @dataclass
    class Config(VocabularyConfig):
        positive: ClassVar[tuple[str, ...]] = (*Sizes.positive, "max_len")

        language: str = "en"  # which captions: a language the dataset has (en, de, fr, …)
        vocab_size: int = 4000  # size cap of the tokenizer, specials included
        max_len: int = 24  # caption tokens, <eos> included; an image of a longer one is left out

    @classmethod
    def texts(cls, source, cfg, data_dir):
        return {f"{source}.{cfg.language}": _training_captions(source, data_dir, cfg.language)}

    @classmethod
    def prepare(cls, source, cfg, data_dir, seed, key, state):
        data = load_dataset(source, data_dir)
        if not isinstance(data, CaptionedImages):
            raise ConfigError(f"{key}.source: {source!r} has no captions (a captioned dataset)")
        if cfg.language not in data.languages:
            known = ", ".join(data.languages)
            raise ConfigError(f"{key}.language: {cfg.language!r} — {source} has {known}")
        captions = {split: data.captions[split][cfg.language] for split in SPLITS}
        kept = {
            split: [j for j, c in enumerate(captions[split]) if c is not None] for split in SPLITS
        }
        empty = [split for split in SPLITS if not kept[split]]
        if empty:
            raise ConfigError(
                f"{key}: {source} has no {cfg.language} captions in {', '.join(empty)}"
            )
        if "tokenizer" in state:
            tokenizer = tokenizer_from_state(state["tokenizer"])
        else:
            tokenizer = _fitted(source, data_dir, cfg.language, cfg.tokenizer, cfg.vocab_size)
        splits: dict[str, Split] = {}
        for i, split in enumerate(SPLITS):
            encoded = tokenizer.encode_batch([captions[split][j] for j in kept[split]])
            pairs = zip(kept[split], encoded, strict=True)
            fits = [(j, t) for j, t in pairs if len(t) < cfg.max_len]
            why = f"captioned in more than max_len {cfg.max_len} tokens (<eos> included)"
            warn_unscored(key, split, len(fits), len(encoded), why)
            if not fits:
                raise ConfigError(f"{key}.max_len: {cfg.max_len} — every {split} caption is longer")
            rows = [j for j, _ in fits]
            ids, lengths = padded([[*t, EOS_ID] for _, t in fits], cfg.max_len)
            order = shuffled(len(rows), seed + i)  # sources list images by name: mix them
            images = data.images[split][torch.tensor(rows)[order]]
            data_split = CaptionSplit(images, ids[order], lengths[order])
            splits[split] = data_split.first(cfg.train_size if split == "train" else cfg.eval_size)
        target = TokensTarget(tokenizer.vocab_size, cfg.max_len, vocabulary(tokenizer))
        spec = caption_image_spec(source, data_dir)
        state = {"tokenizer": tokenizer.state_dict()}
        return TaskData(splits, spec, target, state, detokenize=tokenizer.decode)
