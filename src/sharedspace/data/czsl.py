"""Image features of MIT-States and UT-Zappos in the czsl layout: that of Purushwalkam et al.
2019, "Task-Driven Modular Networks for Zero-Shot Compositional Learning" (TMN,
github.com/facebookresearch/taskmodularnets) and of the czsl code (Mancini et al. 2021,
github.com/ExplainableML/czsl), read as their ``data/dataset.py`` reads it::

    mit-states/compositional-split-natural/train_pairs.txt   one "attribute object" a line
    mit-states/compositional-split-natural/val_pairs.txt
    mit-states/compositional-split-natural/test_pairs.txt
    mit-states/metadata_compositional-split-natural.t7       [{image, attr, obj, set}, …]
    mit-states/features.t7                                    {features: (N, D), files: [N]}

- **Names**: attributes and objects are the sorted names of the three pair lists together.
- **Pairs**: seen are the train pairs; validation-unseen and test-unseen the val and test pairs
  that are not train pairs (the val and test lists hold seen pairs too).
- **Pictures**: the metadata's entries in order, by their ``set`` (train, val, test). As czsl
  does, an entry whose ``attr`` or ``set`` is 'NA' or whose pair no list holds is skipped
  (counted in ``info["skipped"]``); czsl puts any other ``set`` in test, here it is an error.
- **Features**: a picture's row is the one whose ``files`` name is its ``image`` (the last one,
  as czsl's ``dict(zip(files, features))``); a picture without one is an error. TMN writes
  ``features.t7`` (rows of the metadata's pictures), czsl ``resnet18_featurers.t7`` (rows of
  every ``images/*/*.jpg``), both with torch.save and both ResNet-18's 512 values.

The ``.t7`` files are pickles: ``torch.load(weights_only=True)`` rebuilds tensors and plain
containers only and refuses anything else before running it. Every problem is one DataError
naming the file.
"""

import pickle
from pathlib import Path
from typing import Any

import torch

from sharedspace.data.attribute_pairs import PairSplit
from sharedspace.data.datasets import dataset
from sharedspace.data.locate import find_dataset
from sharedspace.data.pair_features import SPLITS, PairFeatures
from sharedspace.errors import DataError, clip, short
from sharedspace.untrusted import MiB, open_regular, read_text

SPLIT = "compositional-split-natural"
PAIR_FILES = ("train_pairs.txt", "val_pairs.txt", "test_pairs.txt")
FEATURE_FILES = ("features.t7", "resnet18_featurers.t7")  # TMN's, then czsl's (its default model)
SETS = {"train": "train", "val": "validation", "test": "test"}  # metadata set → our split
KEYS = ("image", "attr", "obj", "set")
# what torch's weights-only unpickler says of a class or function it will not call
CODE_SIGNS = ("GLOBAL", "function", "allowlisted")
PAIRS_LIMIT = 4 * MiB  # MIT-States' lists: under 40 kB
METADATA_LIMIT = 256 * MiB  # MIT-States' 53,753 entries: a few MB
FEATURES_LIMIT = 8 << 30  # 53,753 × 2048 float32 (a ResNet-50's) is 440 MB
HOW_TO_GET = (
    "czsl's utils/download_data.sh (github.com/ExplainableML/czsl) gets the pair lists and "
    "metadata of mit-states/ and ut-zap50k/ from "
    "https://senthilpurushwalkam.com/publications/compositional/compositional_split_natural.tar.gz"
    " (TMN's script: http://www.cs.cmu.edu/~spurushw/projects/compositional/"
    "compositional_split_natural.tar.gz); put the features file beside the metadata file: "
    "features.t7 as TMN writes it, or resnet18_featurers.t7 as czsl writes it from the images "
    "on its first run"
)


