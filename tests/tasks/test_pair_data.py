"""The ``pairs`` view: any ParallelSplits dataset as source → target tasks, one tokenizer for
every side, so translation directions share one text cap and one language output net."""

import json

import pytest
import torch

from sharedspace.data import DATASETS, ParallelSplits, dataset
from sharedspace.data.parallel import split_rows
from sharedspace.data.tokenizers import EOS_ID
from sharedspace.errors import ConfigError
from sharedspace.resolve import load_config
from sharedspace.tasks.data import load_dataset
from sharedspace.tasks.pair_data import Pairs, pairs_tokenizer
from sharedspace.tasks.text_data import ReversalPairs, vocabulary
from sharedspace.tasks.views import DATA_VIEWS
from sharedspace.train.trainer import train
from tests.data.mo_files import write_catalog
from tests.data.registry_checks import check_prepared, check_view, isolate
from tests.test_output_side import TRAIN, decoder_model

ENGLISH = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
GERMAN = ["null", "eins", "zwei", "drei", "vier", "fuenf", "sechs", "sieben", "acht", "neun"]
FRENCH = ["zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf"]
KEY = "tasks.t.data"


def number_rows(count: int, seed: int = 0) -> list[dict[str, str]]:
    """``count`` distinct numbers of 1–4 digits spelt word by word in English, German, French."""
    g = torch.Generator().manual_seed(seed)
    seen: dict[tuple[int, ...], None] = {}
    while len(seen) < count:
        n = int(torch.randint(1, 5, (1,), generator=g))
        seen[tuple(torch.randint(0, 10, (n,), generator=g).tolist())] = None
    return [
        {side: " ".join(words[d] for d in ds) for side, words in
         (("en", ENGLISH), ("de", GERMAN), ("fr", FRENCH))}
        for ds in seen
    ]  # fmt: skip


@pytest.fixture
def gettext_dir(tmp_path):
    """A gettext folder: 300 messages in German and French (50 of them German only)."""
    rows = number_rows(300)
    for language in ("de", "fr"):
        kept = rows if language == "de" else rows[50:]
        messages = {r["en"]: r[language] for r in kept}
        write_catalog(tmp_path / "gettext", "numbers-l10n", language, "numbers", messages)
    return str(tmp_path)


def test_the_view_keeps_the_contract_on_gettext_and_is_the_default_for_parallel_data(gettext_dir):
    check_view("seq2seq", "text", "pairs", Pairs)
    cfg = Pairs.Config(tokenizer="word", vocab_size=64, seq_len=4, max_len=5)
    prepared = Pairs.prepare("gettext", cfg, gettext_dir, 0, KEY, {})
    check_prepared(Pairs, prepared)
    batch = prepared.splits["train"].get(torch.arange(3))
    assert batch["x"].shape == (3, 4) and batch["y"].shape == (3, 5)
    ends = batch["y_mask"].sum(1) - 1
    assert (batch["y"][torch.arange(3), ends] == EOS_ID).all()  # each target ends in <eos>
    assert DATA_VIEWS.pick("seq2seq", "gettext", None) is Pairs  # the only view of its splits
    assert DATA_VIEWS.pick("seq2seq", "translation_pairs", None) is Pairs
    assert DATA_VIEWS.pick("seq2seq", "fortunes", None) is ReversalPairs  # unchanged
    with pytest.raises(ConfigError, match=r"^view: 'reversal_pairs' is not .* known: pairs$"):
        DATA_VIEWS.pick("seq2seq", "gettext", "reversal_pairs")
    with pytest.raises(ConfigError, match=r"^source: no language_model view reads 'gettext' "):
        DATA_VIEWS.pick("language_model", "gettext", None)


def test_every_direction_shares_one_tokenizer_fitted_on_every_side(gettext_dir):
    prepared = {}
    for a, b in (("en", "de"), ("de", "en"), ("en", "fr"), ("fr", "de")):
        cfg = Pairs.Config(source_side=a, target_side=b, tokenizer="word", vocab_size=64)
        prepared[a, b] = Pairs.prepare("gettext", cfg, gettext_dir, 0, KEY, {})
    specs = {p.spec for p in prepared.values()}
    targets = {(p.target.vocab_size, p.target.vocabulary) for p in prepared.values()}
    assert len(specs) == 1 and len(targets) == 1  # one text cap, one language net
    assert next(iter(specs)).vocabulary == next(iter(targets))[1]
    tokenizer = pairs_tokenizer("gettext", cfg, gettext_dir, {})
    assert all(word in tokenizer.ids for word in ("seven", "sieben", "sept"))  # every side
    assert len(prepared["en", "de"].splits["train"]) > len(prepared["en", "fr"].splits["train"])


