"""One vocabulary for tasks on several datasets (``data.vocabulary``), and task tokens shared by
the tasks that write one kind of target (``task_token``)."""

import pytest

from sharedspace.data import DATASETS, ParallelSplits, dataset, tokenizer_from_state
from sharedspace.data.parallel import split_rows
from sharedspace.data.tokenizers import UNK_ID
from sharedspace.errors import ConfigError, DataError
from sharedspace.resolve import load_config
from sharedspace.tasks.vocabulary import fit_vocabularies, shared_tokenizers
from sharedspace.train.trainer import train
from tests.data.registry_checks import isolate
from tests.tasks.test_pair_data import number_rows
from tests.test_output_side import TRAIN, decoder_model

WORDS = ["cat", "dog", "owl", "yak", "emu", "bee", "ant", "elk"]


@pytest.fixture
def two_datasets(monkeypatch):
    """``vocab_numbers`` (en, de, fr number words) and ``vocab_trees`` (animal phrases and
    bracketed trees): no word in common but "six" (en and fr)."""
    isolate(monkeypatch, DATASETS)
    numbers = [{**r, "id": str(i)} for i, r in enumerate(number_rows(200))]
    trees = [{"words": f"the {a} saw {b}", "tree": f"(S {a} {b})"} for a in WORDS for b in WORDS]

    def vocab_numbers(data_dir=None) -> ParallelSplits:
        """Numbers spelt in three languages."""
        return split_rows(numbers, "id", ("en", "de", "fr"))

    def vocab_trees(data_dir=None) -> ParallelSplits:
        """Phrases and their trees."""
        return split_rows(trees, "words", ("words", "tree"))

    dataset("vocab_numbers", kind="text", splits=ParallelSplits)(vocab_numbers)
    dataset("vocab_trees", kind="text", splits=ParallelSplits)(vocab_trees)


def config(tmp_path, tasks: dict, **data) -> dict:
    """A run of ``tasks`` (name → (dataset, source side, target side[, task token])) on one text
    cap, a decoding space and one language net; ``data`` adds to every task's data section."""
    sections = {}
    for name, (source, a, b, *token) in tasks.items():
        sections[name] = {
            "kind": "seq2seq",
            "modality": "text",
            "output": "text",
            "task_token": token[0] if token else None,
            "data": {"source": source, "source_side": a, "target_side": b, "tokenizer": "word",
                     "vocab_size": 64, "seq_len": 6, "max_len": 8, **data},
        }  # fmt: skip
    return {
        "name": "vocab",
        "out_dir": str(tmp_path / "runs"),
        "tasks": sections,
        "model": decoder_model(
            {"text": {"name": "text_encoder", "embed_dim": 32, "layers": 1, "ff_dim": 64}}
        ),
        "train": {**TRAIN, "epochs": 1, "max_steps": 2},
    }


def tokenizers(tmp_path, tasks: dict, **data) -> dict:
    return shared_tokenizers(load_config(data=config(tmp_path, tasks, **data)), {})


def test_tasks_of_one_vocabulary_read_one_tokenizer_fitted_on_all_their_text(
    two_datasets, tmp_path
):
    tasks = {"en_de": ("vocab_numbers", "en", "de"), "parse": ("vocab_trees", "words", "tree")}
    shared = tokenizers(tmp_path, tasks, vocabulary="all")
    assert set(shared) == {"en_de", "parse"} and shared["en_de"] == shared["parse"]
    tokenizer = tokenizer_from_state(shared["parse"]["tokenizer"])
    for text in ("vier null", "four zero", "(S yak emu) the"):
        assert UNK_ID not in tokenizer.encode(text), text
    assert UNK_ID in tokenizer.encode("quatre")  # French is no side these tasks read
    # each text once, in the order of its name: a second direction and another order add nothing
    more = {"de_en": ("vocab_numbers", "de", "en"), **dict(reversed(tasks.items()))}
    again = tokenizers(tmp_path, more, vocabulary="all")
    assert again["de_en"] == again["en_de"] == shared["en_de"]
    assert tokenizers(tmp_path, tasks) == {}  # no vocabulary named: each dataset its own


