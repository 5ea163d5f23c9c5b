"""The captions view: its contract, languages, tokenizer state, and a tiny captioning run through
the trainer on a generated folder of the user format."""

from pathlib import Path

import pytest
import torch
from PIL import Image

from sharedspace.data.tokenizers import EOS_ID
from sharedspace.errors import ConfigError
from sharedspace.resolve import load_config
from sharedspace.tasks import caption_data
from sharedspace.tasks.caption_data import Captions
from sharedspace.tasks.data import load_dataset
from sharedspace.train.trainer import train
from tests.data.registry_checks import check_prepared, check_view
from tests.test_output_side import decoder_model

COLOURS = {"red": (230, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 230),
           "black": (0, 0, 0), "yellow": (240, 220, 0), "purple": (150, 30, 180)}  # fmt: skip
PLACES = {
    "top left": (0, 0),
    "top right": (16, 0),
    "bottom left": (0, 16),
    "bottom right": (16, 16),
}
SIZES = {"big": 16, "small": 10, "tiny": 6}


def shapes_folder(folder: Path, copies: int = 3) -> Path:
    """A user folder (captions.tsv, English and German columns): a square of a colour, size and
    place on white, captioned "a big red square top left"; 72 captions × ``copies`` images."""
    g = torch.Generator().manual_seed(0)
    lines = ["image\ten\tde"]
    for colour, rgb in COLOURS.items():
        for place, (x, y) in PLACES.items():
            for size, side in SIZES.items():
                for k in range(copies):
                    image = Image.new("RGB", (32, 32), (255, 255, 255))
                    jitter = torch.randint(0, 16 - side + 1, (2,), generator=g).tolist()
                    block = Image.new("RGB", (side, side), rgb)
                    image.paste(block, (x + jitter[0], y + jitter[1]))
                    name = f"{colour}-{place.replace(' ', '-')}-{size}-{k}.png"
                    image.save(folder / name)
                    german = f"ein {size} {colour} quadrat" if colour != "black" else ""
                    lines.append(f"{name}\ta {size} {colour} square {place}\t{german}")
    (folder / "captions.tsv").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> str:
    return str(shapes_folder(tmp_path_factory.mktemp("shapes")))


def test_the_view_keeps_the_contract_and_reads_one_language(shapes):
    check_view("seq2seq", "image", "captions", Captions)
    data = Captions.prepare("captioned_images", Captions.Config(), shapes, 0, "tasks.c.data", {})
    check_prepared(Captions, data)
    total = sum(len(s) for s in data.splits.values())
    assert total == 216 and all(len(s) for s in data.splits.values())
    batch = data.splits["train"].get(torch.arange(3))
    assert batch["y_mask"].sum(1).tolist() == [7, 7, 7]  # a big red square top left <eos>
    assert (batch["y"][:, 6] == EOS_ID).all() and batch["y"].shape == (3, 24)
    assert data.spec.channels == 3 and 0.5 < data.spec.mean[0] < 1  # mostly white

    german = Captions.prepare(
        "captioned_images", Captions.Config(language="de", max_len=5), shapes, 0, "k", {}
    )
    assert sum(len(s) for s in german.splits.values()) == 180  # black has no German caption
    assert german.target.max_len == 5 and german.spec == data.spec  # one image spec: one cap
    assert german.splits["train"].get(torch.arange(2))["y"][:, -1].tolist() == [EOS_ID] * 2
    # a caption longer than max_len leaves its image out, never cut to teach stopping mid-way
    with pytest.raises(ConfigError, match=r"^k\.max_len: 4 — every train caption is longer"):
        Captions.prepare("captioned_images", Captions.Config(language="de", max_len=4), shapes,
                         0, "k", {})  # fmt: skip

    again = Captions.prepare("captioned_images", Captions.Config(), shapes, 0, "k", data.state)
    assert again.target == data.target  # the tokenizer restored from the state


def test_wrong_language_or_uncaptioned_source_is_a_config_error(shapes, monkeypatch, tmp_path):
    monkeypatch.setattr(
        caption_data,
        "load_dataset",
        lambda source, data_dir: (
            object() if source == "fashion_mnist" else load_dataset(source, data_dir)
        ),
    )
    with pytest.raises(ConfigError, match=r"^k\.language: 'fr' — captioned_images has de, en$"):
        Captions.prepare("captioned_images", Captions.Config(language="fr"), shapes, 0, "k", {})
    with pytest.raises(ConfigError, match=r"^k\.source: 'fashion_mnist' has no captions"):
        Captions.prepare("fashion_mnist", Captions.Config(), None, 0, "k", {})
    rare = tmp_path / "rare"
    rare.mkdir()
    (rare / "captions.tsv").write_text("image\ten\tfr\na.png\tA dog.\tUn chien.\nb.png\tA cat.\t\n")
    for name in ("a.png", "b.png"):
        Image.new("RGB", (8, 8)).save(rare / name)
    with pytest.raises(ConfigError, match=r"^k: captioned_images has no fr captions in \w+"):
        Captions.prepare("captioned_images", Captions.Config(language="fr"), str(rare), 0, "k", {})


def test_a_caption_task_trains_through_the_trainer(shapes, tmp_path):
    raw = {
        "name": "shapes",
        "out_dir": str(tmp_path),
        "data_dir": shapes,
        "tasks": {
            "caption": {
                "kind": "seq2seq",
                "modality": "image",
                "output": "text",
                "data": {"source": "captioned_images", "max_len": 8, "vocab_size": 64},
            }
        },
        "model": decoder_model({"image": "pixels"}),
        "train": {
            "batch_size": 32,
            "lr": 3e-3,
            "warmup_steps": 10,
            "progress": False,
            "sampler": "all",
            "epochs": 25,
        },
    }
    result = train(load_config(data=raw))
    metrics = result.metrics["validation"]["caption"]
    # unseen combinations of colour, size and place (a, square and <eos> alone give 3/7): each
    # word is read from the pixels
    assert metrics["token_accuracy"] > 0.8, metrics
