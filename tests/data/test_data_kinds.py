"""Registry-wide: every data kind, dataset and data view keeps its contract (the tables come from
the registries, so a new kind of data is covered without an edit here)."""

import pytest

from sharedspace.data import DATA_KINDS, DATASETS
from sharedspace.errors import ConfigError
from sharedspace.tasks.image_data import ImagePixels, Images
from sharedspace.tasks.reconstruction import Reconstruction
from sharedspace.tasks.views import DATA_VIEWS, DataViews
from tests.data.registry_checks import check_data_kind, check_dataset, check_view


@pytest.mark.parametrize("name", list(DATA_KINDS))
def test_every_data_kind_gives_example_inputs(name):
    check_data_kind(name)


@pytest.mark.parametrize("name", list(DATASETS))
def test_every_dataset_declares_its_kind_and_splits(name):
    check_dataset(name)


@pytest.mark.parametrize(
    ("task_kind", "data_kind", "name", "view"), list(DATA_VIEWS), ids=lambda v: str(v)
)
def test_every_view_yields_targets_its_task_kind_produces(task_kind, data_kind, name, view):
    check_view(task_kind, data_kind, name, view)


def test_every_kind_of_data_has_a_dataset_and_a_cap_of_its_own():
    from sharedspace.modalities import MODALITIES

    caps = {MODALITIES.get(name).modality_kind for name in MODALITIES}
    datasets = {DATASETS.get(name).kind for name in DATASETS}
    assert set(DATA_KINDS) == datasets and set(DATA_KINDS) <= caps


def test_views_are_picked_by_name_and_the_only_one_is_the_default():
    views = DataViews()
    views.add(Reconstruction, ImagePixels)
    assert views.pick("reconstruction", "fashion_mnist", None) is ImagePixels
    views.add(Reconstruction, Images)
    assert views.pick("reconstruction", "fashion_mnist", "images") is Images
    with pytest.raises(ConfigError, match=r"^view: reconstruction has several views of image "):
        views.pick("reconstruction", "fashion_mnist", None)
    with pytest.raises(ConfigError, match=r"^view: 'rotated' is not .* known: pixels, images$"):
        views.pick("reconstruction", "fashion_mnist", "rotated")
    with pytest.raises(ConfigError, match=r"^source: reconstruction reads image data; 'fortun"):
        views.pick("reconstruction", "fortunes", None)
    with pytest.raises(ValueError, match="two image views named 'pixels'"):
        views.add(Reconstruction, ImagePixels)
