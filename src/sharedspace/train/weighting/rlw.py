"""Random loss weighting (Lin et al., "Reasonable Effectiveness of Random Weighting", TMLR 2022).

Fresh weights every step, w = T·softmax(ε) with ε ~ N(0, I) over the step's T tasks: the paper
shows this matches many learned weightings on average. The weights sum to T (LibMTL's sum to 1),
so the step size stays that of ``equal``. Drawn from the weighting's own seeded generator — the
same on every rank and saved in the checkpoint.
"""

import torch

from sharedspace.train.weighting.base import WEIGHTINGS, LossWeighting


@WEIGHTINGS.register("rlw")
class RandomLossWeighting(LossWeighting):
    balances_tasks = True

    def __init__(self, cfg, task_names: list[str], seed: int = 0) -> None:
        super().__init__(cfg, task_names)
        self.generator = torch.Generator().manual_seed(seed)

    def weights(self, losses, ctx):
        logits = torch.randn(len(losses), generator=self.generator)
        w = len(losses) * torch.softmax(logits, dim=0)
        device = next(iter(losses.values())).device
        return dict(zip(losses, w.to(device), strict=True))

    def get_extra_state(self) -> dict:
        return {"generator": self.generator.get_state()}

    def set_extra_state(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
