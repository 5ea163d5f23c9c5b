"""A toy WGAN-GP as a plug-in task kind (Gulrajani et al. 2017): a generator learns to produce the
4×4 average-pooled images of the data from noise, against a critic with a gradient penalty.

Both networks are the task's head; the critic declares a parameter group of its own, which a
config gives to the optimizer ``critic`` of ``train.optimizers``, and ``train.step=adversarial``
steps it ``n_critic`` times per generator step. Noise and interpolation weights come from a
per-row stream (``RowDraws``), so 2 processes draw what 1 does and a resume draws on exactly.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sharedspace.parts import ParamGroup
from sharedspace.spaces.global_batch import RowDraws
from sharedspace.tasks import TASKS, LossTerms, Task
from sharedspace.tasks.image_data import Images
from sharedspace.tasks.views import DATA_VIEWS

CELLS = 16  # a 28×28 image pooled 7×7: the "real" samples


class WGANHead(nn.Module):
    """Ignores the space's output: the real samples are the batch's images, pooled."""

    def __init__(self, latent: int, hidden: int) -> None:
        super().__init__()
        self.latent = latent
        self.generator = nn.Sequential(
            nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, CELLS)
        )
        self.critic = nn.Sequential(
            nn.Linear(CELLS, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1)
        )
        self.draws = RowDraws()

    def param_groups(self) -> dict[str, ParamGroup]:
        return {"critic": ParamGroup(list(self.critic.parameters()))}

    def forward(self, z, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["x"].float().div(255).reshape(-1, 1, 28, 28)
        real = F.avg_pool2d(x, 7).flatten(1)  # (B, 16)
        fake = self.generator(self.draws("normal", len(x), self.latent))  # (B, 16)
        out = {"real": real, "fake": fake, "generated": self.critic(fake).squeeze(1)}
        if torch.is_grad_enabled():  # the critic's terms (training)
            eps = self.draws("uniform", len(x), 1)  # (B, 1)
            mixed = (eps * real + (1 - eps) * fake.detach()).requires_grad_()
            (grad,) = torch.autograd.grad(self.critic(mixed).sum(), mixed, create_graph=True)
            out["penalty"] = (grad.norm(dim=1) - 1).square()  # (B,)
            out["on_real"] = self.critic(real).squeeze(1)
            out["on_fake"] = self.critic(fake.detach()).squeeze(1)
        return out


@TASKS.register("toy_wgan")
class ToyWGAN(Task):
    targets = ("classes",)
    accepts = ("vector", "sequence")
    goals = {"loss": "min", "mean_gap": "min"}  # noqa: RUF012

    @dataclass
    class Config:
        latent: int = 4
        hidden: int = 32
        penalty: float = 10.0  # λ of the gradient penalty

    def build_head(self, in_dim: int) -> nn.Module:
        return WGANHead(self.head_cfg.latent, self.head_cfg.hidden)

    def loss(self, output, batch):
        return LossTerms.per_example(-output["generated"])

    def critic_loss(self, output, batch):
        gap = output["on_fake"] - output["on_real"]
        return LossTerms.per_example(gap + self.head_cfg.penalty * output["penalty"])

    def metric_sums(self, output, batch, prediction=None):
        real, fake = output["real"].double().sum(0), output["fake"].double().sum(0)
        sums = {f"real{i}": v for i, v in enumerate(real)}
        sums |= {f"fake{i}": v for i, v in enumerate(fake)}
        sums["generated"] = -output["generated"].double().sum()
        sums["count"] = torch.tensor(float(len(output["real"])), dtype=torch.float64)
        return sums

    @staticmethod
    def metrics(sums):
        """loss: the generator's, −critic(fake); mean_gap: distance of the fake samples' mean
        from the real ones' (the critic's judgement aside)."""
        n = sums["count"]
        gap = sum((sums[f"real{i}"] - sums[f"fake{i}"]) ** 2 for i in range(CELLS)) ** 0.5 / n
        return {"loss": sums["generated"] / n, "mean_gap": gap}


DATA_VIEWS.add(ToyWGAN, Images)
