"""BLEU and chrF as summed statistics: any split of a corpus into batches scores as sacrebleu
scores the whole corpus at once; a seq2seq task with text targets reports them. Corpus BLEU's
bootstrap interval: sacrebleu's score and sacrebleu's own bootstrap, vectorised."""

import random

import numpy as np
import pytest
import sacrebleu
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sacrebleu.metrics import BLEU

from sharedspace.data.tokenizers import EOS_ID, PAD_ID
from sharedspace.tasks.data import TaskData
from sharedspace.tasks.seq2seq import SequenceToSequence
from sharedspace.tasks.text_scores import (
    _BLEU,
    _bleu_of_sums,
    bleu_interval,
    signatures,
    text_score_sums,
    text_scores,
)

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
    task.data = TaskData({}, None, None, detokenize=Words.decode)
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


def captions(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """``n`` reference captions of 3–9 words and hypotheses that keep about 70 % of their words."""
    rng = random.Random(seed)
    words = ["a", "the", "yak", "red", "big", "hat", "on", "dog", "small", "blue", "tree", "cup"]
    references = [" ".join(rng.choices(words, k=rng.randint(3, 9))) for _ in range(n)]
    hypotheses = [
        " ".join(w if rng.random() < 0.7 else rng.choice(words) for w in r.split())
        for r in references
    ]
    return hypotheses, references


def test_bleu_interval_is_sacrebleus_score_and_sacrebleus_bootstrap(monkeypatch):
    monkeypatch.setenv("SACREBLEU_SEED", "12345")  # sacrebleu's default, whatever the shell says
    hypotheses, references = captions(300)
    score, low, high = bleu_interval(hypotheses, references, resamples=1000, seed=12345)
    theirs = BLEU().corpus_score(hypotheses, [references], n_bootstrap=1000)
    assert score == theirs.score == sacrebleu.corpus_bleu(hypotheses, [references]).score
    assert low < score < high
    # sacrebleu reports the same order statistics as mu ± half their distance; it adds its
    # statistics in float32, hence equal to about 1e-7, not bit for bit
    assert (high - low) / 2 == pytest.approx(theirs._ci, rel=1e-6)
    assert bleu_interval(hypotheses, references, seed=12345) == (score, low, high)  # seeded
    assert bleu_interval(hypotheses, references, seed=1)[1:] != (low, high)


def test_the_interval_shrinks_as_the_corpus_grows():
    hypotheses, references = captions(60)
    widths = []
    for copies in (1, 4, 16):
        score, low, high = bleu_interval(hypotheses * copies, references * copies, seed=0)
        assert low < score < high
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]
    assert widths[2] < 0.35 * widths[0]  # about 1/sqrt(16) of it


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(sentence, sentence), min_size=1, max_size=8),
    st.lists(st.lists(st.integers(0, 7), max_size=10), min_size=1, max_size=6),
    st.sampled_from(["", "the", "cat sat"]),
)  # fmt: skip
def test_vectorised_bleu_equals_sacrebleus_on_any_resample(pairs, picks, odd):
    hypotheses, references = (list(side) for side in zip(*pairs, strict=True))
    hypotheses[0] = odd  # an empty or one-word hypothesis: no 4-grams, brevity penalty
    stats = np.array(_BLEU._extract_corpus_statistics(hypotheses, [references]), dtype=float)
    # resampled sums, an empty resample among them: (R, 10)
    sums = np.stack([stats[[i % len(stats) for i in p]].sum(0) for p in [*picks, []]])
    expected = [_BLEU._compute_score_from_stats(list(row)).score for row in sums]
    assert _bleu_of_sums(sums) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_bleu_interval_needs_one_reference_per_hypothesis():
    with pytest.raises(ValueError, match="2 hypotheses for 1 references"):
        bleu_interval(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="0 hypotheses"):
        bleu_interval([], [])
