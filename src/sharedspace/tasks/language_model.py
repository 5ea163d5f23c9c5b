"""Next-word prediction: a 1-layer perceptron from the shared space to the vocabulary.

The model reads a window of ``seq_len`` tokens and predicts the one token after it, as in the SUS
report. Perplexity = exp(mean cross-entropy over the predicted tokens of the held-out stream,
padding excluded) — one prediction per token with a full window of context.
"""

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from sharedspace.data.tokenizers import PAD_ID
from sharedspace.tasks.base import TASKS, LossTerms, Task
from sharedspace.tasks.text_data import NextTokenWindows
from sharedspace.tasks.views import DATA_VIEWS


class VocabularyHead(nn.Linear):
    """(B, in_dim) → next-token logits (B, V)."""

    def forward(self, z: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return super().forward(z)


@TASKS.register("language_model")
class LanguageModel(Task):
    targets = ("token",)
    goals: ClassVar[dict[str, str]] = {
        "loss": "min",
        "perplexity": "min",
        "next_token_accuracy": "max",
    }
    smooths_labels = True

    def build_head(self, in_dim: int) -> nn.Module:
        return VocabularyHead(in_dim, self.data.target.vocab_size)

    def loss(self, output, batch):
        y = batch["y"]
        nll = F.cross_entropy(
            output, y, ignore_index=PAD_ID, reduction="none", label_smoothing=self.label_smoothing
        )
        return LossTerms(nll, (y != PAD_ID).to(nll.dtype))  # a padded target weighs nothing

    def metric_sums(self, output, batch, prediction=None):
        y = batch["y"]
        real = y != PAD_ID
        return {
            "nll": F.cross_entropy(output, y, ignore_index=PAD_ID, reduction="sum").double(),
            "correct": ((output.argmax(1) == y) & real).sum().double(),
            "tokens": real.sum().double(),
        }

    @staticmethod
    def metrics(sums):
        """loss: mean next-token cross-entropy (nats); perplexity: exp(loss);
        next_token_accuracy: top-1 accuracy of the predicted token, 0–1."""
        loss = sums["nll"] / sums["tokens"]
        return {
            "loss": loss,
            "perplexity": math.exp(min(loss, 700.0)),
            "next_token_accuracy": sums["correct"] / sums["tokens"],
        }


DATA_VIEWS.add(LanguageModel, NextTokenWindows)
