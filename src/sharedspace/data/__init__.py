"""Datasets as in-memory tensors or document lists, tokenizers, and verified downloads.

Importing this package registers every data kind and target kind (``DATA_KINDS``,
``TARGET_KINDS``), every dataset in ``DATASETS`` (loaders and generators of bit strings alike)
and every tokenizer in ``TOKENIZERS``.
"""

from sharedspace.data import (  # noqa: F401  (register the loaders)
    bits,
    captioning,
    captions,
    cifar,
    coco,
    czsl,
    debian,
    emoji,
    emoji_pairs,
    fashion_mnist,
    gettext,
    ktuberling,
    openclipart,
    pair_features,
    parallel,
    real_speech,
    scene_objects,
    silver_trees,
    spoken_words_en,
    state_pairs,
    synthetic_speech,
    text,
    transcribed_audio,
    treebank,
    tuxpaint,
)
from sharedspace.data.datasets import (
    DATASETS,
    Dataset,
    ImageSplits,
    ParallelSplits,
    TextSplits,
    dataset,
)
from sharedspace.data.download import DOWNLOADS, download
from sharedspace.data.specs import DATA_KINDS, TARGET_KINDS
from sharedspace.data.tokenizers import TOKENIZERS, Tokenizer, encode_stream, tokenizer_from_state

__all__ = [
    "DATASETS",
    "DATA_KINDS",
    "DOWNLOADS",
    "TARGET_KINDS",
    "TOKENIZERS",
    "Dataset",
    "ImageSplits",
    "ParallelSplits",
    "TextSplits",
    "Tokenizer",
    "dataset",
    "download",
    "encode_stream",
    "tokenizer_from_state",
]
