from pathlib import Path

import pytest
import torch

from sharedspace.data import DATASETS
from sharedspace.data.czsl import load_czsl_features
from sharedspace.errors import DataError

SPLIT = "compositional-split-natural"
DIM = 4
# Written out of sorted order: czsl numbers the names sorted (ancient, broken, wet; bottle, car,
# house). "ancient house" is in no list.
PAIR_LISTS = {
    "train": ["wet house", "ancient bottle", "ancient car", "broken car", "broken house",
              "wet bottle"],
    "val": ["ancient car", "broken bottle"],  # one seen, one unseen
    "test": ["wet house", "wet car"],  # one seen, one unseen
}  # fmt: skip
METADATA = [  # image, attr, obj, set
    ("ancient_bottle/0.jpg", "ancient", "bottle", "train"),
    ("wet_house/1.jpg", "wet", "house", "train"),
    ("broken_car/2.jpg", "broken", "car", "train"),
    ("bottle/3.jpg", "NA", "bottle", "train"),  # skipped: no attribute
    ("ancient_house/4.jpg", "ancient", "house", "train"),  # skipped: a pair in no list
    ("ancient_car/5.jpg", "ancient", "car", "val"),
    ("broken_bottle/6.jpg", "broken", "bottle", "val"),
    ("wet_bottle/7.jpg", "wet", "bottle", "NA"),  # skipped: no set
    ("wet_house/8.jpg", "wet", "house", "test"),
    ("wet_car/9.jpg", "wet", "car", "test"),
]


def row(image: str) -> torch.Tensor:
    """(DIM,) float32: the features file's row of ``image``, distinct for each picture."""
    n = int(image.split("/")[1].split(".")[0])
    return torch.arange(DIM, dtype=torch.float32) + 10 * n


def write_czsl(
    folder: Path,
    metadata: list | None = None,
    features: object = None,
    pair_lists: dict[str, list[str]] | None = None,
    legacy: bool = False,
) -> Path:
    """The czsl layout in ``folder``: the pair lists, the metadata and TMN's features.t7, each
    as TMN and czsl write them (torch.save of plain lists, dicts, strings and a tensor)."""
    (folder / SPLIT).mkdir(parents=True)
    for name, lines in (pair_lists or PAIR_LISTS).items():
        (folder / SPLIT / f"{name}_pairs.txt").write_text("\n".join(lines) + "\n")
    if metadata is None:
        metadata = [dict(zip(("image", "attr", "obj", "set"), e, strict=True)) for e in METADATA]
    if features is None:
        files = [image for image, *_ in reversed(METADATA)] + ["extra/99.jpg"]  # not in order
        features = {"features": torch.stack([row(f) for f in files]), "files": files}
    zipped = not legacy
    torch.save(metadata, folder / f"metadata_{SPLIT}.t7", _use_new_zipfile_serialization=zipped)
    torch.save(features, folder / "features.t7", _use_new_zipfile_serialization=zipped)
    return folder


def names(ds, split: str) -> list[str]:
    a, o = ds.attributes[split].tolist(), ds.objects[split].tolist()
    return [f"{ds.pairs.attributes[i]} {ds.pairs.objects[j]}" for i, j in zip(a, o, strict=True)]


def images(split: str) -> list[str]:
    wanted = {"train": "train", "validation": "val", "test": "test"}[split]
    kept = METADATA[:3] + METADATA[5:7] + METADATA[8:]  # what czsl does not skip
    return [image for image, _, _, s in kept if s == wanted]


@pytest.mark.parametrize("legacy", [False, True])
def test_splits_ids_and_features_come_out_as_czsl_reads_them(tmp_path: Path, legacy: bool):
    ds = load_czsl_features(write_czsl(tmp_path / "mit-states", legacy=legacy))
    assert ds.pairs.attributes == ("ancient", "broken", "wet")
    assert ds.pairs.objects == ("bottle", "car", "house")
    assert names(ds, "train") == ["ancient bottle", "wet house", "broken car"]
    assert names(ds, "validation") == ["ancient car", "broken bottle"]
    assert names(ds, "test") == ["wet house", "wet car"]
    for split in ("train", "validation", "test"):
        expected = torch.stack([row(image) for image in images(split)])
        assert ds.features[split].dtype == torch.float32
        assert torch.equal(ds.features[split], expected)
    assert ds.info == {
        "source": "czsl",
        "folder": str(tmp_path / "mit-states"),
        "split": SPLIT,
        "features_file": "features.t7",
        "skipped": 3,
    }