def test_a_checkpoints_tokenizer_is_restored_not_refitted(gettext_dir):
    other = Pairs.prepare("gettext", Pairs.Config(tokenizer="word", vocab_size=16), gettext_dir,
                          0, KEY, {})  # fmt: skip
    cfg = Pairs.Config(tokenizer="word", vocab_size=64)
    restored = Pairs.prepare("gettext", cfg, gettext_dir, 0, KEY, other.state)
    assert (
        restored.spec.vocabulary
        == other.spec.vocabulary
        != vocabulary(pairs_tokenizer("gettext", cfg, gettext_dir, {}))
    )
    batch, again = (p.splits["validation"].get(torch.arange(4)) for p in (other, restored))
    assert all(torch.equal(batch[k], again[k]) for k in batch)


def test_an_unknown_side_names_the_key_and_the_known_sides(gettext_dir):
    with pytest.raises(ConfigError, match=r"^tasks\.t\.data\.target_side: 'es' is not a side of "
                       r"gettext; its sides: en, de, fr$"):  # fmt: skip
        Pairs.prepare("gettext", Pairs.Config(target_side="es"), gettext_dir, 0, KEY, {})
    with pytest.raises(ConfigError, match=r"^target_side: 'en' is the source_side too"):
        Pairs.Config(source_side="en", target_side="en")
    with pytest.raises(ConfigError, match=r"^max_len: expected a whole number ≥ 1"):
        Pairs.Config(max_len=0)


def test_overlong_pairs_are_dropped_never_truncated(gettext_dir):
    cfg = Pairs.Config(tokenizer="word", vocab_size=64, seq_len=2, max_len=4)
    unscored = r"^tasks\.t\.data: \d+ of \d+ validation examples are empty or longer than seq_len 2"
    with pytest.warns(UserWarning, match=unscored):  # scores on the rest flatter: say so
        prepared = Pairs.prepare("gettext", cfg, gettext_dir, 0, KEY, {})
    rows = load_dataset("gettext", gettext_dir).train
    fits = [
        r for r in rows if "de" in r and len(r["en"].split()) <= 2 and len(r["de"].split()) <= 3
    ]
    train = prepared.splits["train"]
    assert len(train) == len(fits) < len(rows)
    tokenizer = pairs_tokenizer("gettext", cfg, gettext_dir, {})
    decoded = [tokenizer.decode(ids.tolist()) for ids in train.get(torch.arange(len(train)))["x"]]
    assert decoded == [r["en"] for r in fits]  # whole sources, in the dataset's order
    with pytest.raises(ConfigError, match=r"^tasks\.t\.data: the train split of gettext has no "):
        Pairs.prepare("gettext", Pairs.Config(tokenizer="word", seq_len=1, max_len=1),
                      gettext_dir, 0, KEY, {})  # fmt: skip


def test_any_parallel_dataset_reads_through_it_a_treebank_too(monkeypatch):
    isolate(monkeypatch, DATASETS)
    trees = [{"words": f"the {w} ran", "tree": f"(S (NP the {w}) (VP ran))"} for w in ENGLISH * 10]
    rows = [{**r, "words": r["words"] + f" {i}"} for i, r in enumerate(trees)]

    def load_trees(data_dir=None) -> ParallelSplits:
        """Sentences and their linearised trees."""
        return split_rows(rows, "words", ("words", "tree"))

    dataset("tiny_trees", kind="text", splits=ParallelSplits)(load_trees)
    cfg = Pairs.Config(source_side="words", target_side="tree", tokenizer="word", vocab_size=64,
                       seq_len=4, max_len=14)  # fmt: skip
    prepared = Pairs.prepare("tiny_trees", cfg, None, 0, KEY, {})
    check_prepared(Pairs, prepared)
    assert sum(len(s) for s in prepared.splits.values()) == 100


def test_two_directions_share_one_language_net_and_one_decoder(tmp_path, one_thread):
    """en → de and de → en from one file of pairs, through one text cap, one decoding space and
    one language net, told apart by their start tokens."""
    path = tmp_path / "numbers.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in number_rows(600)))
    data = {"source": "translation_pairs", "tokenizer": "word", "vocab_size": 40, "seq_len": 4,
            "max_len": 5}  # fmt: skip
    raw = {
        "name": "directions",
        "out_dir": str(tmp_path / "runs"),
        "data_dir": str(path),
        "tasks": {
            f"{a}_{b}": {
                "kind": "seq2seq",
                "modality": "text",
                "output": "text",
                "data": {**data, "source_side": a, "target_side": b},
            }
            for a, b in (("en", "de"), ("de", "en"))
        },
        "model": decoder_model(
            {"text": {"name": "text_encoder", "embed_dim": 32, "layers": 1, "ff_dim": 64}}
        ),
        "train": {**TRAIN, "epochs": 20},
    }
    result = train(load_config(data=raw))
    model = result.model
    assert list(model.outputs) == ["text"] and list(model.caps) == ["text"] and not model.heads
    shared = {id(p) for p in model.shared_parameters()}
    assert all(id(p) in shared for p in model.space.parameters())
    first, second = result.tasks
    assert first.data.spec == second.data.spec and first.data.target == second.data.target
    for task in ("en_de", "de_en"):
        assert result.metrics["validation"][task]["exact_match"] >= 0.95, result.metrics