def load_czsl_features(
    folder: Path, split: str = SPLIT, features: str | None = None
) -> PairFeatures:
    """The features of ``folder`` (``mit-states/``, ``ut-zap50k/``) in czsl's ``split``;
    ``features`` names the features file, else the first of FEATURE_FILES there. Checked
    (``PairFeatures.check``)."""
    folder = Path(folder)
    lists = [_read_pairs(_required(folder / split / name, split)) for name in PAIR_FILES]
    listed = {pair for pairs in lists for pair in pairs}
    attributes = tuple(sorted({a for a, _ in listed}))
    objects = tuple(sorted({o for _, o in listed}))
    attribute_id = {name: i for i, name in enumerate(attributes)}
    object_id = {name: i for i, name in enumerate(objects)}
    seen, val, test = ({(attribute_id[a], object_id[o]) for a, o in p} for p in lists)
    unseen = (tuple(sorted(val - seen)), tuple(sorted(test - seen)))
    pairs = PairSplit(attributes, objects, tuple(sorted(seen)), *unseen)
    both = (val & test) - seen
    if both:
        raise DataError(
            f"{folder / split}: {len(both)} pairs are unseen in both val_pairs.txt and "
            f"test_pairs.txt, e.g. {pairs.name(min(both))!r}; a split scores its own unseen pairs"
        )

    metadata = _required(folder / f"metadata_{split}.t7", split)
    pictures, skipped = _read_metadata(metadata, listed)
    name = features or next((n for n in FEATURE_FILES if (folder / n).exists()), FEATURE_FILES[0])
    features_file = _required(folder / name, split)
    rows, row_of = _read_features(features_file)

    out: dict[str, dict[str, torch.Tensor]] = {"features": {}, "attributes": {}, "objects": {}}
    for part in SPLITS:
        index = []
        for image, _, _ in pictures[part]:
            if image not in row_of:
                raise DataError(
                    f"{features_file}: no features for {clip(image)!r}, a {part} picture of "
                    f"{metadata.name}; it needs a row for every picture the metadata keeps"
                )
            index.append(row_of[image])
        out["features"][part] = rows[torch.tensor(index, dtype=torch.int64)]
        out["attributes"][part] = torch.tensor(
            [attribute_id[a] for _, a, _ in pictures[part]], dtype=torch.int64
        )
        out["objects"][part] = torch.tensor(
            [object_id[o] for _, _, o in pictures[part]], dtype=torch.int64
        )
    info: dict[str, Any] = {
        "source": "czsl",
        "folder": str(folder),
        "split": split,
        "features_file": name,
        "skipped": skipped,
    }
    result = PairFeatures(pairs, out["features"], out["attributes"], out["objects"], info)
    result.check(f"{folder} ({split})")
    return result


def _required(path: Path, split: str) -> Path:
    if not path.exists():
        raise DataError(
            f"{path}: no such file; the czsl layout is FOLDER/{split}/{{train,val,test}}_pairs.txt,"
            f" FOLDER/metadata_{split}.t7 and FOLDER/features.t7 (or resnet18_featurers.t7)"
        )
    return path


def _read_pairs(path: Path) -> set[tuple[str, str]]:
    """The (attribute, object) names of a pair list: one pair a line, blank lines only around
    them (czsl strips the text, then splits each line on whitespace)."""
    text = read_text(path, PAIRS_LIMIT, DataError)
    first = text[: len(text) - len(text.lstrip())].count("\n") + 1  # the first line's number
    pairs = set()
    for number, line in enumerate(text.strip().split("\n"), first):
        words = line.split()
        if len(words) != 2:
            raise DataError(f"{path}: line {number} is {clip(line)!r}, expected 'attribute object'")
        pairs.add((words[0], words[1]))
    return pairs


def _read_metadata(
    path: Path, listed: set[tuple[str, str]]
) -> tuple[dict[str, list[tuple[str, str, str]]], int]:
    """Each split's (image, attribute, object) names in the metadata's order, and how many
    entries were skipped (attr or set 'NA', or a pair in no list)."""
    entries = _load_t7(path, METADATA_LIMIT)
    if not isinstance(entries, list | tuple):
        raise DataError(
            f"{path}: holds a {type(entries).__name__}, expected a list of dicts with "
            f"{', '.join(KEYS)}"
        )
    pictures: dict[str, list[tuple[str, str, str]]] = {part: [] for part in SPLITS}
    skipped = 0
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in KEYS):
            raise DataError(
                f"{path}: entry {i} is {short(entry)}, expected a dict whose {', '.join(KEYS)} "
                "are strings"
            )
        image, attr, obj, kind = (entry[k] for k in KEYS)
        if attr == "NA" or kind == "NA" or (attr, obj) not in listed:
            skipped += 1
            continue
        if kind not in SETS:
            raise DataError(
                f"{path}: entry {i} ({clip(image)!r}) has set {clip(kind)!r}, expected one of "
                f"{', '.join(SETS)} or NA"
            )
        pictures[SETS[kind]].append((image, attr, obj))
    return pictures, skipped


