import pytest
import torch

from sharedspace.discovery.labellings import (
    Labelling,
    class_split,
    flipped,
    random_labelling,
    top_k_labelling,
)


def test_class_split_takes_per_class_images_of_each_class_and_labels_the_positive_one():
    classes = torch.arange(10).repeat(30)  # 300 images, 30 of each class
    task = class_split(classes, 3, [1, 7, 8, 9], per_class=20, generator=torch.Generator())
    assert len(task.images) == 100 and len(set(task.images.tolist())) == 100
    picked = classes[task.images]
    assert torch.equal(task.labels, (picked == 3).long())
    assert sorted(picked.unique().tolist()) == [1, 3, 7, 8, 9]
    assert all((picked == c).sum() == 20 for c in (1, 3, 7, 8, 9))
    train, dev = task.split()
    assert len(task.labels[train]) == 80 and len(task.labels[dev]) == 20
    assert 0 < task.labels[dev].sum() < 20  # shuffled: positives are not all at one end


def test_class_split_refuses_too_few_images_and_a_class_on_both_sides():
    classes = torch.arange(10).repeat(5)
    with pytest.raises(ValueError, match="class 2 has 5 images, 6 wanted"):
        class_split(classes, 2, [4], per_class=6, generator=torch.Generator())
    with pytest.raises(ValueError, match="both"):
        class_split(classes, 2, [2, 4], per_class=2, generator=torch.Generator())


def test_random_labelling_has_the_asked_number_of_positives():
    task = random_labelling(torch.arange(50), 10, torch.Generator().manual_seed(0))
    assert task.labels.sum() == 10 and sorted(task.images.tolist()) == list(range(50))


def test_top_k_labelling_marks_the_highest_entries():
    scores = torch.tensor([0.1, 0.9, 0.5, 0.9, 0.2, 0.0, 0.3, 0.8, 0.4, 0.6])
    task = top_k_labelling(torch.arange(10), scores, ratio=4)  # 10 / 5 = 2 positives
    assert task.labels.nonzero().squeeze(1).tolist() == [1, 3]


def test_flipped_changes_exactly_the_asked_fraction():
    task = Labelling(torch.arange(40), (torch.arange(40) % 2).long())
    ablated = flipped(task, 0.2, torch.Generator().manual_seed(0))
    assert (ablated.labels != task.labels).sum() == 8
    assert torch.equal(ablated.images, task.images)
