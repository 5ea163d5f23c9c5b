"""The output side of the contract, end to end through the trainer: tasks that share one output
net and one decoding space, told apart by their start tokens; a translation-shaped toy (text →
text in another tokenizer) and a captioning-shaped toy (image → text). The toy datasets and their
views are written in this file and registered for its tests only (data kinds are data)."""

from dataclasses import dataclass

import pytest
import torch

from sharedspace.data import DATASETS, TOKENIZERS, dataset
from sharedspace.data.specs import ImageSpec, TokensTarget
from sharedspace.data.tokenizers import EOS_ID
from sharedspace.decoding import Decoding
from sharedspace.errors import ConfigError
from sharedspace.resolve import load_config
from sharedspace.tasks.data import SPLITS, DataView, Sizes, TaskData
from sharedspace.tasks.seq2seq import SequenceToSequence
from sharedspace.tasks.text_data import PaddedTokens, padded, text_spec, vocabulary
from sharedspace.tasks.views import DATA_VIEWS
from sharedspace.train.trainer import train
from tests.data.registry_checks import check_prepared, check_view, isolate
from tests.tiny import tiny_config

ENGLISH = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
GERMAN = ["null", "eins", "zwei", "drei", "vier", "fuenf", "sechs", "sieben", "acht", "neun"]
SIZES = {"train": 1500, "validation": 200, "test": 200}


@dataclass
class Parallel:
    """Sentence pairs per split: (source, target)."""

    train: list[tuple[str, str]]
    validation: list[tuple[str, str]]
    test: list[tuple[str, str]]


def load_numbers(data_dir=None) -> Parallel:
    """Numbers of 1–5 digits spelt in English, and in German word by word."""
    g = torch.Generator().manual_seed(0)
    splits = {}
    for split, count in SIZES.items():
        lengths = torch.randint(1, 6, (count,), generator=g).tolist()
        digits = [torch.randint(0, 10, (n,), generator=g).tolist() for n in lengths]
        splits[split] = [
            (" ".join(ENGLISH[d] for d in ds), " ".join(GERMAN[d] for d in ds)) for ds in digits
        ]
    return Parallel(**splits)


class Translations(DataView):
    """Source sentences → target sentences, each side with its own word tokenizer; ``reverse``
    writes the target words in reverse order (another task on the same pairs)."""

    kind = "text"
    target = "tokens"
    name = "translations"

    @dataclass
    class Config(Sizes):
        seq_len: int = 5
        reverse: bool = False

    @classmethod
    def prepare(cls, source, cfg, data_dir, seed, key, state):
        pairs = DATASETS.get(source).load(data_dir)
        fit = TOKENIZERS.get("word")
        reads = fit([s for s, _ in pairs.train], 16)
        writes = fit([t for _, t in pairs.train], 16)
        splits = {}
        for split in SPLITS:
            sources, targets = zip(*getattr(pairs, split), strict=True)
            outputs = [
                [*ids[:: -1 if cfg.reverse else 1], EOS_ID] for ids in writes.encode_batch(targets)
            ]
            ids, lengths = padded(reads.encode_batch(list(sources)), cfg.seq_len)
            out, out_lengths = padded(outputs, cfg.seq_len + 1)
            splits[split] = PaddedTokens(ids, lengths, out, out_lengths)
        target = TokensTarget(writes.vocab_size, cfg.seq_len + 1, vocabulary(writes))
        return TaskData(splits, text_spec(reads, cfg.seq_len), target)


QUADRANTS = ("topleft", "topright", "bottomleft", "bottomright")


@dataclass
class Captioned:
    """Images (N, 1, 8, 8) uint8 and their captions, per split."""

    images: dict[str, torch.Tensor]
    captions: dict[str, list[str]]


def load_quadrants(data_dir=None) -> Captioned:
    """8×8 images whose 4×4 quadrants are lit or dark (with noise), captioned by the lit ones in
    reading order, or "dark"."""
    g = torch.Generator().manual_seed(1)
    images, captions = {}, {}
    for split, count in SIZES.items():
        lit = torch.rand(count, 2, 2, generator=g) < 0.5  # (N, 2, 2)
        grid = lit.repeat_interleave(4, 1).repeat_interleave(4, 2)  # (N, 8, 8)
        noise = torch.randint(0, 60, (count, 8, 8), generator=g)
        images[split] = torch.where(grid, 255 - noise, noise).to(torch.uint8)[:, None]
        captions[split] = [
            " ".join(q for q, on in zip(QUADRANTS, row.flatten().tolist(), strict=True) if on)
            or "dark"
            for row in lit
        ]
    return Captioned(images, captions)


