from collections import Counter

import pytest
import torch

from sharedspace.data.attribute_pairs import (
    MIN_SEEN,
    VALIDATION_EVERY,
    assign_attributes,
    compose,
    pair_images,
    split_pairs,
)
from sharedspace.data.datasets import ImageSplits
from sharedspace.data.states import STATES, apply_state

ATTRIBUTES = tuple(STATES)  # 12
OBJECTS = tuple(f"item{i}" for i in range(10))


def test_pairs_split_into_three_disjoint_sets_with_every_part_seen():
    split = split_pairs(ATTRIBUTES, OBJECTS, unseen=20, split_seed=3)
    sets = [set(split.seen), set(split.validation_unseen), set(split.test_unseen)]
    assert [len(s) for s in sets] == [80, 20, 20]
    assert set.union(*sets) == {(a, o) for a in range(12) for o in range(10)}
    assert sum(len(s) for s in sets) == 120  # disjoint
    attributes = Counter(a for a, _ in split.seen)
    objects = Counter(o for _, o in split.seen)
    assert min(attributes[a] for a in range(12)) >= MIN_SEEN
    assert min(objects[o] for o in range(10)) >= MIN_SEEN


def test_a_split_is_fixed_by_its_seed():
    assert split_pairs(ATTRIBUTES, OBJECTS, 20, 3) == split_pairs(ATTRIBUTES, OBJECTS, 20, 3)
    assert split_pairs(ATTRIBUTES, OBJECTS, 20, 3) != split_pairs(ATTRIBUTES, OBJECTS, 20, 4)


def test_a_grid_too_small_for_the_unseen_pairs_is_an_error():
    with pytest.raises(ValueError, match=r"give \d+ unseen pairs"):
        split_pairs(("a", "b", "c"), ("x", "y", "z"), unseen=2)


def test_each_image_gets_one_of_its_objects_pairs_evenly():
    split = split_pairs(ATTRIBUTES, OBJECTS, 20)
    objects = torch.arange(10).repeat(600)
    attributes = assign_attributes(objects, split.seen, torch.Generator().manual_seed(0))
    got = Counter(zip(attributes.tolist(), objects.tolist(), strict=True))
    assert set(got) == set(split.seen)  # only seen pairs, and every one of them
    for o in range(10):
        counts = [n for (_, obj), n in got.items() if obj == o]
        assert max(counts) < 2 * min(counts)  # about 600 / (its pairs) each


def test_an_object_without_a_pair_is_an_error():
    with pytest.raises(ValueError, match=r"objects \[2\] have no pair"):
        assign_attributes(torch.tensor([0, 1, 2]), ((0, 0), (1, 1)), torch.Generator())


def test_compose_puts_each_image_in_its_attributes_state():
    images = torch.randint(0, 256, (6, 1, 10, 10), dtype=torch.uint8)
    attributes = torch.tensor([0, 3, 0, 7, 3, 11])
    out = compose(images, attributes, ATTRIBUTES)
    for i, a in enumerate(attributes.tolist()):
        assert torch.equal(out[i], apply_state(ATTRIBUTES[a], images[i : i + 1])[0])


def test_pair_images_keep_unseen_pairs_out_of_training_and_each_picture_in_one_split():
    n, m = 1200, 300
    originals = torch.arange(n + m, dtype=torch.int64)  # a picture's identity, as its pixel
    images = (originals % 251).to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 4, 4)
    labels = originals % 10
    ds = ImageSplits(images[:n], labels[:n], images[n:], labels[n:], list(OBJECTS))
    got = pair_images(ds, ATTRIBUTES, unseen=20, split_seed=1)
    split = got.pairs
    allowed = {
        "train": set(split.seen),
        "validation": set(split.seen) | set(split.validation_unseen),
        "test": set(split.seen) | set(split.test_unseen),
    }
    assert [len(got.images[s]) for s in allowed] == [1000, 200, 300]
    for s, pairs in allowed.items():
        found = set(zip(got.attributes[s].tolist(), got.objects[s].tolist(), strict=True))
        assert found <= pairs
        assert s == "train" or found - set(split.seen)  # its unseen pairs have pictures
        assert got.images[s].shape[1:] == (3, 4, 4)
    # the held-out originals: every 6th training picture, none of them trained on
    assert torch.equal(got.objects["validation"], labels[:n][5::VALIDATION_EVERY])
    assert torch.equal(got.objects["test"], labels[n:])
