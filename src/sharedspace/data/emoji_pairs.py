"""Real attribute–object pairs from Noto Color Emoji (``emoji``): the artists' own variants of one
emoji, named by Unicode's ``emoji-test.txt``, as a sanity set for zero-shot compositional
recognition (``attribute_pairs``) whose attributes are drawn by people, not by our transforms.

- ``emoji_skin_tones``: the 5 skin tones (light … dark, as emoji-test.txt names them) × every
  emoji with all 5 single-tone forms the font draws as one glyph ("thumbs up: light skin tone"),
  as 5 different pictures (not the snowboarder, whose 5 are one); a form with two tones ("kiss:
  light skin tone, dark skin tone") or a tone and hair ("man: light skin tone, beard") is not one
  of them. The tone shows on a small part of some (the jockey of "horse racing", "person in bed":
  the mean colours of their tones differ by 1–2 levels of 255), most on the whole emoji (hands).
- ``emoji_genders``: man / woman / person × every emoji with all three forms, "man X",
  "woman X" and "person X" (or plain "X": "technologist") — professions, gestures, activities;
  the default (yellow) tone only.

Each pair has one artwork, so pictures differ by augmentation only (original, drawn afresh for
every picture from a seeded generator, per split, so no augmentation is shared between splits):
a square crop of 80–100 % of the emoji's longer side at a random place, shown at 60–100 % of the
picture's side at a random place inside it (never mirrored: "left-facing fist" has a right-facing
twin), on a background as ``scenes`` draws them (a crop of scikit-learn's two photographs, a flat
colour or a gradient; 1/2, 1/4, 1/4), 32×32 RGB. The pairs are split by ``split_pairs`` (split
seed 0) with ``len(pairs) // UNSEEN_SHARE`` validation-unseen and as many test-unseen pairs;
``train`` holds PER_PAIR["train"] pictures of each seen pair, ``validation`` and ``test``
PER_PAIR[split] of each seen pair and of each of their own unseen pairs, shuffled (the skin
tones, with 7× the pairs, SKIN_TONES_PER_PAIR: fewer of each, to load in reasonable time).

Measured with Debian 12's packages (fonts-noto-color-emoji 2.042, unicode-data 15.0):

| dataset            | objects | pairs: seen / val-unseen / test-unseen | train  | val    | test   |
|--------------------|--------:|----------------------------------------|-------:|-------:|-------:|
| `emoji_skin_tones` |     280 | 1,400: 934 / 233 / 233                 | 18,680 | 11,670 | 11,670 |
| `emoji_genders`    |      65 | 195: 131 / 32 / 32                     |  7,860 |  3,260 |  3,260 |

Loading, measured on the 2-core machine with a training run beside it: drawing the emoji
(``emoji.emoji_items``, all 3,655) takes 4 s once per process (``emoji_glyphs`` keeps them); the
pictures are drawn on every load, about 0.5 ms each (0.2 ms of it the background, drawn one at a
time by ``scenes.draw_background``): 8 s for ``emoji_genders``, 23 s for ``emoji_skin_tones``.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch
import torch.nn.functional as F

from sharedspace.data.attribute_pairs import PairImages, split_pairs
from sharedspace.data.captions import IMAGE_SIZE, SPLIT_NAMES
from sharedspace.data.datasets import dataset
from sharedspace.data.emoji import emoji_items
from sharedspace.data.scene_objects import Cutouts, photographs
from sharedspace.data.scenes import draw_background, photo_pyramid
from sharedspace.errors import DataError

TONES = ("light", "medium-light", "medium", "medium-dark", "dark")
GENDERS = ("man", "woman", "person")
# ``thumbs up: light skin tone``: one tone, last; the base may itself hold ": "
TONE_NAME = re.compile(
    r"(?P<base>.+): (?P<tone>medium-light|medium-dark|light|medium|dark) skin tone"
)
# pictures of each pair of a split (module docstring)
PER_PAIR = {"train": 60, "validation": 20, "test": 20}
SKIN_TONES_PER_PAIR = {"train": 20, "validation": 10, "test": 10}
UNSEEN_SHARE = 6  # 1/6 of the pairs validation-unseen, 1/6 test-unseen
CROP = (0.8, 1.0)  # a crop's side, as a fraction of the emoji's longer side
SCALE = (0.6, 1.0)  # the crop's side in the picture, as a fraction of the picture's side
MIX = (0.5, 0.25, 0.25)  # photograph, flat colour, gradient backgrounds (``scenes``' default)
GLYPH_SIZE = 32  # the emoji's longer side before cropping: the picture's (a crop shows ≤ 1.25×)
SUPERSAMPLE = 2  # pictures are drawn at 2× and averaged down, so a shrunk emoji does not alias
CHUNK = 1024  # pictures drawn at once (about 100 MB of float32 at 2×)


@dataclass(frozen=True)
class Variants:
    """Emoji as a grid of attributes × objects: ``names[a][o]`` is the emoji-test.txt name of
    object o with attribute a ("thumbs up: dark skin tone")."""

    attributes: tuple[str, ...]
    objects: tuple[str, ...]
    names: tuple[tuple[str, ...], ...]  # [attribute][object]


def skin_tone_variants(names: Iterable[str]) -> Variants:
    """The 5 TONES × every base name that has all 5 single-tone forms among ``names``, the bases
    in the order of their first form."""
    forms: dict[str, dict[str, str]] = {}
    for name in names:
        if found := TONE_NAME.fullmatch(name):
            forms.setdefault(found["base"], {})[found["tone"]] = name
    bases = tuple(b for b, tones in forms.items() if len(tones) == len(TONES))
    return Variants(TONES, bases, tuple(tuple(forms[b][t] for b in bases) for t in TONES))


def gender_variants(names: Iterable[str]) -> Variants:
    """GENDERS × every X with "man X", "woman X" and "person X" (else plain "X") among
    ``names``, in the order of "man X"; X without a colon, so the default tone only."""
    known = list(names)
    present = set(known)
    objects, forms = [], []
    for name in known:
        rest = name.removeprefix("man ")
        if rest == name or ":" in rest or f"woman {rest}" not in present:
            continue
        person = next((p for p in (f"person {rest}", rest) if p in present), None)
        if person is not None:
            objects.append(rest)
            forms.append((name, f"woman {rest}", person))
    return Variants(GENDERS, tuple(objects), tuple(zip(*forms, strict=True)) or ((), (), ()))


def distinct_variants(variants: Variants, glyphs: Mapping[str, np.ndarray]) -> Variants:
    """``variants`` without the objects two of whose forms are the same picture in ``glyphs``
    (the font's snowboarder wears a helmet and goggles: its 5 skin tones are one artwork)."""
    keep = [
        o
        for o in range(len(variants.objects))
        if len({glyphs[row[o]].tobytes() for row in variants.names}) == len(variants.names)
    ]
    return Variants(
        variants.attributes,
        tuple(variants.objects[o] for o in keep),
        tuple(tuple(row[o] for o in keep) for row in variants.names),
    )


@lru_cache(maxsize=4)
def emoji_glyphs(data_dir: Path | None = None) -> Mapping[str, np.ndarray]:
    """emoji-test.txt name → the emoji as ``captions.cutout`` draws it ((4, 64, 64) uint8 RGBA,
    top left), for every emoji the font draws as one glyph; drawn once per process and
    ``data_dir`` (4–6 s). Shared between callers: do not modify."""
    items, _ = emoji_items(data_dir, rgba=True)
    return MappingProxyType({item.captions["en"]: item.image for item in items})


def emoji_variant_images(
    variants: Variants,
    glyphs: Mapping[str, np.ndarray],
    per_pair: Mapping[str, int] = PER_PAIR,
    split_seed: int = 0,
    seed: int = 0,
) -> PairImages:
    """Pictures of ``variants``' pairs (module docstring), ``per_pair[split]`` of each pair of a
    split, each split shuffled; ``glyphs`` maps every name of ``variants`` to its cutout.
    ``split_seed`` picks the split of the pairs, ``seed`` the pictures."""
    pairs = len(variants.attributes) * len(variants.objects)
    split = split_pairs(variants.attributes, variants.objects, pairs // UNSEEN_SHARE, split_seed)
    bank, sizes = _glyph_bank(variants, glyphs)
    photos = [photo_pyramid(p, IMAGE_SIZE) for p in photographs()]
    of_split = {
        "train": split.seen,
        "validation": split.seen + split.validation_unseen,
        "test": split.seen + split.test_unseen,
    }
    images, attributes, objects = {}, {}, {}
    for index, name in enumerate(SPLIT_NAMES):
        rng = np.random.default_rng((seed, index))  # one stream per split: none shared
        chosen = torch.tensor(of_split[name]).repeat_interleave(per_pair[name], dim=0)
        chosen = chosen[torch.from_numpy(rng.permutation(len(chosen)))].reshape(-1, 2)
        which = chosen[:, 0] * len(variants.objects) + chosen[:, 1]  # (N,) index into bank
        images[name] = augment(bank, sizes, which, rng, photos)
        attributes[name], objects[name] = chosen[:, 0].clone(), chosen[:, 1].clone()
    return PairImages(split, images, attributes, objects)


def _glyph_bank(
    variants: Variants, glyphs: Mapping[str, np.ndarray]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every pair's emoji, attribute-major: (A·O, 4, G, G) float32 RGBA in 0–1 with the colour
    premultiplied by alpha, its longer side GLYPH_SIZE, at the top left; and (A·O, 2) int64
    (h, w) of each one's visible box."""
    names = [name for row in variants.names for name in row]
    missing = [name for name in names if name not in glyphs]
    if missing:
        raise DataError(f"no picture of the emoji {missing[:3]} ({len(missing)} in all)")
    cutouts = np.stack([glyphs[name] for name in names]) if names else np.zeros((0, 4, 64, 64))
    rgba = torch.from_numpy(cutouts).float().div(255)
    rgba = torch.cat([rgba[:, :3] * rgba[:, 3:], rgba[:, 3:]], 1)
    rgba = F.interpolate(rgba, (GLYPH_SIZE, GLYPH_SIZE), mode="bilinear", antialias=True)
    visible = Cutouts.of(torch.from_numpy(cutouts), torch.zeros(len(names)), names).sizes
    return rgba.clamp(0, 1), (visible * GLYPH_SIZE + cutouts.shape[-1] - 1) // cutouts.shape[-1]


def augment(
    bank: torch.Tensor,
    sizes: torch.Tensor,
    which: torch.Tensor,
    rng: np.random.Generator,
    photos: list[list[torch.Tensor]],
) -> torch.Tensor:
    """One picture of each ``bank[which[i]]`` ((K, 4, G, G) premultiplied RGBA, its visible box
    ``sizes`` (K, 2) (h, w) at the top left): a random square crop of the emoji, scaled and
    placed in the picture, over a random background (module docstring). → (N, 3, S, S) uint8,
    S = IMAGE_SIZE; ``photos`` are ``scenes.photo_pyramid`` levels of the photographs."""
    n, size, glyph = len(which), IMAGE_SIZE, bank.shape[-1]
    h, w = sizes[which].double().T.numpy()
    side = np.maximum(h, w)
    crop = rng.uniform(*CROP, n) * side  # in the glyph's pixels
    x0 = (w - side) / 2 + rng.random(n) * (side - crop)  # the crop's top left (the emoji's
    y0 = (h - side) / 2 + rng.random(n) * (side - crop)  # square is centred on its box)
    shown = rng.uniform(*SCALE, n) * size  # the crop's side in the picture's pixels
    px, py = rng.random((2, n)) * (size - shown)  # its top left in the picture
    # a picture's normalised coordinate u (-1 to 1 across it) → the glyph's, g = scale·u + shift
    scale = size * crop / shown / glyph
    shift_x = 2 / glyph * (x0 + (size / 2 - px) * crop / shown) - 1
    shift_y = 2 / glyph * (y0 + (size / 2 - py) * crop / shown) - 1
    fine = size * SUPERSAMPLE
    u = (2 * np.arange(fine) + 1) / fine - 1  # (R,) the centres of the drawn pixels, R = 2·S
    glyph_x = torch.from_numpy((scale[:, None] * u + shift_x[:, None]).astype(np.float32))
    glyph_y = torch.from_numpy((scale[:, None] * u + shift_y[:, None]).astype(np.float32))
    pixels = np.arange(size)
    cover_x = _coverage(pixels, px, shown)  # (n, S): how much of each column the crop covers
    cover_y = _coverage(pixels, py, shown)
    weights = np.asarray(MIX) / sum(MIX)
    out = torch.empty((n, 3, size, size), dtype=torch.uint8)
    for start in range(0, n, CHUNK):
        rows = slice(start, start + CHUNK)
        glyphs = bank[which[rows]]  # (n, 4, G, G)
        gx, gy = glyph_x[rows, None, :], glyph_y[rows, :, None]  # (n, 1, R), (n, R, 1)
        grid = torch.stack(torch.broadcast_tensors(gx, gy), -1)  # (n, R, R, 2): x, y
        drawn = F.avg_pool2d(F.grid_sample(glyphs, grid, align_corners=False), SUPERSAMPLE)
        cover = torch.from_numpy(cover_y[rows, :, None] * cover_x[rows, None, :])
        drawn = drawn * cover[:, None]  # (n, 4, S, S): the crop alone; outside the glyph is clear
        background = np.stack([draw_background(rng, photos, size, weights) for _ in drawn])
        picture = torch.from_numpy(background) * (1 - drawn[:, 3:]) + drawn[:, :3]
        out[rows] = picture.mul(255).round().clamp(0, 255).to(torch.uint8)
    return out


def _coverage(pixels: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """(n, P) float32: the share of each pixel [p, p + 1) of ``pixels`` (P,) that each interval
    [start, start + length) of (n,) covers."""
    low = np.maximum(pixels[None], start[:, None])
    high = np.minimum(pixels[None] + 1, (start + length)[:, None])
    return np.clip(high - low, 0, 1).astype(np.float32)


@dataset("emoji_skin_tones", kind="image", splits=PairImages)
def load_emoji_skin_tones(data_dir: Path | None = None) -> PairImages:
    """Noto Color Emoji's 5 skin tones × the 280 emoji drawn in all of them: 1,400 pairs, 934
    seen, 233 validation-unseen and 233 test-unseen; 18,680 training pictures (seen pairs),
    11,670 validation and 11,670 test (seen and unseen pairs), (N, 3, 32, 32) uint8 (module
    docstring)."""
    glyphs = emoji_glyphs(data_dir)
    variants = distinct_variants(skin_tone_variants(glyphs), glyphs)
    return emoji_variant_images(variants, glyphs, SKIN_TONES_PER_PAIR)


@dataset("emoji_genders", kind="image", splits=PairImages)
def load_emoji_genders(data_dir: Path | None = None) -> PairImages:
    """Noto Color Emoji's man / woman / person forms × the 65 emoji drawn in all three: 195
    pairs, 131 seen, 32 validation-unseen and 32 test-unseen; 7,860 training pictures (seen
    pairs), 3,260 validation and 3,260 test, (N, 3, 32, 32) uint8 (module docstring)."""
    glyphs = emoji_glyphs(data_dir)
    return emoji_variant_images(distinct_variants(gender_variants(glyphs), glyphs), glyphs)
