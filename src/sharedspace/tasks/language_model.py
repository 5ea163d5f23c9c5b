"""Next-word prediction: a 1-layer perceptron from the shared space to the vocabulary.

The model reads a window of ``seq_len`` tokens and predicts the one token after it, as in the SUS
report. Perplexity = exp(mean cross-entropy over the predicted tokens of the held-out stream,
padding excluded) — one prediction per token with a full window of context.
"""

import math

import torch.nn.functional as F
from torch import nn

from sharedspace.tasks.base import TASKS, Task

PAD_ID = 0  # the tokenizers' <pad>


@TASKS.register("language_model")
class LanguageModel(Task):
    modality_kind = "text"

    def build_head(self, in_dim: int) -> nn.Module:
        return nn.Linear(in_dim, self.data.spec.vocab_size)  # (B, in_dim) → logits (B, V)

    def loss(self, output, batch):
        return F.cross_entropy(output, batch["y"], ignore_index=PAD_ID)

    def metric_sums(self, output, batch):
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
