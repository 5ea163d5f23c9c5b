"""Modality caps: map one modality's raw input to the shared width, blind to the task."""

from sharedspace.modalities.audio import AudioSpectral
from sharedspace.modalities.base import MODALITIES, build_modality_cap, cap_reads
from sharedspace.modalities.bits import Bits
from sharedspace.modalities.embedding import TextEmbedding
from sharedspace.modalities.features import Features
from sharedspace.modalities.image import ImageCNN
from sharedspace.modalities.pixels import Pixels
from sharedspace.modalities.resnet import ImageResNet
from sharedspace.modalities.text import TextEncoder, TextTransformer
from sharedspace.modalities.xception import ImageXception

__all__ = [
    "MODALITIES",
    "AudioSpectral",
    "Bits",
    "Features",
    "ImageCNN",
    "ImageResNet",
    "ImageXception",
    "Pixels",
    "TextEmbedding",
    "TextEncoder",
    "TextTransformer",
    "build_modality_cap",
    "cap_reads",
]
