"""Routing network (Rosenbaum, Klinger & Riemer 2018): at each routed layer a per-task agent picks
one of M experts for every example, so tasks share a layer exactly where their agents agree.

The agents are task-based (the state is (task, layer)): a table of logits per layer and task,
starting uniform. Of the paper's two ways to train them we take REINFORCE rather than WPL: a
REINFORCE gradient is the gradient of an aux loss, so every weighting method combines it and the
processes average it like any other gradient, through the loss-feedback hook. The experts learn
from the task loss on the rows routed to them, each row through exactly one expert per layer
(weight 1), so a routed layer costs what one dense layer costs on the batch.

Training draws each row's route from q = (1 − ε)·π + ε/M: the policy π mixed with ε-greedy
exploration, ε falling linearly from ``explore_start`` to ``explore_end`` over ``explore_steps``
training forwards. The score is log q, the distribution the routes came from, so the surrogate's
gradient is the exact REINFORCE gradient of the expected loss of the routes taken (no importance
weights); it tends to π's own as ε falls. Evaluation is greedy: argmax π (= argmax q) per task.
"""

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from sharedspace.config import Component, component
from sharedspace.errors import ConfigError
from sharedspace.parts import ParameterRows, ParamGroup, emit
from sharedspace.representation import Form
from sharedspace.spaces.dispatch import dispatch
from sharedspace.spaces.global_batch import RowDraws, score_function_surrogate
from sharedspace.spaces.registry import SPACES, build_experts


