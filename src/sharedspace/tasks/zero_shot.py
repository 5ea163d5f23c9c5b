"""Zero-shot compositional recognition by task-aware feature generation (TFG; Yan et al. 2020,
§5): recognise attribute–object pairs never trained on by generating their features.

A pair's description t = [φ_a(a); φ_o(o)] (word vectors or learned embeddings of its attribute
and object, each through 2 FC layers) drives a generator G(t, n) (``feature_generator``), trained
against a critic D(z, t) (WGAN-GP, Gulrajani et al. 2017) on the seen pairs' real features, with a
classifier f (one FC layer over every pair) trained on generated features only, of seen and unseen
pairs alike, and a cluster loss pulling a generated feature towards K real ones of its pair:

    min_{G,f} max_D  L_wgan + λ·L_cls + μ·L_cluster      (report: λ = 0.01, μ = 10, λ_gp = 10)

Under ``train.step=adversarial`` the critic (parameter group ``critic``) steps ``n_critic`` times
on ``critic_loss`` per step of the rest on ``loss``; the description nets form the group
``embedding`` (the report's lr 1e-5, the rest 1e-4: two named optimizers). At test time f alone
scores real features (``pair_scores``).

The head works in the features' own space: the ``features`` cap passes them as they are and the
space should be ``none`` (a trained space would move the real features under the critic).
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sharedspace.config import Component, component, number
from sharedspace.data.specs import PairsTarget
from sharedspace.errors import ConfigError
from sharedspace.parts import ParamGroup
from sharedspace.spaces.global_batch import RowDraws
from sharedspace.tasks.base import TASKS, LossTerms
from sharedspace.tasks.feature_generator import Generator
from sharedspace.tasks.pair_descriptions import Descriptions, PairDescriptions, mlp
from sharedspace.tasks.pair_scores import PairScoring


class Critic(nn.Module):
    """D(z, t): features (B, D) and descriptions (B, T) → scores (B,), 3 FC layers."""

    def __init__(self, features: int, task: int, hidden: int) -> None:
        super().__init__()
        self.net = mlp((features + task, hidden, hidden, 1))

    def forward(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, t], 1)).squeeze(1)


class TFGHead(nn.Module):
    """The description nets, G, D and f. Called on real features (B, D), it leaves every term to
    ``ZeroShotOutput``, computed only when asked for: f scores real features in evaluation only,
    and learns from generated ones."""

    def __init__(self, cfg: "ZeroShot.Config", target: PairsTarget, features: int, nonneg: bool):
        super().__init__()
        self.cfg = cfg
        self.describe = PairDescriptions(target, cfg)
        task = self.describe.out_dim
        self.generator = Generator(
            cfg.conditioning.name, task, cfg.noise, cfg.hidden, cfg.layers, features, nonneg
        )
        self.critic = Critic(features, task, cfg.critic_hidden)
        self.classifier = nn.Linear(features, len(target.pairs))
        self.draws = RowDraws()

    def param_groups(self) -> dict[str, ParamGroup]:
        return {
            "critic": ParamGroup(list(self.critic.parameters())),
            "embedding": ParamGroup(list(self.describe.parameters())),
        }

    def generate(self, pairs: torch.Tensor) -> torch.Tensor:
        """(M,) pair ids → (M, D) generated features, each with noise of its own."""
        return self.generator(self.describe()[pairs])

    def forward(self, z: torch.Tensor, batch: dict[str, torch.Tensor]) -> "ZeroShotOutput":
        return ZeroShotOutput(z, batch, self)

    def generator_losses(self, z: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B,): −D(G(t_y), t_y) + λ·CE(f(G(t_q)), q) + μ·mean_k ‖G(t_y) − peer_k‖², y the
        rows' (seen) pairs, q pairs drawn evenly among all, seen and unseen."""
        cfg, t_all = self.cfg, self.describe()
        t = t_all[batch["y"]]
        fake = self.generator(t)  # (B, D)
        pairs = len(t_all)
        drawn = (self.draws("uniform", len(z)) * pairs).long().clamp(max=pairs - 1)  # (B,)
        logits = self.classifier(self.generator(t_all[drawn]))  # f on generated features only
        classification = F.cross_entropy(logits, drawn, reduction="none")
        cluster = (fake[:, None] - batch["peers"]).square().sum(-1).mean(1)
        return -self.critic(fake, t) + cfg.classification * classification + cfg.cluster * cluster

    def critic_losses(self, z: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B,): D(ẑ, t) − D(z, t) + λ_gp·(‖∇D(z̃, t)‖ − 1)², z̃ = αz + (1 − α)ẑ, α ~ U(0, 1)."""
        with torch.no_grad():
            t = self.describe()[batch["y"]]
            fake = self.generator(t)
        real = z.detach()
        alpha = self.draws("uniform", len(z), 1)  # (B, 1)
        mixed = (alpha * real + (1 - alpha) * fake).requires_grad_()
        (grad,) = torch.autograd.grad(self.critic(mixed, t).sum(), mixed, create_graph=True)
        penalty = (grad.norm(dim=1) - 1).square()
        return self.critic(fake, t) - self.critic(real, t) + self.cfg.penalty * penalty


@dataclass
class ZeroShotOutput:
    """Real features (B, D) and their batch, and what the head makes of them on demand: f's
    scores ``logits`` (B, P) (evaluation), the generator's and the critic's losses (B,) — a critic
    step needs no classifier term, a generator step no gradient penalty."""

    z: torch.Tensor
    batch: dict[str, torch.Tensor]
    head: TFGHead

    @property
    def logits(self) -> torch.Tensor:
        return self.head.classifier(self.z)

    def generator_losses(self) -> torch.Tensor:
        return self.head.generator_losses(self.z, self.batch)

    def critic_losses(self) -> torch.Tensor:
        return self.head.critic_losses(self.z, self.batch)

    def detach(self) -> "ZeroShotOutput":
        return ZeroShotOutput(self.z.detach(), self.batch, self.head)


@TASKS.register("zero_shot")
class ZeroShot(PairScoring):
    @dataclass
    class Config(Descriptions):
        # how t and the noise enter G (feature_generator.CONDITIONINGS): ss, uds, ss_mtc_add,
        # ss_mtc_film, tds
        conditioning: Component = component("tds", registry="conditioning")
        layers: int = number(4, gt=0)  # G's FC layers (the last writes the features)
        hidden: int = number(2048, gt=0)  # G's hidden width
        noise: int = number(300, gt=0)  # size of each noise draw n_i
        critic_hidden: int = number(1024, gt=0)
        penalty: float = number(10.0, ge=0)  # λ_gp
        classification: float = number(0.01, ge=0)  # λ
        cluster: float = number(10.0, ge=0)  # μ

    def build_head(self, in_dim: int) -> nn.Module:
        spec = self.data.spec
        if in_dim != spec.dim:
            raise ConfigError(
                f"tasks.{self.name}: the zero-shot head generates features of size {spec.dim} "
                f"but reads {in_dim} from the space; use the features cap and space none"
            )
        return TFGHead(self.head_cfg, self.data.target, spec.dim, spec.nonnegative)

    def scores(self, output):
        return output.logits

    def loss(self, output, batch):
        return LossTerms.per_example(output.generator_losses())

    def critic_loss(self, output, batch):
        return LossTerms.per_example(output.critic_losses())
