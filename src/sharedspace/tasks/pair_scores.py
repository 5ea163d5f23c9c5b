"""What every kind that scores attribute–object pairs shares: its data (``feature_data``), and
its metrics from per-pair scores (B, P) of real features — the generalised setting's seen,
unseen, harmonic mean and AUC over the calibration bias, top-1/2/3, on the candidates of the
split the rows come from (``compositional_scores``). Whether it generates features (TFG) or
compares a feature with each pair's description (a compatibility baseline), it is scored alike.
"""

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from sharedspace.tasks.base import Task
from sharedspace.tasks.compositional_scores import generalised_metrics
from sharedspace.tasks.feature_data import SETS, FeaturePairs
from sharedspace.tasks.views import DATA_VIEWS

TOP = (1, 2, 3)  # the k of the top-k accuracies


class PairScoring(Task):
    """A kind whose output gives scores (B, P) over every pair of ``PairsTarget`` (``scores``)."""

    targets = ("pairs",)
    goals: ClassVar[dict[str, Any]] = {"loss": "min"} | {
        f"{m}_top{k}": "max" for m in ("seen", "unseen", "hm", "auc") for k in TOP
    }

    def scores(self, output: Any) -> torch.Tensor:
        """(B, P) scores of the real features of the batch."""
        return output

    def metric_sums(self, output, batch, prediction=None):
        scores = self.scores(output).float()
        return {
            "nll": F.cross_entropy(scores, batch["y"], reduction="sum").double(),
            "count": torch.tensor(float(len(batch["y"])), dtype=torch.float64),
        }

    @staticmethod
    def metrics(sums):
        """loss: cross-entropy of the scores over every pair (nats)."""
        return {"loss": sums["nll"] / sums["count"]}

    def metric_rows(self, output, batch, prediction=None):
        scores = self.scores(output).float()
        return {"scores": scores, "labels": batch["y"], "phase": batch["phase"]}

    def row_metrics(self, rows):
        """On the split's candidates (the seen pairs and the unseen pairs of the split the rows
        come from, their ``phase``), top-1/2/3 over the calibration bias: the best ``seen`` and
        ``unseen`` accuracies, their best harmonic mean ``hm`` and the ``auc`` of the curve. The
        best unseen accuracy is the closed world's: the unseen examples among the unseen pairs
        alone."""
        if not len(rows["labels"]):
            return {}
        sets = self.data.target.sets
        phase = SETS[int(rows["phase"][0])]  # the training split's: "seen", no unseen pair
        seen = torch.tensor([s == "seen" for s in sets])
        candidates = seen | torch.tensor([s == phase for s in sets])
        return generalised_metrics(rows["scores"], rows["labels"], seen, candidates, TOP)


DATA_VIEWS.add(PairScoring, FeaturePairs)
