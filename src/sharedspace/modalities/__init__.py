"""Modality caps: map one modality's raw input to the shared width, blind to the task."""

from sharedspace.modalities.base import MODALITIES, build_modality_cap
from sharedspace.modalities.image import ImageCNN, ImageSpec
from sharedspace.modalities.text import TextSpec, TextTransformer

__all__ = [
    "MODALITIES",
    "ImageCNN",
    "ImageSpec",
    "TextSpec",
    "TextTransformer",
    "build_modality_cap",
]