def _read_features(path: Path) -> tuple[torch.Tensor, dict[str, int]]:
    """The features (N, D) float32 and each file name's row (the last, where one repeats)."""
    data = _load_t7(path, FEATURES_LIMIT)
    if not isinstance(data, dict) or "features" not in data or "files" not in data:
        raise DataError(
            f"{path}: holds {short(data)}, expected a dict of 'features' (N, D) and 'files' "
            "(N image names)"
        )
    rows, files = data["features"], data["files"]
    if not (
        isinstance(rows, torch.Tensor)
        and rows.layout == torch.strided
        and rows.device.type == "cpu"
        and rows.is_floating_point()
        and rows.ndim == 2
    ):
        raise DataError(
            f"{path}: 'features' is {_describe(rows)}, expected a dense floating-point tensor "
            "(N, D)"
        )
    if not isinstance(files, list | tuple) or not all(isinstance(f, str) for f in files):
        raise DataError(f"{path}: 'files' is {short(files)}, expected a list of image names")
    if len(files) != len(rows):
        raise DataError(f"{path}: {len(files)} 'files' but {len(rows)} rows of 'features'")
    return rows.to(torch.float32), {name: i for i, name in enumerate(files)}


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.layout} {value.device.type} {value.dtype} tensor {tuple(value.shape)}"
    return f"a {type(value).__name__}"


def _load_t7(path: Path, limit: int) -> Any:
    """What torch.save wrote to ``path`` (either format), rebuilt by torch's weights-only
    unpickler: a file that needs any other class or function is refused before it runs."""
    with open_regular(path, limit, DataError) as f:
        try:
            return torch.load(f, map_location="cpu", weights_only=True)
        except Exception as err:  # any failure to read is the file's: one line naming it
            reason = _reason(err)
            if isinstance(err, pickle.UnpicklingError) and any(s in reason for s in CODE_SIGNS):
                raise DataError(
                    f"{path}: refused, it needs code to unpickle (only tensors and plain "
                    f"containers are read: {reason})"
                ) from None
            raise DataError(
                f"{path}: not a file torch.save wrote of tensors and plain containers ({reason})"
            ) from None


def _reason(err: Exception) -> str:
    """The line of torch's refusal that says what it found, without its advice to load the file
    with ``weights_only=False`` (which would run the file's code)."""
    text = str(err).split("WeightsUnpickler error:", 1)[-1]
    lines = [line.strip().split(". ")[0] for line in text.splitlines() if line.strip()]
    return clip(f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__, 200)


def _find(folder: str, data_dir: Path | None) -> Path:
    return find_dataset(folder, (f"metadata_{SPLIT}.t7",), data_dir, how_to_get=HOW_TO_GET)


@dataset("mit_states_features", kind="features", splits=PairFeatures)
def load_mit_states_features(data_dir: Path | None = None) -> PairFeatures:
    """MIT-States (Isola et al. 2015) in TMN's natural split, found as ``mit-states/``: 115
    attributes, 245 objects; 1262 seen, 300 validation-unseen and 400 test-unseen pairs."""
    return load_czsl_features(_find("mit-states", data_dir))


@dataset("ut_zappos_features", kind="features", splits=PairFeatures)
def load_ut_zappos_features(data_dir: Path | None = None) -> PairFeatures:
    """UT-Zappos50K (Yu and Grauman 2014) in TMN's natural split, found as ``ut-zap50k/``: 16
    materials, 12 shoe types; 83 seen, 15 validation-unseen and 18 test-unseen pairs."""
    return load_czsl_features(_find("ut-zap50k", data_dir))
