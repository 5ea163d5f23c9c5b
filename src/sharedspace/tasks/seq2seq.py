"""Sequence to sequence: an autoregressive transformer decoder reads the shared space's output
(a sequence, or a vector as a one-step memory) and writes a token sequence.

Training teacher-forces on ``batch["y"]``; evaluation also decodes greedily (``predict``), and
exact match compares that decoded output with the target. An example's loss is the mean
cross-entropy over its real target tokens (``<eos>`` included); the training loss is the mean of
the examples' losses, or with ``reduction: token`` the mean over every target token of the
global batch, as tensor2tensor and fairseq weigh them (a long target then weighs more; on the
reversal task the two are level within the spread over seeds, README).
"""

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from sharedspace.data.tokenizers import EOS_ID, PAD_ID
from sharedspace.errors import ConfigError
from sharedspace.tasks.base import TASKS, LossTerms, Task
from sharedspace.tasks.decoder import DecoderConfig, TransformerDecoderHead
from sharedspace.tasks.text_data import Continuations, ReversalPairs
from sharedspace.tasks.text_scores import text_score_sums, text_scores
from sharedspace.tasks.views import DATA_VIEWS


@TASKS.register("seq2seq")
class SequenceToSequence(Task):
    targets = ("tokens",)
    accepts = ("vector", "sequence")
    decodes = True
    goals: ClassVar[dict[str, str]] = {
        "loss": "min",
        "perplexity": "min",
        "token_accuracy": "max",
        "exact_match": "max",
        "bleu": "max",
        "chrf": "max",
        "uas": "max",
        "las": "max",
        "bracket_precision": "max",
        "bracket_recall": "max",
        "bracket_f1": "max",
        "wer": "min",
        "cer": "min",
    }
    Config = DecoderConfig
    smooths_labels = True

    def build_head(self, in_dim: int) -> nn.Module:
        longest = self.data.target.max_len
        if longest > self.head_cfg.max_len:
            raise ConfigError(
                f"tasks.{self.name}.head.max_len: {self.head_cfg.max_len}, but targets are up "
                f"to {longest} tokens long (<eos> included)"
            )
        return TransformerDecoderHead(self.head_cfg, in_dim, self.data.target.vocab_size)

    @staticmethod
    def _token_nll(
        output: torch.Tensor, batch: dict[str, torch.Tensor], smoothing: float = 0.0
    ) -> torch.Tensor:
        """(B, L, V) logits → (B, L) cross-entropy (against labels smoothed by ``smoothing``),
        0 at padding."""
        nll = F.cross_entropy(
            output.transpose(1, 2), batch["y"], reduction="none", label_smoothing=smoothing
        )
        return nll * batch["y_mask"]

    def loss(self, output, batch):
        nll = self._token_nll(output, batch, self.label_smoothing)
        return LossTerms(nll.sum(1), batch["y_mask"].sum(1).float())

    def metric_sums(self, output, batch, prediction=None):
        y, mask = batch["y"], batch["y_mask"]
        sums = {
            "nll": self._token_nll(output, batch).sum().double(),
            "correct": ((output.argmax(-1) == y) & mask).sum().double(),
            "tokens": mask.sum().double(),
            "count": torch.tensor(len(y), dtype=torch.float64),
        }
        if prediction is not None:
            width = max(y.shape[1], prediction.shape[1])
            target = F.pad(y.masked_fill(~mask, PAD_ID), (0, width - y.shape[1]), value=PAD_ID)
            decoded = F.pad(prediction, (0, width - prediction.shape[1]), value=PAD_ID)
            sums["exact"] = (decoded == target).all(1).sum().double()
            if self.data.detokenize is not None:
                texts = [self.texts(row) for row in (prediction, target)]
                sums |= text_score_sums(*texts)
                if self.data.score_text is not None:
                    scored = self.data.score_text.sums(*texts)
                    sums |= {
                        k: torch.tensor(float(v), dtype=torch.float64) for k, v in scored.items()
                    }
        return sums

    def texts(self, ids: torch.Tensor) -> list[str]:
        """Token ids (B, L), each row ending at its first <eos> or padding → B texts."""
        rows = []
        for row in ids.tolist():
            end = next((i for i, t in enumerate(row) if t in (EOS_ID, PAD_ID)), len(row))
            rows.append(self.data.detokenize(row[:end]))
        return rows

    def metrics(self, sums):
        """loss: mean cross-entropy per target token (nats); perplexity: exp(loss);
        token_accuracy: teacher-forced top-1 accuracy per target token, 0–1;
        exact_match: fraction of examples whose decoding equals the target, 0–1;
        bleu, chrf: sacrebleu's corpus BLEU and chrF of the decoded text, 0–100 (text targets);
        uas, las: unlabelled and labelled attachment per tree token of the decoded tree, 0–1
        (targets the data scores as dependency trees: ``TaskData.score_text``);
        bracket_precision, bracket_recall, bracket_f1: labelled brackets of a decoded
        constituency tree, EVALB's counts, 0–1 (targets the data scores as such trees);
        wer, cer: word and character error rate of a decoded transcript, edits over reference
        words or characters summed over the split, 0 = exact, above 1 possible (speech
        recognition: ``data.word_errors``)."""
        loss = sums["nll"] / sums["tokens"]
        values = {
            "loss": loss,
            "perplexity": math.exp(min(loss, 700.0)),
            "token_accuracy": sums["correct"] / sums["tokens"],
        }
        if "exact" in sums:
            values["exact_match"] = sums["exact"] / sums["count"]
        if "bleu_hyp_len" in sums:
            values |= text_scores(sums)
            if self.data.score_text is not None:
                values |= self.data.score_text.scores(sums)
        return values


DATA_VIEWS.add(SequenceToSequence, ReversalPairs, Continuations)
