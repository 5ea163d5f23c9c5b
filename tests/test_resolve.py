"""``validate`` finds, before any data loads, every problem a run would otherwise meet late.

Every config here names a data folder that does not exist: a check that needed the data would
fail on that instead of on the problem asserted.
"""

import pytest

from sharedspace.errors import ConfigError
from sharedspace.resolve import RESERVED, load_config
from sharedspace.spaces import SPACES
from sharedspace.tasks.classification import Classification
from sharedspace.tasks.image_data import Images
from sharedspace.tasks.language_model import LanguageModel
from sharedspace.tasks.views import DATA_VIEWS
from tests.data.registry_checks import isolate

NOWHERE = "/nonexistent/data"
IMAGE = {"source": "fashion_mnist"}
TEXT = {"source": "fortunes"}


def config(tasks, **sections):
    return {"name": "x", "data_dir": NOWHERE, "tasks": tasks, **sections}


def problems(raw, overrides=()) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(data=raw, overrides=list(overrides))
    return str(info.value)


TWO = {
    "cls": {"kind": "classification", "modality": "image", "data": IMAGE},
    "lm": {"kind": "language_model", "modality": "text", "data": TEXT},
}


def test_a_valid_config_resolves_without_touching_the_data():
    cfg = load_config(data=config(TWO, train={"sampler": "all", "weighting": "uncertainty"}))
    assert cfg.tasks["lm"].data.config.seq_len == 15 and cfg.train.sampler.name == "all"


def test_an_aux_weight_typo_is_an_error_naming_the_declared_names(monkeypatch):
    class Penalised(SPACES.get("sus")):
        aux_losses = ("activation_l2",)

    monkeypatch.setitem(SPACES._entries, "penalised", Penalised)
    message = problems(
        config(TWO, model={"space": "penalised"}, train={"aux_loss_weights": {"activaton_l2": 2}})
    )
    assert (
        "train.aux_loss_weights.activaton_l2: no part of this model emits 'activaton_l2'" in message
    )
    assert "(did you mean 'activation_l2'?)" in message
    load_config(
        data=config(
            TWO, model={"space": "penalised"}, train={"aux_loss_weights": {"activation_l2": 2}}
        )
    )


def test_a_reserved_aux_name_is_refused(monkeypatch):
    class Clashing(SPACES.get("sus")):
        aux_losses = ("loss",)

    monkeypatch.setitem(SPACES._entries, "clashing", Clashing)
    assert "model.space: declares the aux loss 'loss'" in problems(
        config(TWO, model={"space": "clashing"})
    )
    assert {"loss", "lr", "step", "task", "split", "total"} <= RESERVED


def test_weights_for_an_unknown_task_are_an_error():
    message = problems(
        config(TWO, train={"weighting": {"name": "fixed", "weights": {"clss": 2.0}}})
    )
    assert "train.weighting.weights: unknown tasks ['clss']" in message


def test_an_image_field_on_a_text_task_is_an_error():
    tasks = {**TWO, "lm": {**TWO["lm"], "data": {**TEXT, "val_size": 100}}}
    assert "tasks.lm.data.val_size: unknown key" in problems(config(tasks))
    tasks = {**TWO, "cls": {**TWO["cls"], "data": {**IMAGE, "stride": 2}}}
    assert "tasks.cls.data.stride: unknown key" in problems(config(tasks))


def test_a_cap_reading_another_kind_of_data_is_an_error():
    tasks = {"lm": {"kind": "language_model", "modality": "image", "data": TEXT}}
    message = problems(config(tasks))
    assert "tasks.lm.modality: cap ImageCNN (model.modalities.image) reads image data" in message


def test_a_task_kind_given_data_it_cannot_read_is_an_error():
    tasks = {"rec": {"kind": "reconstruction", "modality": "text", "data": TEXT}}
    assert "tasks.rec.data.source: reconstruction reads image data; 'fortunes' is text" in problems(
        config(tasks)
    )


class Rotated(Images):
    """A second view of images for classification (a stand-in: the images as they are)."""

    name = "rotated"


class ImageTokens(Images):
    """A view whose targets (classes) a language-model head cannot produce."""

    name = "image_tokens"