@dataclass
class CaptionSplit:
    images: torch.Tensor  # (N, C, H, W) uint8
    captions: torch.Tensor  # (N, L) token ids padded with <pad>
    lengths: torch.Tensor  # (N,)

    def __len__(self) -> int:
        return len(self.images)

    def get(self, idx):
        y = self.captions[idx]
        mask = torch.arange(y.shape[1]) < self.lengths[idx][:, None]
        return {"x": self.images[idx], "y": y, "y_mask": mask}

    def first(self, n):
        return CaptionSplit(self.images[:n], self.captions[:n], self.lengths[:n])


class Captions(DataView):
    """Images → their captions, in a word tokenizer fitted on the training captions."""

    kind = "image"
    target = "tokens"
    name = "toy_captions"  # the real view is "captions" (tasks/caption_data.py)

    @classmethod
    def prepare(cls, source, cfg, data_dir, seed, key, state):
        data = DATASETS.get(source).load(data_dir)
        words = TOKENIZERS.get("word")(data.captions["train"], 16)
        longest = len(QUADRANTS) + 1  # <eos> included
        splits = {}
        for split in SPLITS:
            ids = [[*t, EOS_ID] for t in words.encode_batch(data.captions[split])]
            captions, lengths = padded(ids, longest)
            splits[split] = CaptionSplit(data.images[split], captions, lengths)
        mean = data.images["train"].float().mean().item() / 255
        std = data.images["train"].float().std().item() / 255
        spec = ImageSpec(1, 8, 8, (mean,), (std,))
        return TaskData(splits, spec, TokensTarget(words.vocab_size, longest, vocabulary(words)))


@pytest.fixture
def toys(monkeypatch):
    isolate(monkeypatch, DATASETS)
    dataset("numbers", kind="text", splits=Parallel)(load_numbers)
    dataset("quadrants", kind="image", splits=Captioned)(load_quadrants)
    DATA_VIEWS.register(SequenceToSequence)(Translations)
    DATA_VIEWS.register(SequenceToSequence)(Captions)


def decoder_model(modalities: dict) -> dict:
    """A small decoding space and one language net, ``text``."""
    return {
        "width": 32,
        "modalities": modalities,
        "space": {
            "name": "decoder",
            "embed_dim": 32,
            "heads": 4,
            "layers": 2,
            "ff_dim": 64,
            "max_len": 8,
        },
        "outputs": {"text": {"name": "language"}},
    }


TRAIN = {"batch_size": 50, "lr": 3e-3, "warmup_steps": 20, "progress": False, "sampler": "all"}


def test_the_toy_views_keep_the_view_contract(toys):
    for view, source in ((Translations, "numbers"), (Captions, "quadrants")):
        check_view("seq2seq", view.kind, view.name, view)
        prepared = view.prepare(source, view.Config(), None, 0, "tasks.t.data", {})
        check_prepared(view, prepared)
    prepared = Translations.prepare("numbers", Translations.Config(), None, 0, "tasks.t.data", {})
    assert prepared.spec.vocabulary != prepared.target.vocabulary  # two tokenizers


