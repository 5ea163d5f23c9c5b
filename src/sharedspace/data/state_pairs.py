"""Image datasets' classes in attribute states (``data/states.py``): the zero-shot compositional
benchmarks with exact labels, Fashion-MNIST's 10 items (or CIFAR-10's 10 classes, when its files
are given) × the 12 states, 120 pairs split into 80 seen, 20 validation-unseen and 20
test-unseen (``attribute_pairs.split_pairs``, split seed 0: the same split everywhere).
"""

from pathlib import Path

from sharedspace.data.attribute_pairs import PairImages, pair_images
from sharedspace.data.cifar import load_cifar10
from sharedspace.data.datasets import dataset
from sharedspace.data.fashion_mnist import load_fashion_mnist
from sharedspace.data.states import STATES

UNSEEN = 20  # validation-unseen pairs, and as many test-unseen ones


@dataset("fashion_mnist_states", kind="image", splits=PairImages)
def load_fashion_mnist_states(data_dir: Path | None = None) -> PairImages:
    """Fashion-MNIST's 70,000 pictures, each in one state: 50,000 training (seen pairs),
    10,000 validation and 10,000 test (seen and unseen pairs), (N, 3, 28, 28) uint8."""
    return pair_images(load_fashion_mnist(data_dir), tuple(STATES), UNSEEN)


@dataset("cifar10_states", kind="image", splits=PairImages)
def load_cifar10_states(data_dir: Path | None = None) -> PairImages:
    """CIFAR-10's 60,000 pictures, each in one state: 41,667 training (seen pairs), 8,333
    validation and 10,000 test (seen and unseen pairs), (N, 3, 32, 32) uint8."""
    return pair_images(load_cifar10(data_dir), tuple(STATES), UNSEEN)
