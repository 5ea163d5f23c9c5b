"""Feature vectors of attribute–object pairs' pictures: what zero-shot compositional learning
(TFG) reads. A frozen network's features of every picture of every split (seen and unseen pairs
alike), with each picture's attribute and object and the split of the pairs
(``attribute_pairs.PairSplit``).

They come from a sharedspace run (``sharedspace features RUN`` embeds a ``PairImages`` dataset
with the run's encoder and writes ``RUN/features/features.safetensors``) or from elsewhere in the
czsl layout (``data/czsl.py``). A features file is untrusted input: a safetensors file (no code),
its header bounded, every tensor's shape, type and ids checked, each problem one line naming it.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save

from sharedspace.data.attribute_pairs import Pair, PairSplit
from sharedspace.data.datasets import dataset
from sharedspace.data.locate import find_dataset
from sharedspace.errors import DataError
from sharedspace.files import atomic_write
from sharedspace.untrusted import read_tagged_safetensors

FORMAT = "sharedspace.pair_features"
FILE = "features.safetensors"
HEADER_LIMIT = 64 << 20  # names of a few thousand attributes, objects and pairs: ~100 kB
SPLITS = ("train", "validation", "test")
PAIR_SETS = ("seen", "validation_unseen", "test_unseen")


@dataclass
class PairFeatures:
    """Features (N, D) float32 of a split's pictures with their attribute and object ids (N,)
    int64; ``train`` holds seen pairs only, ``validation`` and ``test`` seen pairs and their own
    unseen ones (as ``attribute_pairs.PairImages``)."""

    pairs: PairSplit
    features: dict[str, torch.Tensor]  # split → (N, D) float32
    attributes: dict[str, torch.Tensor]  # split → (N,) int64 ids into pairs.attributes
    objects: dict[str, torch.Tensor]  # split → (N,) int64 ids into pairs.objects
    info: dict[str, Any]  # where they come from (the run, its weights, the dataset)

    @property
    def dim(self) -> int:
        return self.features["train"].shape[1]

    def check(self, where: str) -> None:
        """DataError naming ``where`` unless every split is consistent: one feature size, ids in
        range, training pictures of seen pairs only, every picture of a pair of its split."""
        pairs, dim = self.pairs, self.dim
        allowed = {
            "train": set(pairs.seen),
            "validation": {*pairs.seen, *pairs.validation_unseen},
            "test": {*pairs.seen, *pairs.test_unseen},
        }
        for split in SPLITS:
            x, a, o = self.features[split], self.attributes[split], self.objects[split]
            if x.dtype != torch.float32 or x.ndim != 2 or x.shape[1] != dim:
                raise DataError(
                    f"{where}: {split} features are {_type(x)} {tuple(x.shape)}, expected "
                    f"float32 (N, {dim})"
                )
            if not torch.isfinite(x).all():
                raise DataError(f"{where}: {split} features hold NaN or infinite values")
            for name, ids, size in (
                ("attributes", a, len(pairs.attributes)),
                ("objects", o, len(pairs.objects)),
            ):
                if ids.dtype != torch.int64 or ids.shape != (len(x),):
                    raise DataError(
                        f"{where}: {split} {name} are {_type(ids)} {tuple(ids.shape)}, expected "
                        f"int64 ({len(x)},)"
                    )
                if len(ids) and not 0 <= int(ids.min()) <= int(ids.max()) < size:
                    raise DataError(f"{where}: {split} {name} ids outside 0…{size - 1}")
            stray = set(zip(a.tolist(), o.tolist(), strict=True)) - allowed[split]
            if stray:
                raise DataError(
                    f"{where}: {len(stray)} pairs of {split} pictures are not pairs of that "
                    f"split, e.g. {pairs.name(min(stray))!r}"
                )


def _type(x: torch.Tensor) -> str:
    return str(x.dtype).removeprefix("torch.")


def save_pair_features(features: PairFeatures, path: Path) -> Path:
    """Write ``features`` atomically to ``path`` as safetensors (the names and the pair split
    ride in its metadata as JSON)."""
    tensors = {
        f"{split}.{key}": getattr(features, key)[split].contiguous()
        for split in SPLITS
        for key in ("features", "attributes", "objects")
    }
    pairs = features.pairs
    metadata = {
        "format": FORMAT,
        "attributes": json.dumps(list(pairs.attributes)),
        "objects": json.dumps(list(pairs.objects)),
        **{name: json.dumps([list(p) for p in getattr(pairs, name)]) for name in PAIR_SETS},
        "info": json.dumps(features.info),
    }
    data = save(tensors, metadata=metadata)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(Path(path), lambda f: f.write(data))
    return Path(path)


def read_pair_features(path: Path) -> PairFeatures:
    """The features ``save_pair_features`` wrote, checked (``PairFeatures.check``)."""
    other = "not a features file (make one with: sharedspace features RUN)"
    tensors, meta = read_tagged_safetensors(Path(path), HEADER_LIMIT, FORMAT, DataError, other)
    names = {key: _names(meta, key, path) for key in ("attributes", "objects")}
    sets = {key: _pairs(meta, key, path) for key in PAIR_SETS}
    split = PairSplit(names["attributes"], names["objects"], **sets)
    wanted = [f"{s}.{k}" for s in SPLITS for k in ("features", "attributes", "objects")]
    missing = [key for key in wanted if key not in tensors]
    if missing:
        raise DataError(f"{path}: no tensor {missing[0]!r} (a features file holds {wanted})")
    features = PairFeatures(
        split,
        *({s: tensors[f"{s}.{k}"] for s in SPLITS} for k in ("features", "attributes", "objects")),
        info=meta.get("info") if isinstance(meta.get("info"), dict) else {},
    )
    features.check(str(path))
    return features


def _names(meta: dict[str, Any], key: str, path: Path) -> tuple[str, ...]:
    names = meta.get(key)
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise DataError(f"{path}: metadata {key!r} must be a non-empty list of names")
    return tuple(names)


def _pairs(meta: dict[str, Any], key: str, path: Path) -> tuple[Pair, ...]:
    pairs = meta.get(key)
    if not isinstance(pairs, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(type(i) is int for i in p) for p in pairs
    ):
        raise DataError(f"{path}: metadata {key!r} must be a list of [attribute, object] ids")
    return tuple((a, o) for a, o in pairs)


@dataset("pair_features", kind="features", splits=PairFeatures)
def load_pair_features(data_dir: Path | None = None) -> PairFeatures:
    """Features a run exported (``sharedspace features RUN``): ``data_dir`` is the folder that
    holds ``features.safetensors`` (``RUN/features``) or one holding it as ``pair_features/``."""
    folder = find_dataset(
        "pair_features",
        (FILE,),
        data_dir,
        how_to_get="make it from a trained encoder: sharedspace features RUN, then set "
        "data_dir=RUN/features",
    )
    return read_pair_features(folder / FILE)
