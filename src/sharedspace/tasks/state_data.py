"""Pictures of attribute–object pairs (``data/attribute_pairs.PairImages``) as a classifier reads
them, labelled by their attribute, their object or their pair (``label``): the data a feature
extractor for zero-shot compositional learning trains on. Every split holds the seen pairs'
pictures only, so an encoder trained and chosen here has never seen an unseen pair (validation
and test are other pictures of the seen pairs); the unseen pairs are for the features' users.
"""

from dataclasses import dataclass
from typing import Literal

import torch

from sharedspace.data.attribute_pairs import PairImages
from sharedspace.data.specs import ClassesTarget
from sharedspace.tasks.classification import Classification
from sharedspace.tasks.data import DataView, LabelledSplit, Sizes, TaskData, load_dataset
from sharedspace.tasks.image_data import image_spec
from sharedspace.tasks.views import DATA_VIEWS


@DATA_VIEWS.register(Classification)
class SeenPairImages(DataView):
    """The seen pairs' pictures of every split, labelled by ``label``: the attribute (every
    attribute is seen), the object, or the pair (the seen pairs as the classes)."""

    kind = "image"
    target = "classes"
    name = "seen_pairs"
    reads = PairImages

    @dataclass
    class Config(Sizes):
        label: Literal["attribute", "object", "pair"] = "pair"

    @classmethod
    def prepare(cls, source, cfg, data_dir, seed, key, state):
        ds: PairImages = load_dataset(source, data_dir)
        pairs = ds.pairs
        seen = torch.full((len(pairs.attributes), len(pairs.objects)), -1, dtype=torch.int64)
        for i, (a, o) in enumerate(pairs.seen):
            seen[a, o] = i  # (A, O): the seen pair's class, −1 for an unseen pair
        classes = {
            "attribute": pairs.attributes,
            "object": pairs.objects,
            "pair": tuple(pairs.name(p) for p in pairs.seen),
        }[cfg.label]
        splits = {}
        for split, n in cfg.per_split().items():
            attributes, objects = ds.attributes[split], ds.objects[split]
            pair = seen[attributes, objects]
            labels = {"attribute": attributes, "object": objects, "pair": pair}[cfg.label]
            kept = pair >= 0
            splits[split] = LabelledSplit(ds.images[split][kept], labels[kept]).first(n)
        return TaskData(splits, image_spec(source, data_dir), ClassesTarget(classes))
