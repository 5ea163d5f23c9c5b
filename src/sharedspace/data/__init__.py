"""Datasets as in-memory tensors or document lists, tokenizers, and verified downloads.

Importing this package registers every loader in ``IMAGE_DATASETS`` / ``TEXT_CORPORA``, every
generator of bit strings in ``BIT_SOURCES`` and every tokenizer in ``TOKENIZERS``.
"""

from sharedspace.data import cifar, fashion_mnist, text  # noqa: F401  (register the loaders)
from sharedspace.data.bits import BIT_SOURCES
from sharedspace.data.datasets import IMAGE_DATASETS, TEXT_CORPORA, ImageSplits, TextSplits
from sharedspace.data.download import DOWNLOADS, download
from sharedspace.data.tokenizers import TOKENIZERS, Tokenizer, encode_stream, tokenizer_from_state

__all__ = [
    "BIT_SOURCES",
    "DOWNLOADS",
    "IMAGE_DATASETS",
    "TEXT_CORPORA",
    "TOKENIZERS",
    "ImageSplits",
    "TextSplits",
    "Tokenizer",
    "download",
    "encode_stream",
    "tokenizer_from_state",
]
