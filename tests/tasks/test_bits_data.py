"""Bit-string tasks: the labels are the boolean function the config names, the strings are the
same for every task of a run and nested across training-set sizes, and bad fields are one-line
config errors that name the key."""

import pytest
import torch

from sharedspace.config import from_dict
from sharedspace.errors import ConfigError
from sharedspace.resolve import load_config
from sharedspace.tasks import build_tasks
from sharedspace.tasks.bits_data import BitsConfig, BitStrings, label


def config(**fields) -> BitsConfig:
    return from_dict(BitsConfig, {"bits": 6, **fields}, "tasks.t.data")


def test_labels_follow_the_configured_function():
    strings = torch.tensor([[int(c) for c in s] for s in ("000000", "011000", "111000", "100001")],
                           dtype=torch.uint8)  # fmt: skip
    parity = [1, 2, 5]  # parities 0, 0, 0, 1
    assert label(strings, config(parity=parity)).tolist() == [0, 0, 0, 1]
    assert label(strings, config(parity=[0, 1])).tolist() == [0, 1, 0, 1]
    assert label(strings, config(parity=parity, op="or", bit=0)).tolist() == [0, 0, 1, 1]
    assert label(strings, config(parity=parity, op="and", bit=0)).tolist() == [0, 0, 0, 1]
    negated = config(parity=parity, op="or", bit=0, negate=True)
    assert label(strings, negated).tolist() == [1, 1, 0, 1]
    assert label(strings, config(parity=parity, op="and", bit=3, negate=True)).tolist() == [
        0,
        0,
        0,
        1,
    ]


def test_tasks_of_a_run_read_the_same_strings_with_their_own_labels(tmp_path):
    data = {"source": "random_bits", "train_size": 300, "val_size": 50, "test_size": 80}
    raw = {
        "name": "bits",
        "out_dir": str(tmp_path),
        "tasks": {
            "a": {"kind": "classification", "modality": "bits", "data": {**data, "parity": [0, 1]}},
            "b": {
                "kind": "classification",
                "modality": "bits",
                "data": {**data, "parity": [2], "op": "or", "bit": 19},
            },
        },
        "model": {"width": 20, "modalities": {"bits": "bits"}, "space": "separate"},
    }
    a, b = build_tasks(load_config(data=raw))
    for split, size in (("train", 300), ("validation", 50), ("test", 80)):
        sa, sb = a.data.splits[split], b.data.splits[split]
        assert len(sa) == size and torch.equal(sa.inputs, sb.inputs)
        assert torch.equal(sa.labels, (sa.inputs[:, 0] ^ sa.inputs[:, 1]).long())
        assert torch.equal(sb.labels, (sb.inputs[:, 2] | sb.inputs[:, 19]).long())
    train, test = a.data.splits["train"].inputs, a.data.splits["test"].inputs
    assert not torch.equal(train[:80], test)  # one stream per split
    raw["tasks"]["a"]["data"]["train_size"] = 100  # a smaller training set is a prefix
    assert torch.equal(build_tasks(load_config(data=raw))[0].data.splits["train"].inputs,
                       train[:100])  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"parity": []}, "need distinct positions"),
        ({"parity": [1, 1]}, "need distinct positions"),
        ({"parity": [1, 2], "op": "or", "bit": 2}, "need distinct positions"),
        ({"parity": [6]}, "0 ≤ i < bits (6)"),
        ({"parity": [1], "op": "or"}, "op and bit"),
        ({"parity": [1], "bit": 0}, "op and bit"),
        ({"parity": [1], "negate": True}, "op and bit"),
        ({"parity": [1], "op": "xor", "bit": 0}, "'xor' is not one of"),
        ({"parity": [1], "train_size": 0}, "train_size: expected a whole number ≥ 1, got 0"),
        ({"parity": [1], "bits": 0}, "bits: expected a whole number ≥ 1, got 0"),
        ({"parity": [1], "val_size": 0}, "val_size: expected a whole number ≥ 1, got 0"),
        ({}, "parity: missing required key"),
    ],
)
def test_bad_fields_are_errors_that_name_the_key(fields, message):
    with pytest.raises(ConfigError) as info:
        config(**fields)
    assert "tasks.t.data" in str(info.value) and message in str(info.value)


def test_the_view_reads_bits():
    assert BitStrings.kind == "bits" and BitStrings.Config is BitsConfig