def test_one_vocabulary_shares_the_cap_and_the_net_and_tokens_are_shared_by_kind(
    two_datasets, tmp_path
):
    tasks = {
        "en_de": ("vocab_numbers", "en", "de", "to-de"),
        "fr_de": ("vocab_numbers", "fr", "de", "to-de"),
        "parse": ("vocab_trees", "words", "tree", "to-parse"),
    }
    result = train(load_config(data=config(tmp_path, tasks, vocabulary="all")))
    model = result.model
    assert list(model.caps) == ["text"] and list(model.outputs) == ["text"]
    net = model.outputs["text"]
    assert len(net.starts) == 2 and net.start_row == [0, 0, 1]
    specs = {(t.data.spec, t.data.target.vocabulary) for t in result.tasks}
    assert len(specs) == 1  # one vocabulary digest in and out for every task
    with pytest.raises(ConfigError, match=r"^tasks\.parse\.modality: its data .* differs"):
        train(load_config(data={**config(tmp_path, tasks), "name": "own"}))  # one each: no net


def test_a_run_of_some_tasks_reads_the_vocabulary_given_it_and_keeps_it(two_datasets, tmp_path):
    """A study's single-task run reads the joint vocabulary (its ids mean what they mean jointly);
    the run's weights carry it; a resumed run restores its checkpoint's, whatever it is handed."""
    both = {"en_de": ("vocab_numbers", "en", "de"), "parse": ("vocab_trees", "words", "tree")}
    joint = fit_vocabularies(load_config(data=config(tmp_path, both, vocabulary="all")))
    raw = config(tmp_path, {"parse": both["parse"]}, vocabulary="all")
    alone = train(load_config(data=raw), vocabularies={**joint, "unused": {}})
    (task,) = alone.tasks
    assert task.data.state["tokenizer"] == joint["all"]
    tokenizer = tokenizer_from_state(task.data.state["tokenizer"])
    assert UNK_ID not in tokenizer.encode("vier null")  # German: text of the other task alone
    own = shared_tokenizers(load_config(data=raw), {})["parse"]["tokenizer"]
    assert own != joint["all"]  # fitted on this task's text alone, it would differ
    resumed = train(load_config(data=raw), resume=True, vocabularies={"all": own})
    assert resumed.tasks[0].data.state["tokenizer"] == joint["all"]


def test_a_vocabulary_given_must_be_the_tokenizer_its_tasks_ask_for(two_datasets, tmp_path):
    tasks = {"en_de": ("vocab_numbers", "en", "de")}
    cfg = load_config(data=config(tmp_path, tasks, vocabulary="all"))
    state = fit_vocabularies(cfg)["all"]
    bpe = config(tmp_path, tasks, vocabulary="all", tokenizer="bpe", vocab_size=300)
    with pytest.raises(ConfigError, match=r"^vocabularies\['all'\]: a word tokenizer of .* bpe"):
        shared_tokenizers(load_config(data=bpe), {}, {"all": state})
    with pytest.raises(DataError, match="tokenizer state"):
        shared_tokenizers(cfg, {}, {"all": {"kind": "word", "words": 3}})


def test_tasks_of_one_vocabulary_must_agree_on_its_tokenizer(two_datasets, tmp_path):
    raw = config(
        tmp_path,
        {"en_de": ("vocab_numbers", "en", "de"), "parse": ("vocab_trees", "words", "tree")},
        vocabulary="all",
    )
    raw["tasks"]["parse"]["data"]["vocab_size"] = 80
    with pytest.raises(
        ConfigError, match=r"tasks\.parse\.data\.vocab_size: 80, but task en_de reads vocabulary "
    ):
        load_config(data=raw)


def test_a_task_token_needs_a_task_that_decodes_through_a_language_net(two_datasets, tmp_path):
    raw = config(tmp_path, {"en_de": ("vocab_numbers", "en", "de", "to-de")})
    raw["tasks"]["en_de"].pop("output")
    raw["tasks"]["en_de"]["modality"] = "text"
    with pytest.raises(ConfigError, match=r"tasks\.en_de\.task_token: only a task that decodes"):
        load_config(data=raw)
