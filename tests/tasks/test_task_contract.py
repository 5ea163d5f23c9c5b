"""Every registered task kind keeps the contract on every kind of data it reads and every
representation form its head accepts: per-example losses (B,), gradients into the whole head,
metrics from sums, and a prediction path where it decodes."""

import math
import wave

import numpy as np
import pytest
import torch
from PIL import Image

from sharedspace.config import from_dict
from sharedspace.data import ParallelSplits
from sharedspace.data.attribute_pairs import PairImages
from sharedspace.data.captions import CaptionedImages
from sharedspace.data.coco import DetectionImages
from sharedspace.data.pair_features import FILE, save_pair_features
from sharedspace.data.scene_objects import SceneObjects
from sharedspace.parts import collect
from sharedspace.representation import PaddedSequence
from sharedspace.tasks import TASKS
from sharedspace.tasks.views import DATA_VIEWS
from tests.data.coco_files import write_coco
from tests.data.cutout_files import write_cutouts
from tests.tiny import compositional_features

CASES = [
    (name, kind, view, form)
    for name, kind, view, _ in DATA_VIEWS
    for form in TASKS.get(name).accepts
]
FIELDS = {
    "image": {"train_size": 64, "val_size": 16, "eval_size": 16},
    "text": {"vocab_size": 64},
    "bits": {"train_size": 64, "val_size": 16, "test_size": 16, "parity": [0, 1]},
    "audio": {},
    "features": {},
    ParallelSplits: {"tokenizer": "word", "vocab_size": 64},  # views of aligned texts
    CaptionedImages: {"vocab_size": 64},  # views of images with captions
    SceneObjects: {"scenes": 8, "eval_scenes": 4, "size": 32},  # scenes of pasted objects
    DetectionImages: {},  # images with boxes (COCO's format)
    PairImages: {"train_size": 64, "eval_size": 16},  # pictures of attribute–object pairs
}


@pytest.fixture(scope="module")
def sources(tiny_data_dir, tiny_category_dir, tmp_path_factory):
    """kind of data (or the splits type a view reads) → (source, data_dir): the category fixture
    for text, as it has categories; a file of translation pairs for views of aligned texts; a
    folder of captioned images for views of those; a folder of transcribed speech for audio."""
    pairs = tmp_path_factory.mktemp("pairs") / "pairs.tsv"
    pairs.write_text("en\tde\n" + "".join(f"message {i}\tNachricht {i}\n" for i in range(200)))
    pictures = tmp_path_factory.mktemp("captioned")
    for i in range(60):
        Image.new("RGB", (8, 8), (4 * i, 255 - 4 * i, 0)).save(pictures / f"{i}.png")
    (pictures / "captions.tsv").write_text("".join(f"{i}.png\tcolour {i}\n" for i in range(60)))
    # 12 recordings of 4 phrases, 16 kHz int16 WAV; the phrases fall in all three splits
    speech = tmp_path_factory.mktemp("speech")
    for i in range(12):
        with wave.open(str(speech / f"{i}.wav"), "wb") as f:
            f.setnchannels(1)
            f.setsampwidth(2)
            f.setframerate(16000)
            noise = np.random.default_rng(i).integers(-3000, 3000, 800 + 80 * i, dtype=np.int16)
            f.writeframes(noise.tobytes())
    (speech / "transcripts.tsv").write_text("".join(f"{i}.wav\tsay {i % 4}\n" for i in range(12)))
    features = tmp_path_factory.mktemp("features")
    save_pair_features(compositional_features(dim=16), features / "pair_features" / FILE)
    return {
        ParallelSplits: ("translation_pairs", pairs),
        CaptionedImages: ("captioned_images", pictures),
        SceneObjects: ("object_cutouts", write_cutouts(tmp_path_factory.mktemp("objects"))),
        DetectionImages: ("coco_detection", write_coco(tmp_path_factory.mktemp("coco"))),
        PairImages: ("fashion_mnist_states", tiny_data_dir),
        "image": ("fashion_mnist", tiny_data_dir),
        "text": ("fortunes", tiny_category_dir),
        "bits": ("random_bits", None),
        "audio": ("transcribed_audio", speech),
        "features": ("pair_features", features),  # at the width of z below
    }


@pytest.mark.parametrize(("name", "kind", "view", "form"), CASES)
def test_task_contract(name, kind, view, form, sources):
    cls = TASKS.get(name)
    view = DATA_VIEWS.of(name)[kind][view]
    source, data_dir = sources.get(view.reads, sources[kind])
    data = view.prepare(
        source,
        from_dict(view.Config, FIELDS.get(view.reads, FIELDS[kind])),
        data_dir and str(data_dir),
        0,
        "tasks.t.data",
        {},
    )
    assert set(data.splits) == {"train", "validation", "test"} and data.spec.kind == kind
    assert data.target.kind == view.target
    task = cls("t", 0, kind, from_dict(cls.Config, {}), data)
    torch.manual_seed(0)
    head = task.build_head(16)
    batch = data.splits["train"].get(torch.arange(4))
    n = 4 * data.frames  # the space's outputs: one per input, F inputs an example
    z = {
        "vector": torch.randn(n, 16),
        "sequence": PaddedSequence(
            torch.randn(n, 3, 16),
            torch.tensor([[True, True, True], [True, False, False]] * 2).repeat(data.frames, 1),
        ),
        "map": torch.randn(n, 16, 8, 8),  # a feature map of stride 4 on 32 px images
    }[form]
    output = head(z, batch)  # only the output: aux losses are emitted (parts.emit)
    assert set(collect(head.modules())) <= set(cls.aux_losses)
    terms = task.loss(output, batch)
    assert terms.sums.shape == terms.weights.shape == (4,) and (terms.weights >= 0).all()
    assert torch.isfinite(terms.losses()).all() and cls.reduction in ("example", "token")
    terms.mean(cls.reduction).backward()
    missing = [n for n, p in head.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing, f"no gradient reaches {missing}"
    prediction = head.predict(z) if cls.decodes else None
    if prediction is not None:
        assert prediction.dtype == torch.long and prediction.shape[0] == 4
    # a head's output is a tensor, a dict of them (a detection head's maps), or an object of
    # the kind's own that detaches (the zero-shot head's, whose terms are computed on demand)
    is_dict = isinstance(output, dict)
    output = {k: v.detach() for k, v in output.items()} if is_dict else output.detach()
    sums = task.metric_sums(output, batch, prediction)
    metrics = task.metrics({k: float(v) for k, v in sums.items()})
    assert set(metrics) >= {"loss"} and all(math.isfinite(v) for v in metrics.values())
    assert set(metrics) <= set(cls.goals), (
        f"metrics without a goal: {set(metrics) - set(cls.goals)}"
    )
    rows = task.metric_rows(output, batch, prediction)  # metrics of the whole split, if any
    assert all(len(v) == 4 for v in rows.values())
    whole = task.row_metrics(rows) if rows else {}
    overall = {k for k in whole if "/" not in k}  # per-class numbers ("ap/<class>") aside
    assert overall <= set(cls.goals) and not overall & set(metrics)
    assert set(cls.goals.values()) <= {"max", "min"}