def test_two_tasks_share_one_language_net_and_one_decoder_told_apart_by_their_tokens(
    toys, tmp_path
):
    """Translation-shaped (text → text, two tokenizers): word by word, and word by word in
    reverse, from the same sentences through the same decoder and output net."""
    raw = {
        "name": "numbers",
        "out_dir": str(tmp_path),
        "tasks": {
            name: {
                "kind": "seq2seq",
                "modality": "text",
                "output": "text",
                "data": {"source": "numbers", "view": "translations", "reverse": reverse},
            }
            for name, reverse in (("translate", False), ("backwards", True))
        },
        "model": decoder_model(
            {"text": {"name": "text_encoder", "embed_dim": 32, "layers": 1, "ff_dim": 64}}
        ),
        "train": {**TRAIN, "epochs": 30},
    }
    result = train(load_config(data=raw))
    model = result.model
    assert list(model.outputs) == ["text"] and not model.heads  # one net, no task heads
    shared = {id(p) for p in model.shared_parameters()}
    assert all(id(p) in shared for p in model.space.parameters())
    net = model.outputs["text"]
    assert {id(p) for p in net.parameters()} - shared == {id(p) for p in net.starts}
    for task in ("translate", "backwards"):
        assert result.metrics["validation"][task]["exact_match"] >= 0.95, result.metrics

    # the same input, only the start token differs: different outputs, each its task's
    forward, backward = (t.data.splits["validation"] for t in result.tasks)
    batch = forward.get(torch.arange(100))
    model.eval()
    written = [model.predict(task, batch) for task in (0, 1)]
    assert not torch.equal(written[0], written[1])
    # validation reads a batch once: ``scored`` is forward + predict with one pass of the cap
    reads = []
    hook = model.caps["text"].register_forward_hook(lambda *_: reads.append(1))
    beam = Decoding(beam_size=2)
    output, _, prediction = model.scored(1, batch, beam)
    assert len(reads) == 1
    hook.remove()
    with torch.no_grad():
        torch.testing.assert_close(output, model(1, batch)[0])
    assert torch.equal(prediction, model.predict(1, batch, beam))
    for task, split in ((0, forward), (1, backward)):
        target = split.get(torch.arange(100))
        with torch.no_grad():
            output, _ = model(task, target)
        sums = result.tasks[task].metric_sums(output, target, written[task])  # its exact match
        assert sums["exact"] / sums["count"] >= 0.95


def test_captioning_shaped_toy_trains_through_the_contract(toys, tmp_path):
    raw = {
        "name": "quadrants",
        "out_dir": str(tmp_path),
        "tasks": {
            "caption": {
                "kind": "seq2seq",
                "modality": "image",
                "output": "text",
                "data": {"source": "quadrants", "view": "toy_captions"},
            }
        },
        "model": decoder_model({"image": "pixels"}),
        "train": {**TRAIN, "epochs": 10},
    }
    result = train(load_config(data=raw))
    assert result.metrics["validation"]["caption"]["exact_match"] >= 0.95, result.metrics


def test_tasks_that_share_an_output_net_share_its_vocabulary_and_fit_the_decoder(toys, tmp_path):
    text = {"name": "text_encoder", "embed_dim": 32, "layers": 1, "ff_dim": 64}
    tasks = {
        "translate": {"kind": "seq2seq", "modality": "text", "output": "text",
                      "data": {"source": "numbers", "view": "translations"}},
        "caption": {"kind": "seq2seq", "modality": "image", "output": "text",
                    "data": {"source": "quadrants", "view": "toy_captions"}},
    }  # fmt: skip
    raw = {
        "name": "clash",
        "out_dir": str(tmp_path),
        "tasks": tasks,
        "model": decoder_model({"text": text, "image": "pixels"}),
        "train": {**TRAIN, "max_steps": 1},
    }
    with pytest.raises(ConfigError, match=r"^tasks\.caption\.output: its data \(TokensTarget"):
        train(load_config(data=raw))
    del raw["tasks"]["caption"]
    with pytest.raises(ConfigError, match=r"model\.space\.max_len: 4, but task translate's"):
        train(load_config(data=raw, overrides=["model.space.max_len=4"]))
    assert not (tmp_path / "clash").exists()  # nothing written


def test_a_next_word_task_and_a_seq2seq_task_share_one_language_net(tiny_data_dir, tmp_path):
    """One tokenizer, two target kinds (the next token; a token sequence): the language net
    reads only the vocabulary, so both tasks write through it."""
    overrides = [
        "tasks.next_word.output=text",
        "+tasks.reverse={kind: seq2seq, modality: text, output: text, data: {source: fortunes, "
        "seq_len: 6, min_len: 2, vocab_size: 32}}",
        "~model.space",
        "model.space={name: decoder, embed_dim: 16, heads: 2, layers: 1, ff_dim: 32, max_len: 8}",
        "model.outputs={text: language}",
    ]
    cfg = tiny_config(
        tiny_data_dir, tmp_path, tasks=("next_word",), overrides=overrides, max_steps=4,
        sampler="all",
    )  # fmt: skip
    model = train(cfg).model
    assert list(model.outputs) == ["text"] and not model.heads
    shared = {id(p) for p in model.shared_parameters()}
    assert id(model.outputs["text"].tokens.weight) in shared  # both tasks train the embedding