@pytest.fixture
def second_image_view(monkeypatch):
    isolate(monkeypatch)
    DATA_VIEWS.add(Classification, Rotated)
    DATA_VIEWS.add(LanguageModel, ImageTokens)


def test_a_view_is_picked_by_name_when_a_data_kind_has_several(second_image_view):
    one = {"c": {"kind": "classification", "modality": "image", "data": IMAGE}}
    message = problems(config(one))
    assert "tasks.c.data.view: classification has several views of image data: images, rotated" in (
        message
    )
    named = {"c": {**one["c"], "data": {**IMAGE, "view": "rotated"}}}
    assert load_config(data=config(named)).tasks["c"].data.config.view == "rotated"
    wrong = {"c": {**one["c"], "data": {**IMAGE, "view": "rotatd"}}}
    assert (
        "tasks.c.data.view: 'rotatd' is not a classification view of image data; known: images, "
        "rotated" in problems(config(wrong))
    )
    odd = {"c": {**one["c"], "data": {**IMAGE, "view": ["rotated"]}}}
    assert "tasks.c.data.view: expected a view name, got ['rotated']" in problems(config(odd))


def test_a_view_whose_targets_the_head_cannot_produce_is_an_error(second_image_view):
    tasks = {"lm": {"kind": "language_model", "modality": "image", "data": IMAGE}}
    assert (
        "tasks.lm.data: the image_tokens view gives classes targets; a language_model head "
        "produces token" in problems(config(tasks))
    )


def test_every_shipped_task_reads_its_only_view_by_default():
    cfg = load_config(data=config(TWO))
    assert [t.data.config.view for t in cfg.tasks.values()] == [None, None]
    assert [DATA_VIEWS.pick(t.kind, t.data.name, None).name for t in cfg.tasks.values()] == [
        "images",
        "next_token_windows",
    ]


def test_representation_forms_must_join_up():
    tasks = {"lm": {"kind": "language_model", "modality": "text", "data": TEXT}}
    model = {"modalities": {"text": "text_encoder"}}
    message = problems(config(tasks, model=model))
    assert "the space gives this task sequences; a language_model head reads vector" in message
    classify = {
        "c": {"kind": "classification", "modality": "text", "data": {**TEXT, "seq_len": 32}}
    }
    load_config(data=config(classify, model=model))  # a classifier pools a sequence


def test_sampler_settings_are_checked_against_the_task_count():
    message = problems(config(TWO, train={"sampler": {"name": "k_of_n", "k": 3}}))
    assert "train.sampler.k: 3 tasks per step, but the run has 2 tasks" in message


def test_a_weighting_that_needs_every_task_needs_a_sampler_that_gives_them():
    message = problems(config(TWO, train={"weighting": "nash_mtl"}))  # default sampler: uniform
    assert "train.weighting: nash_mtl combines every task's gradient in every step" in message
    assert "use train.sampler=all" in message
    load_config(data=config(TWO, train={"sampler": "all", "weighting": "nash_mtl"}))


def test_a_negative_transfer_probe_interval_is_an_error():
    message = problems(config(TWO, train={"transfer_every": -1}))
    assert "train.transfer_every: must be ≥ 0, got -1" in message


@pytest.mark.parametrize(
    ("task", "data", "message"),
    [
        ("cls", {"eval_size": 0}, "tasks.cls.data: eval_size: expected a whole number ≥ 1, got 0"),
        ("cls", {"eval_size": -1}, "eval_size: expected a whole number ≥ 1, got -1"),
        ("cls", {"train_size": 0}, "train_size: expected a whole number ≥ 1, got 0"),
        ("cls", {"val_size": 0}, "val_size: expected a whole number ≥ 1, got 0"),
        ("lm", {"seq_len": 0}, "tasks.lm.data: seq_len: expected a whole number ≥ 1, got 0"),
        ("lm", {"stride": 0}, "stride: expected a whole number ≥ 1, got 0"),
        ("lm", {"vocab_size": 10**12}, "vocab_size: expected 8 to 1,000,000, got 1000000000000"),
    ],
)
def test_data_sizes_are_checked_before_any_data_loads(task, data, message):
    tasks = {
        name: dict(t, data={**t["data"], **data}) if name == task else t for name, t in TWO.items()
    }
    assert message in problems(config(tasks))