def test_pair_sets_are_train_pairs_and_the_val_and_test_pairs_not_trained_on(tmp_path: Path):
    pairs = load_czsl_features(write_czsl(tmp_path / "mit-states")).pairs
    assert [pairs.name(p) for p in pairs.seen] == [
        "ancient bottle", "ancient car", "broken car", "broken house", "wet bottle", "wet house",
    ]  # fmt: skip
    assert [pairs.name(p) for p in pairs.validation_unseen] == ["broken bottle"]
    assert [pairs.name(p) for p in pairs.test_unseen] == ["wet car"]


class RunsCode:
    """Unpickling it calls ``open(marker, "w")``: a file that needs code to load."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("which", ["metadata", "features"])
@pytest.mark.parametrize("legacy", [False, True])
def test_a_t7_file_that_needs_code_is_refused_without_running_it(
    tmp_path: Path, which: str, legacy: bool
):
    marker = tmp_path / "ran"
    bad = [RunsCode(marker)]
    folder = write_czsl(
        tmp_path / "mit-states",
        metadata=bad if which == "metadata" else None,
        features={"features": torch.zeros(1, DIM), "files": bad} if which == "features" else None,
        legacy=legacy,
    )
    with pytest.raises(DataError, match=r"\.t7: refused, it needs code to unpickle") as err:
        load_czsl_features(folder)
    assert "\n" not in str(err.value) and "weights_only=False" not in str(err.value)
    assert not marker.exists()


def test_a_picture_without_a_features_row_is_an_error(tmp_path: Path):
    files = [image for image, *_ in METADATA if image != "broken_bottle/6.jpg"]
    features = {"features": torch.stack([row(f) for f in files]), "files": files}
    folder = write_czsl(tmp_path / "mit-states", features=features)
    with pytest.raises(DataError, match=r"features\.t7: no features for 'broken_bottle/6\.jpg', a "
                                        r"validation picture"):  # fmt: skip
        load_czsl_features(folder)


def test_the_datasets_are_found_through_find_dataset_with_a_data_dir(
    tmp_path: Path, isolated_home: Path
):
    write_czsl(tmp_path / "data" / "mit-states")
    write_czsl(tmp_path / "data" / "ut-zap50k", pair_lists={**PAIR_LISTS, "test": ["wet bottle"]})
    mit = DATASETS.get("mit_states_features").load(tmp_path / "data")
    zappos = DATASETS.get("ut_zappos_features").load(tmp_path / "data")
    assert mit.info["folder"] == str(tmp_path / "data" / "mit-states")
    assert zappos.info["folder"] == str(tmp_path / "data" / "ut-zap50k")
    assert len(mit.pairs.test_unseen) == 1 and zappos.pairs.test_unseen == ()
    assert DATASETS.get("mit_states_features").kind == "features"


def test_a_missing_dataset_says_where_the_czsl_script_gets_it(tmp_path: Path, isolated_home):
    with pytest.raises(DataError, match=r"ut-zap50k: no folder holding metadata_compositional"
                                        r"(.|\n)*compositional_split_natural\.tar\.gz"
                                        r"(.|\n)*features\.t7"):  # fmt: skip
        DATASETS.get("ut_zappos_features").load(tmp_path)


@pytest.mark.parametrize(
    "missing",
    [f"{SPLIT}/train_pairs.txt", f"{SPLIT}/val_pairs.txt", f"{SPLIT}/test_pairs.txt",
     f"metadata_{SPLIT}.t7", "features.t7"],
)  # fmt: skip
def test_a_missing_file_is_named_with_the_layout(tmp_path: Path, missing: str):
    folder = write_czsl(tmp_path / "mit-states")
    (folder / missing).unlink()
    with pytest.raises(DataError, match=rf"{missing}: no such file; the czsl layout is") as err:
        load_czsl_features(folder)
    assert "\n" not in str(err.value)


def test_czsls_own_features_file_is_read_where_tmns_is_absent(tmp_path: Path):
    folder = write_czsl(tmp_path / "mit-states")
    (folder / "features.t7").rename(folder / "resnet18_featurers.t7")
    assert load_czsl_features(folder).info["features_file"] == "resnet18_featurers.t7"


def test_a_malformed_pair_line_is_named(tmp_path: Path):
    lists = {**PAIR_LISTS, "val": ["ancient car", "broken bottle extra"]}
    folder = write_czsl(tmp_path / "mit-states", pair_lists=lists)
    with pytest.raises(DataError, match=r"val_pairs\.txt: line 2 is 'broken bottle extra', "
                                        r"expected 'attribute object'"):  # fmt: skip
        load_czsl_features(folder)


def test_an_unknown_set_is_an_error(tmp_path: Path):
    metadata = [{"image": "a/0.jpg", "attr": "wet", "obj": "car", "set": "holdout"}]
    with pytest.raises(DataError, match=r"entry 0 \('a/0\.jpg'\) has set 'holdout'"):
        load_czsl_features(write_czsl(tmp_path / "mit-states", metadata=metadata))


ONE = ["wet_car/9.jpg"]  # the files of a features file of ``entry()``'s picture


def entry(**changes) -> dict:
    return {"image": "wet_car/9.jpg", "attr": "wet", "obj": "car", "set": "test", **changes}


@pytest.mark.parametrize(
    ("metadata", "features", "message"),
    [
        ({"image": "a"}, None, r"metadata_.*\.t7: holds a dict, expected a list of dicts"),
        ([entry(set=None)], None, r"metadata_.*\.t7: entry 0 is .*, expected a dict whose"),
        ([{"image": "a", "attr": "wet", "obj": "car"}], None, r"entry 0 is .*, expected a dict"),
        ([entry()], [torch.zeros(1, DIM)], r"features\.t7: holds .*, expected a dict of"),
        ([entry()], {"features": [[0.0] * DIM], "files": ONE},
         r"'features' is a list, expected a dense floating-point tensor"),
        ([entry()], {"features": torch.zeros(1, DIM, dtype=torch.int64), "files": ONE},
         r"'features' is a torch.strided cpu torch.int64 tensor \(1, 4\), expected"),
        ([entry()], {"features": torch.zeros(1, DIM), "files": [b"wet_car/9.jpg"]},
         r"'files' is .*, expected a list of image names"),
        ([entry()], {"features": torch.zeros(2, DIM), "files": ONE},
         r"1 'files' but 2 rows of 'features'"),
    ],
)  # fmt: skip
def test_wrong_types_are_named(tmp_path: Path, metadata, features, message: str):
    folder = write_czsl(tmp_path / "mit-states", metadata=metadata, features=features)
    with pytest.raises(DataError, match=message):
        load_czsl_features(folder)


def test_a_file_torch_did_not_write_is_an_error(tmp_path: Path):
    folder = write_czsl(tmp_path / "mit-states")
    (folder / "features.t7").write_bytes(b"not a torch file\n")
    with pytest.raises(DataError, match=r"features\.t7: not a file torch\.save wrote"):
        load_czsl_features(folder)


def test_a_picture_of_another_splits_unseen_pair_fails_the_check(tmp_path: Path):
    metadata = [entry(image="wet_car/9.jpg", set="val")]  # wet car is test-unseen
    with pytest.raises(DataError, match=r"pairs of validation pictures are not pairs of that"):
        load_czsl_features(write_czsl(tmp_path / "mit-states", metadata=metadata))


def test_a_pair_unseen_in_both_val_and_test_is_an_error(tmp_path: Path):
    lists = {**PAIR_LISTS, "test": ["wet car", "broken bottle"]}
    with pytest.raises(DataError, match=r"1 pairs are unseen in both .* 'broken bottle'"):
        load_czsl_features(write_czsl(tmp_path / "mit-states", pair_lists=lists))


def test_an_entry_without_attribute_is_skipped_even_where_a_list_names_na(tmp_path: Path):
    lists = {**PAIR_LISTS, "train": [*PAIR_LISTS["train"], "NA bottle"]}
    ds = load_czsl_features(write_czsl(tmp_path / "mit-states", pair_lists=lists))
    assert names(ds, "train") == ["ancient bottle", "wet house", "broken car"]  # not "NA bottle"
    assert ds.info["skipped"] == 3
