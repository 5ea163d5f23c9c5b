"""What the data says about itself, never the model: an input spec per data kind, a target spec
per target kind.

*Data kinds* (``DATA_KINDS``: image, text, bits, …) name what a dataset gives as input; a kind is
its spec class, registered under the kind's name. A modality cap reads one data kind and is built
from its spec; tasks that share a cap must give it equal specs (images with one set of statistics,
computed once per dataset; text from one vocabulary and of one length). Every spec class has
``toy()`` (a small spec) and ``example(batch_size)`` (a batch of inputs it describes), so the
registry-wide tests run over a new kind without a table.

*Target kinds* (``TARGET_KINDS``: classes, token, tokens, pixels, boxes) name what a task's ``y``
is, so image → text, audio → text and text → text in another tokenizer are all describable, and an
output is sized from the target, not from the input. Every target spec class has ``toy()`` (a
small spec), from which the registry-wide output-net tests build each net.
"""

from dataclasses import dataclass

import torch

from sharedspace.registry import Registry

DATA_KINDS: Registry[type] = Registry("data kind")
TARGET_KINDS: Registry[type] = Registry("target kind")


@DATA_KINDS.register("image")
@dataclass(frozen=True)
class ImageSpec:
    """uint8 images (C, H, W); per-channel mean/std of the dataset's training images, 0–1 scale."""

    channels: int
    height: int
    width: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    kind: str = "image"

    @classmethod
    def toy(cls) -> "ImageSpec":
        return cls(3, 32, 32, (0.5,) * 3, (0.25,) * 3)

    def example(
        self, batch_size: int, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """``x``: (B, C, H, W) uint8."""
        shape = (batch_size, self.channels, self.height, self.width)
        return {"x": torch.randint(0, 256, shape, dtype=torch.uint8, generator=generator)}


@DATA_KINDS.register("text")
@dataclass(frozen=True)
class TextSpec:
    """Token ids below ``vocab_size``, at most ``seq_len`` per example; ``vocabulary`` is a digest
    of the tokenizer, so two tasks share a cap only when their ids mean the same tokens."""

    vocab_size: int
    seq_len: int
    vocabulary: str = ""
    kind: str = "text"

    @classmethod
    def toy(cls) -> "TextSpec":
        return cls(vocab_size=50, seq_len=7)

    def example(
        self, batch_size: int, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """``x``: (B, T) int64 ids above the specials; ``x_mask``: (B, T) bool, True at real
        positions — lengths T, T-1, … (cycling), so the first row is full and the others padded.
        Positions behind the mask hold ids too, so a cap that reads them shows it."""
        x = torch.randint(3, self.vocab_size, (batch_size, self.seq_len), generator=generator)
        lengths = self.seq_len - torch.arange(batch_size) % self.seq_len  # (B,) in 1..T
        return {"x": x, "x_mask": torch.arange(self.seq_len) < lengths[:, None]}


@DATA_KINDS.register("bits")
@dataclass(frozen=True)
class BitsSpec:
    """uint8 strings of ``bits`` values in {0, 1}."""

    bits: int
    kind: str = "bits"

    @classmethod
    def toy(cls) -> "BitsSpec":
        return cls(20)

    def example(
        self, batch_size: int, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """``x``: (B, bits) uint8 in {0, 1}."""
        shape = (batch_size, self.bits)
        return {"x": torch.randint(0, 2, shape, dtype=torch.uint8, generator=generator)}


@DATA_KINDS.register("audio")
@dataclass(frozen=True)
class AudioSpec:
    """Mono int16 waveforms at ``sample_rate``, at most ``max_samples`` each, padded with a mask;
    ``mean`` and ``std`` of the dataset's training samples on the −1…1 scale (int16 / 32768), the
    level the audio cap standardises by (as an image cap by its dataset's statistics)."""

    sample_rate: int
    max_samples: int
    mean: float
    std: float
    kind: str = "audio"

    @classmethod
    def toy(cls) -> "AudioSpec":
        return cls(sample_rate=16000, max_samples=3200, mean=0.0, std=0.1)

    def example(
        self, batch_size: int, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """``x``: (B, max_samples) int16 noise of about ``std``; ``x_mask``: (B, max_samples)
        bool, True at real samples — the first row full, the others shorter by a quarter each
        (cycling), noise behind the mask too, so a cap that reads it shows it."""
        shape = (batch_size, self.max_samples)
        x = torch.randn(shape, generator=generator) * self.std * 32768
        lengths = self.max_samples - (torch.arange(batch_size) % 4) * (self.max_samples // 4)
        mask = torch.arange(self.max_samples) < lengths[:, None]
        return {"x": x.clamp(-32768, 32767).to(torch.int16), "x_mask": mask}


@DATA_KINDS.register("features")
@dataclass(frozen=True)
class FeatureSpec:
    """float32 feature vectors of ``dim`` values (a frozen network's image features);
    ``nonnegative``: every training vector is ≥ 0 (features taken after a ReLU), which a
    generator of such features reproduces with a ReLU of its own."""

    dim: int
    nonnegative: bool = False
    kind: str = "features"

    @classmethod
    def toy(cls) -> "FeatureSpec":
        return cls(dim=12)

    def example(
        self, batch_size: int, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """``x``: (B, dim) float32."""
        x = torch.randn(batch_size, self.dim, generator=generator)
        return {"x": x.relu() if self.nonnegative else x}


@TARGET_KINDS.register("classes")
@dataclass(frozen=True)
class ClassesTarget:
    """``y``: (B,) int64 class ids, below ``len(classes)``."""

    classes: tuple[str, ...]
    kind: str = "classes"

    @classmethod
    def toy(cls) -> "ClassesTarget":
        return cls(("cat", "dog", "bird", "fish", "frog"))


@TARGET_KINDS.register("pairs")
@dataclass(frozen=True)
class PairsTarget:
    """``y``: (B,) int64 ids of attribute–object pairs: pair i is (``attributes[pairs[i][0]]``,
    ``objects[pairs[i][1]]``); ``sets[i]`` says where it is trained or scored: "seen" (training
    pictures exist), "validation" or "test" (unseen: only that split's pictures show it)."""

    attributes: tuple[str, ...]
    objects: tuple[str, ...]
    pairs: tuple[tuple[int, int], ...]
    sets: tuple[str, ...]
    kind: str = "pairs"

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(f"{self.attributes[a]} {self.objects[o]}" for a, o in self.pairs)

    @classmethod
    def toy(cls) -> "PairsTarget":
        pairs = ((0, 0), (1, 1), (2, 0), (0, 1), (1, 0), (2, 1))
        sets = ("seen", "seen", "seen", "seen", "validation", "test")
        return cls(("red", "small", "striped"), ("shoe", "bag"), pairs, sets)


@TARGET_KINDS.register("token")
@dataclass(frozen=True)
class TokenTarget:
    """``y``: (B,) int64, one token id per example (the next token), below ``vocab_size``;
    ``vocabulary`` is the tokenizer's digest (as in TextSpec)."""

    vocab_size: int
    vocabulary: str = ""
    kind: str = "token"

    @classmethod
    def toy(cls) -> "TokenTarget":
        return cls(vocab_size=50)


@TARGET_KINDS.register("tokens")
@dataclass(frozen=True)
class TokensTarget:
    """``y``: (B, L) int64 token ids padded with <pad>, L ≤ ``max_len`` (<eos> included), and
    ``y_mask`` (B, L) bool, True at real positions; ids below ``vocab_size`` of the tokenizer
    whose digest is ``vocabulary`` — the input's or another one (translation)."""

    vocab_size: int
    max_len: int
    vocabulary: str = ""
    kind: str = "tokens"

    @classmethod
    def toy(cls) -> "TokensTarget":
        return cls(vocab_size=50, max_len=6)


@TARGET_KINDS.register("pixels")
@dataclass(frozen=True)
class PixelsTarget:
    """Images of ``shape`` (C, H, W) on the 0–1 scale (reconstruction: the input itself)."""

    shape: tuple[int, ...]
    kind: str = "pixels"

    @classmethod
    def toy(cls) -> "PixelsTarget":
        return cls((3, 8, 8))


@TARGET_KINDS.register("boxes")
@dataclass(frozen=True)
class BoxesTarget:
    """A set of objects per image, padded to ``max_boxes``: ``y`` (B, G) int64 class ids below
    ``len(classes)``, −1 where there is no object; ``y_boxes`` (B, G, 4) float32 boxes as x0, y0,
    x1, y1 in pixels of the input image (x1, y1 exclusive), zeros where there is no object."""

    classes: tuple[str, ...]
    max_boxes: int
    kind: str = "boxes"

    @classmethod
    def toy(cls) -> "BoxesTarget":
        return cls(("cat", "dog", "bird"), max_boxes=4)
