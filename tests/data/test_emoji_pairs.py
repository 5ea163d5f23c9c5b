"""Noto Color Emoji's own variants as attribute–object pairs: the grids read from emoji-test.txt
names, the pictures drawn of stand-in glyphs, and the real font's skin tones and genders."""

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from sharedspace.data import DATASETS
from sharedspace.data.attribute_pairs import PairImages, split_pairs
from sharedspace.data.emoji_pairs import (
    GENDERS,
    TONES,
    UNSEEN_SHARE,
    Variants,
    distinct_variants,
    emoji_glyphs,
    emoji_variant_images,
    gender_variants,
    skin_tone_variants,
)

FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
TEST_FILE = Path("/usr/share/unicode/emoji/emoji-test.txt")
needs_emoji = pytest.mark.skipif(
    not (FONT.exists() and TEST_FILE.exists()),
    reason="needs `make data-multimodel` (fonts-noto-color-emoji and unicode-data)",
)
FEW = {"train": 3, "validation": 2, "test": 2}  # pictures per pair: quick to draw


def toned(base: str, tones: tuple[str, ...] = TONES) -> list[str]:
    return [f"{base}: {tone} skin tone" for tone in tones]


def test_skin_tones_keep_the_bases_with_all_five_single_tone_forms():
    names = [
        "thumbs up",
        *toned("thumbs up"),
        *toned("OK hand", TONES[:4]),  # a tone missing
        "kiss: light skin tone, dark skin tone",  # two people, two tones
        "man: light skin tone, beard",  # a tone and hair
        *toned("family: adult"),  # the base holds a colon itself
    ]
    variants = skin_tone_variants(names)
    assert variants.attributes == ("light", "medium-light", "medium", "medium-dark", "dark")
    assert variants.objects == ("thumbs up", "family: adult")
    assert variants.names[4] == ("thumbs up: dark skin tone", "family: adult: dark skin tone")


def test_genders_pair_man_woman_and_person_forms():
    names = [
        *("man technologist", "woman technologist", "technologist"),
        *("person frowning", "man frowning", "woman frowning"),
        *("man dancing", "woman dancing"),  # no person form
        *("merperson", "merman", "mermaid"),  # not "man X"
        *("man technologist: light skin tone", "woman technologist: light skin tone"),
        "technologist: light skin tone",  # toned forms are left out
    ]
    variants = gender_variants(names)
    assert variants.attributes == GENDERS == ("man", "woman", "person")
    assert variants.objects == ("technologist", "frowning")
    assert variants.names == (
        ("man technologist", "man frowning"),
        ("woman technologist", "woman frowning"),
        ("technologist", "person frowning"),
    )


def stand_ins(attributes: int, objects: int) -> tuple[Variants, dict[str, np.ndarray]]:
    """A grid of opaque squares, one colour per pair, as cutouts (4, 64, 64) at the top left."""
    names = tuple(tuple(f"a{a} o{o}" for o in range(objects)) for a in range(attributes))
    glyphs = {}
    for a in range(attributes):
        for o in range(objects):
            glyph = np.zeros((4, 64, 64), np.uint8)
            glyph[:, :48, :64] = np.array([40 * a, 20 * o, 255 - 40 * a, 255])[:, None, None]
            glyphs[names[a][o]] = glyph
    attribute_names = tuple(f"a{a}" for a in range(attributes))
    object_names = tuple(f"o{o}" for o in range(objects))
    return Variants(attribute_names, object_names, names), glyphs


def sizes(split) -> list[int]:
    return [len(split.seen), len(split.validation_unseen), len(split.test_unseen)]


def pair_counts(data, split: str) -> Counter:
    return Counter(zip(data.attributes[split].tolist(), data.objects[split].tolist(), strict=True))