@SPACES.register("routing")
class RoutingNetwork(nn.Module):
    """(B, in_dim) → (B, out_dim); routed layer l is stage l of M copies of the expert block.

    The router decides per layer, so the unit it picks is one stage of a block (a dense layer of
    ``mlp``, a conv layer of ``conv``): ``expert: {widths: [256, 256, 256]}`` routes three layers,
    ``expert: conv`` the report's four conv layers. ``shared: s`` runs the block's first s stages
    as one trunk every task uses and routes the rest, as Rosenbaum et al. route the layers after a
    shared conv trunk: routes drawn per row through every layer from the pixels up give each
    expert inputs from M others' unrelated features, and in a short budget nothing learns.

    Aux losses: ``routing_entropy`` (forward) is −entropy_weight · the mean over layers of the
    entropy of the task's policy, a bonus against early collapse onto one expert;
    ``routing_reinforce`` (loss feedback) is mean_e (loss_e − b_e) · Σ_l log q(a_e,l | task),
    with b_e the leave-one-out mean loss of the task's global batch (every process's rows but e:
    independent of row e's route, so unbiased, and the same with 1 or 2 processes). Both come only
    from training forwards with gradients enabled; these also advance the exploration schedule.
    """

    forms: ClassVar[dict[Form, Form]] = {"vector": "vector"}
    aux_losses = ("routing_reinforce", "routing_entropy")
    sparse: ClassVar[bool] = True  # an expert no row chose gets no gradient in that step

    @dataclass
    class Config:
        experts: int = 4  # M, per routed layer
        shared: int = 0  # the expert block's first stages, one copy that every task runs
        expert: Component = component("mlp", registry="block")  # a routed layer per stage
        explore_start: float = 0.5  # ε at the first training forward
        explore_end: float = 0.05  # ε from explore_steps on
        explore_steps: int = 2000  # training forwards of the space (one per task and step)
        entropy_weight: float = 0.01  # of the policy-entropy bonus
        policy_lr_scale: float = 1.0  # the agents' learning rate ÷ the network's

        def __post_init__(self) -> None:
            problems = [
                f"{name} must lie in [0, 1], got {value}"
                for name, value in (
                    ("explore_start", self.explore_start),
                    ("explore_end", self.explore_end),
                )
                if not 0 <= value <= 1
            ]
            if self.shared < 0:
                problems.append(f"shared must be at least 0, got {self.shared}")
            if self.experts < 1:
                problems.append(f"experts must be at least 1, got {self.experts}")
            if not self.policy_lr_scale > 0:
                problems.append(f"policy_lr_scale must be positive, got {self.policy_lr_scale}")
            if self.explore_steps < 0:
                problems.append(f"explore_steps must be at least 0, got {self.explore_steps}")
            if problems:
                raise ConfigError("; ".join(problems))

    def __init__(self, cfg: Config, in_dim: int, num_tasks: int) -> None:
        super().__init__()
        self.cfg = cfg
        blocks = build_experts(cfg.expert, in_dim, cfg.experts)
        self.out_dim = blocks[0].out_dim
        if not cfg.shared < len(blocks[0]):
            raise ConfigError(
                f"routing: shared must leave a stage to route: {cfg.shared} of the expert's "
                f"{len(blocks[0])} stages"
            )
        self.trunk = nn.Sequential(*list(blocks[0])[: cfg.shared])  # (no stage: the identity)
        # routed layer l: the M experts' stage shared + l
        routed = zip(*(list(block)[cfg.shared :] for block in blocks), strict=True)
        self.layers = nn.ModuleList(nn.ModuleList(stages) for stages in routed)
        # the agents' logits: task t's (L, M), one row per routed layer (stacked: (L, T, M));
        # zero, so π starts uniform
        shape = (len(self.layers), num_tasks, cfg.experts)
        self.logits = ParameterRows(torch.zeros(shape), dim=1)
        self.draws = RowDraws()
        self.register_buffer("explore_step", torch.zeros((), dtype=torch.long))
        self.pending: dict[int, torch.Tensor] = {}  # task → (B,) score of its last training forward

    def policy(self, task: int) -> torch.Tensor:
        """π(expert | task, layer): (L, M) probabilities."""
        return torch.softmax(self.logits[task], dim=-1)

    def forward(self, h: torch.Tensor, task: int) -> torch.Tensor:
        """h (B, in_dim) → z (B, out_dim); emits the entropy bonus (only in training)."""
        h = self.trunk(h)
        log_pi = torch.log_softmax(self.logits[task], dim=-1)  # (L, M)
        num_layers, m = log_pi.shape
        if self.training:
            eps = torch.tensor(exploration(self.cfg, int(self.explore_step)), device=h.device)
            log_q = torch.logaddexp(log_pi + torch.log1p(-eps), torch.log(eps / m))  # (L, M)
            cdf = log_q.detach().exp().cumsum(-1)  # (L, M)
            u = self.draws("uniform", len(h), num_layers).T.contiguous()  # (L, B)
            routes = torch.searchsorted(cdf, u, right=True).clamp_max(m - 1)  # (L, B)
        else:
            routes = log_pi.argmax(-1, keepdim=True).expand(num_layers, len(h))  # (L, B)
        rows = torch.arange(len(h), device=h.device)
        ones = h.new_ones(len(h))
        for experts, expert_ids in zip(self.layers, routes, strict=True):
            h = dispatch(h, experts, rows, expert_ids, ones)
        if not (self.training and torch.is_grad_enabled()):
            return h
        self.explore_step += 1
        self.pending[task] = log_q.gather(1, routes).sum(0)  # (B,) Σ_l log q(a_l)
        entropy = -(log_pi.exp() * log_pi).sum(-1).mean()
        emit(self, "routing_entropy", -self.cfg.entropy_weight * entropy)
        return h

    def param_groups(self) -> dict[str, ParamGroup]:
        """The agents learn at ``policy_lr_scale`` × the network's rate."""
        return {"routing_policy": ParamGroup(list(self.logits), self.cfg.policy_lr_scale)}

    def task_parameters(self) -> dict[int, list[nn.Parameter]]:
        """Task t's agents: its logits (L, M)."""
        return {t: [logits] for t, logits in enumerate(self.logits)}

    def loss_feedback(self, task: int, losses: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-example losses (B,) of the last training forward of ``task`` → the REINFORCE
        surrogate (its mean over this process's rows: the processes' average of its gradient is
        the global batch's)."""
        score = self.pending.pop(task, None)  # (B,)
        if score is None:
            return {}
        return {"routing_reinforce": score_function_surrogate(losses.detach(), score)}


def exploration(cfg: RoutingNetwork.Config, step: int) -> float:
    """ε after ``step`` training forwards: linear from explore_start to explore_end."""
    done = min(step / cfg.explore_steps, 1.0) if cfg.explore_steps else 1.0
    return cfg.explore_start + (cfg.explore_end - cfg.explore_start) * done
