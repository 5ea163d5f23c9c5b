import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from sharedspace.data import DATASETS
from sharedspace.data.pair_features import FILE, read_pair_features, save_pair_features
from sharedspace.errors import DataError
from tests.tiny import compositional_features


def test_a_features_file_reads_back_what_was_written_and_is_found_as_a_dataset(tmp_path):
    written = compositional_features()
    save_pair_features(written, tmp_path / "pair_features" / FILE)
    for read in (
        read_pair_features(tmp_path / "pair_features" / FILE),
        DATASETS.get("pair_features").load(tmp_path),  # a data_dir holding pair_features/
        DATASETS.get("pair_features").load(tmp_path / "pair_features"),  # the folder itself
    ):
        assert read.pairs == written.pairs and read.info == written.info
        for key in ("features", "attributes", "objects"):
            for split in ("train", "validation", "test"):
                assert torch.equal(getattr(read, key)[split], getattr(written, key)[split])


def _rewrite(path, tensors, metadata):
    """The file at ``path`` again with some tensors and metadata values (JSON) replaced."""
    with safe_open(str(path), "pt") as f:
        stored = f.metadata()
    save_file(load_file(str(path)) | tensors, str(path), stored | metadata)


@pytest.mark.parametrize(
    ("tensors", "metadata", "message"),
    [
        (
            {"test.features": torch.zeros(420, 2)},
            {},
            r"test features are float32 \(420, 2\), expected float32 \(N, 16\)",
        ),
        ({"train.features": torch.zeros(720, 16).double()}, {}, r"train features are float64"),
        ({"test.objects": torch.full((420,), 9)}, {}, r"test objects ids outside 0…3"),
        ({"train.features": torch.full((720, 16), float("nan"))}, {}, "NaN"),
        ({}, {"seen": "[]"}, r"pairs of train pictures are not pairs of that split"),
        ({}, {"attributes": '"red"'}, r"metadata 'attributes' must be a non-empty list"),
        ({}, {"test_unseen": '[[0, "x"]]'}, r"metadata 'test_unseen' must be a list"),
        ({}, {"objects": "[1,"}, r"metadata 'objects': not valid JSON"),
        ({}, {"format": "other"}, "not a features file"),
    ],
)
def test_a_damaged_features_file_is_one_data_error_naming_it(tmp_path, tensors, metadata, message):
    path = save_pair_features(compositional_features(), tmp_path / FILE)
    _rewrite(path, tensors, metadata)
    with pytest.raises(DataError, match=message) as caught:
        read_pair_features(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_missing_features_file_says_how_to_make_one(tmp_path):
    with pytest.raises(DataError, match="sharedspace features RUN"):
        DATASETS.get("pair_features").load(tmp_path)