def test_pictures_of_each_split_hold_its_pairs_drawn_afresh():
    variants, glyphs = stand_ins(5, 6)  # 30 pairs: 20 seen, 5 + 5 unseen
    data = emoji_variant_images(variants, glyphs, FEW)
    split = data.pairs
    assert split == split_pairs(variants.attributes, variants.objects, 30 // UNSEEN_SHARE)
    assert sizes(split) == [20, 5, 5]
    assert pair_counts(data, "train") == Counter({p: 3 for p in split.seen})
    for name, unseen in (("validation", split.validation_unseen), ("test", split.test_unseen)):
        assert pair_counts(data, name) == Counter({p: 2 for p in split.seen + unseen})
    for name, n in (("train", 60), ("validation", 50), ("test", 50)):
        images = data.images[name]
        assert images.shape == (n, 3, 32, 32) and images.dtype == torch.uint8
        assert data.attributes[name].dtype == data.objects[name].dtype == torch.int64
    assert data.train_images is data.images["train"]
    seen = {bytes(image.numpy()) for image in data.images["train"]}
    assert not seen & {bytes(image.numpy()) for image in data.images["validation"]}
    again = emoji_variant_images(variants, glyphs, FEW)
    assert all(torch.equal(data.images[s], again.images[s]) for s in data.images)
    other = emoji_variant_images(variants, glyphs, FEW, seed=1)
    assert not torch.equal(data.images["train"], other.images["train"])


def test_a_picture_shows_its_own_glyph():
    variants, glyphs = stand_ins(5, 6)
    data = emoji_variant_images(variants, glyphs, {"train": 40, "validation": 0, "test": 0})
    images = data.images["train"].float()
    blue_tone, red_tone = data.attributes["train"] == 0, data.attributes["train"] == 4
    # the emoji covers 36–100 % of each picture: its colour shows through the backgrounds
    assert images[blue_tone, 2].mean() > images[red_tone, 2].mean() + 30
    assert images[red_tone, 0].mean() > images[blue_tone, 0].mean() + 30


@pytest.fixture(scope="module")
def glyphs():
    return emoji_glyphs(None)


@needs_emoji
@pytest.mark.slow
def test_real_skin_tones_are_five_different_artworks_of_each_base(glyphs):
    every = skin_tone_variants(glyphs)
    variants = distinct_variants(every, glyphs)
    # Debian 12: fonts-noto-color-emoji 2.042, Unicode 15.0; the snowboarder's 5 are one picture
    assert len(every.objects) == 281
    assert set(every.objects) - set(variants.objects) == {"snowboarder"}
    assert {"thumbs up", "OK hand", "technologist", "kiss"} <= set(variants.objects)
    assert variants.names[0][variants.objects.index("thumbs up")] == "thumbs up: light skin tone"
    means = np.array(
        [[visible_mean(glyphs[name]) for name in row] for row in variants.names]
    )  # (5 tones, bases, RGB)
    gaps = np.linalg.norm(means[:, None] - means[None], axis=-1)  # (5, 5, bases)
    assert gaps[~np.eye(5, dtype=bool)].min() > 0.5  # every two tones of a base differ in colour
    brightness = means.mean(-1)  # (5, bases)
    assert (brightness[0] > brightness[4]).all()  # light skin is lighter than dark
    assert np.median(brightness[0] - brightness[4]) > 20


def visible_mean(cutout: np.ndarray) -> np.ndarray:
    """(3,) mean colour of a cutout's opaque pixels."""
    return cutout[:3, cutout[3] > 128].mean(1)


@needs_emoji
@pytest.mark.slow
def test_real_skin_tone_pictures_split_their_pairs(glyphs):
    variants = distinct_variants(skin_tone_variants(glyphs), glyphs)
    data = emoji_variant_images(variants, glyphs, FEW)
    split = data.pairs
    assert split == split_pairs(TONES, variants.objects, 1400 // UNSEEN_SHARE)
    assert sizes(split) == [934, 233, 233]
    assert split.name((4, variants.objects.index("thumbs up"))) == "dark thumbs up"
    assert set(pair_counts(data, "train")) == set(split.seen)
    assert set(split.validation_unseen) <= set(pair_counts(data, "validation"))
    assert set(split.test_unseen) <= set(pair_counts(data, "test"))
    assert data.images["test"].shape == ((934 + 233) * 2, 3, 32, 32)
    # the pictures of light-skinned pairs are brighter, over all their backgrounds
    images, tones = data.images["train"].float(), data.attributes["train"]
    assert images[tones == 0].mean() > images[tones == 4].mean() + 10


@needs_emoji
@pytest.mark.slow
def test_real_genders_pair_professions_and_gestures(glyphs):
    variants = distinct_variants(gender_variants(glyphs), glyphs)
    assert len(variants.objects) == 65
    assert {"technologist", "scientist", "cook", "frowning"} <= set(variants.objects)
    assert variants.names[2][variants.objects.index("frowning")] == "person frowning"
    data = emoji_variant_images(variants, glyphs, FEW)
    assert sizes(data.pairs) == [131, 32, 32]
    assert set(pair_counts(data, "train")) == set(data.pairs.seen)
    assert [len(data.images[s]) for s in ("train", "validation", "test")] == [393, 326, 326]


def test_both_are_registered_as_pair_images():
    for name in ("emoji_skin_tones", "emoji_genders"):
        entry = DATASETS.get(name)
        assert (entry.kind, entry.splits) == ("image", PairImages)