def test_a_reversal_task_needs_min_len_within_seq_len():
    task = {"kind": "seq2seq", "modality": "text", "data": {**TEXT, "seq_len": 4, "min_len": 5}}
    message = problems(config({"rev": task}, model={"space": "none"}))
    assert "tasks.rev.data: min_len: need 1 ≤ min_len ≤ seq_len (4), got 5" in message


@pytest.mark.parametrize("name", ["../elsewhere", "/tmp/run", "a/b", "..", ".hidden", ""])
def test_a_run_name_is_one_folder_inside_out_dir(name):
    message = problems(config(TWO) | {"name": name})
    assert f"name: {name!r} names the run's folder inside out_dir" in message


def test_unknown_names_get_a_suggestion():
    message = problems(config(TWO, train={"sampler": "unifrom"}))
    assert "train.sampler.name: unknown task sampler 'unifrom'" in message
    assert "(did you mean 'uniform'?)" in message
    message = problems(
        config(
            {"c": {"kind": "classification", "modality": "image", "data": {"source": "fashion"}}}
        )
    )
    assert "tasks.c.data.source: unknown dataset 'fashion'" in message


@pytest.mark.parametrize(("vocab_size", "ok"), [(100, False), (258, False), (259, True)])
def test_a_bpe_vocabulary_below_its_specials_and_byte_alphabet_is_an_error(vocab_size, ok):
    data = {**TEXT, "tokenizer": "bpe", "vocab_size": vocab_size}
    raw = config({"lm": {"kind": "language_model", "modality": "text", "data": data}})
    if ok:  # 3 specials + 256 byte symbols: what BPETokenizer.fit needs once it reads the text
        load_config(data=raw)
    else:
        expected = f"tasks.lm.data.vocab_size: bpe needs at least 259 ids, got {vocab_size}"
        assert expected in problems(raw)


SEQ = {"kind": "seq2seq", "modality": "text", "data": {**TEXT, "seq_len": 8}}
DECODER = {"name": "decoder", "embed_dim": 16, "heads": 2, "max_len": 12}
SHARED = {
    "modalities": {"text": "text_encoder", "image": "image_cnn"},
    "space": DECODER,
    "outputs": {"text": "language", "labels": "categorical"},
}


def test_tasks_sharing_output_nets_on_a_decoding_space_resolve():
    tasks = {
        "rev": {**SEQ, "output": "text"},
        "cls": {"kind": "classification", "modality": "image", "data": IMAGE, "output": "labels"},
        "own": SEQ,  # a task's own decoder head beside them
    }
    cfg = load_config(data=config(tasks, model=SHARED))
    assert cfg.tasks["rev"].output == "text" and cfg.model.outputs["text"].name == "language"


@pytest.mark.parametrize(
    ("task", "model", "message"),
    [
        ({**SEQ, "output": "words"}, SHARED, "tasks.t.output: 'words' is not in model.outputs"),
        (
            {**SEQ, "output": "labels"},
            SHARED,
            "tasks.t.output: output net categorical (model.outputs.labels) writes classes "
            "targets; the reversal_pairs view gives tokens",
        ),
        (
            {**SEQ, "output": "text", "head": {"layers": 1}},
            SHARED,
            "tasks.t.head: the task's output comes from output net language",
        ),
        (
            {**SEQ, "output": "text"},
            {**SHARED, "space": "sus"},
            "tasks.t.output: a seq2seq task with a shared output net decodes through the space, "
            "but SUSSpace does not decode",
        ),
        (
            {"kind": "language_model", "modality": "text", "data": TEXT, "output": "text"},
            {**SHARED, "modalities": {"text": "text_encoder"}},
            "tasks.t: the space gives this task sequences; output net Language for a "
            "language_model task reads vector",
        ),
        (
            {**SEQ, "output": "text"},
            {**SHARED, "outputs": {"text": "speech"}},
            "model.outputs.text.name: unknown output net 'speech'",
        ),
    ],
)
def test_an_output_net_that_cannot_serve_its_task_is_an_error(task, model, message):
    assert message in problems(config({"t": task}, model=model))
