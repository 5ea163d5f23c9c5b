import pytest
import torch

from sharedspace.data import DATASETS
from sharedspace.errors import ConfigError
from sharedspace.resolve import load_config
from sharedspace.tasks import build_tasks


def config(data_dir, tmp_path, label="pair", **data):
    return load_config(
        data={
            "name": "encoder",
            "out_dir": str(tmp_path),
            "data_dir": str(data_dir),
            "tasks": {
                "t": {
                    "kind": "classification",
                    "modality": "image",
                    "data": {"source": "fashion_mnist_states", "label": label, **data},
                }
            },
        }
    )


@pytest.mark.parametrize("label", ["pair", "attribute", "object"])
def test_an_encoder_reads_only_the_seen_pairs_pictures_labelled_as_asked(
    tiny_data_dir, tmp_path, label
):
    ds = DATASETS.get("fashion_mnist_states").load(tiny_data_dir)
    (task,) = build_tasks(config(tiny_data_dir, tmp_path, label))
    seen = {p: i for i, p in enumerate(ds.pairs.seen)}
    names = {
        "pair": [ds.pairs.name(p) for p in ds.pairs.seen],
        "attribute": list(ds.pairs.attributes),
        "object": list(ds.pairs.objects),
    }[label]
    assert list(task.data.target.classes) == names
    for split, part in task.data.splits.items():
        pairs = list(zip(ds.attributes[split].tolist(), ds.objects[split].tolist(), strict=True))
        kept = torch.tensor([p in seen for p in pairs])
        assert split == "train" or not kept.all()  # validation and test hold unseen pairs too
        assert torch.equal(part.inputs, ds.images[split][kept])  # no unseen pair's picture
        expected = {
            "pair": torch.tensor([seen[p] for p, k in zip(pairs, kept, strict=True) if k]),
            "attribute": ds.attributes[split][kept],
            "object": ds.objects[split][kept],
        }[label]
        assert torch.equal(part.labels, expected)


def test_an_unknown_label_is_a_config_error(tiny_data_dir, tmp_path):
    with pytest.raises(ConfigError, match="label"):
        config(tiny_data_dir, tmp_path, "colour")
