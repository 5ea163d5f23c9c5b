"""BLEU and chrF as summed statistics: any split of a corpus into batches scores as sacrebleu
scores the whole corpus at once; a seq2seq task with text targets reports them."""

import pytest
import sacrebleu
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sharedspace.data.tokenizers import EOS_ID, PAD_ID
from sharedspace.tasks.seq2seq import SequenceToSequence
from sharedspace.tasks.text_scores import signatures, text_score_sums, text_scores

WORDS = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "Haus", "été", "!"]
sentence = st.lists(st.sampled_from(WORDS), min_size=1, max_size=8).map(" ".join)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(sentence, sentence), min_size=1, max_size=12), st.data())
def test_summed_batches_score_as_the_whole_corpus(pairs, data):
    hypotheses, references = (list(side) for side in zip(*pairs, strict=True))
    cut = data.draw(st.integers(0, len(pairs)))
    totals: dict[str, float] = {}
    for lo, hi in ((0, cut), (cut, len(pairs))):
        if lo < hi:
            for k, v in text_score_sums(hypotheses[lo:hi], references[lo:hi]).items():
                totals[k] = totals.get(k, 0.0) + float(v)
    scores = text_scores(totals)
    assert scores["bleu"] == sacrebleu.corpus_bleu(hypotheses, [references]).score
    assert scores["chrf"] == sacrebleu.corpus_chrf(hypotheses, [references]).score


def test_signatures_name_the_settings():
    sigs = signatures()
    assert "tok:13a" in sigs["bleu"] and "smooth:exp" in sigs["bleu"] and "nc:6" in sigs["chrf"]


class Words:
    """ids 3.. → WORDS."""

    @staticmethod
    def decode(ids: list[int]) -> str:
        return " ".join(WORDS[i - 3] for i in ids)


def test_a_seq2seq_task_scores_its_decoded_text():
    task = SequenceToSequence.__new__(SequenceToSequence)
    task.data = type("Data", (), {"detokenize": staticmethod(Words.decode)})()
    y = torch.tensor([[3, 4, 5, EOS_ID, PAD_ID], [6, 7, 8, 9, EOS_ID]])
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    output = torch.randn(2, 5, 20)
    perfect = task.metrics(
        {k: float(v) for k, v in task.metric_sums(output, {"y": y, "y_mask": mask}, y).items()}
    )
    assert perfect["exact_match"] == 1
    assert perfect["bleu"] == pytest.approx(100) and perfect["chrf"] == pytest.approx(100)
    wrong = torch.tensor([[3, 4, EOS_ID, PAD_ID], [6, 7, 8, 10]])  # the second never ends
    sums = task.metric_sums(output, {"y": y, "y_mask": mask}, wrong)
    scores = task.metrics({k: float(v) for k, v in sums.items()})
    hyps, refs = ["the cat", "on a mat ran"], ["the cat sat", "on a mat dog"]
    assert scores["bleu"] == sacrebleu.corpus_bleu(hyps, [refs]).score < 100
