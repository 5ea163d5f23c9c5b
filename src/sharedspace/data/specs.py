"""What a modality cap needs to know of its input, described by the data (never by the model).

Tasks that share a cap must give it equal specs: images with one set of statistics (computed once
per dataset), text from one vocabulary and of one length.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class ImageSpec:
    """uint8 images (C, H, W); per-channel mean/std of the dataset's training images, 0–1 scale."""

    channels: int
    height: int
    width: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    kind: str = "image"


@dataclass(frozen=True)
class TextSpec:
    """Token ids below ``vocab_size``, at most ``seq_len`` per example; ``vocabulary`` is a digest
    of the tokenizer, so two tasks share a cap only when their ids mean the same tokens."""

    vocab_size: int
    seq_len: int
    vocabulary: str = ""
    kind: str = "text"


@dataclass(frozen=True)
class BitsSpec:
    """uint8 strings of ``bits`` values in {0, 1}."""

    bits: int
    kind: str = "bits"
