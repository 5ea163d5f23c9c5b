"""Task multi-clustering (Yan et al. 2020, ch. 3): each task picks a random subset of M shared
experts, and learns which subset to pick from its own losses.

Training, for a row of task t: b_i ~ Bernoulli(p_i(t)) independently, p(t) = sigmoid(logits[t]),
and z = Σ_i b_i w_i(t) f_i(x). Tasks that pick the same experts form a cluster; a task can be in
several. Only the picked experts run on a row (sorted dispatch), so compute is O(k), not O(M).

Gradients: w and the experts get the ordinary (pathwise) gradient. The gates are discrete, so
their logits learn by the score-function estimator from the per-example losses (the loss-feedback
hook): the surrogate mean_e (L_e − b_e) · log P(b_e) has the gradient of E[L] in expectation. The
baseline b_e is the leave-one-out mean of the other rows' losses over the global batch (RLOO,
Kool et al. 2019): unbiased, no state to keep, and the same under any number of processes. An L1
penalty λ·k(t), k(t) = Σ_i p_i(t) the expected number of experts, pushes each task to few experts
(aux loss ``mc_density``; the step sums it over its tasks as it sums their losses).

Evaluation is deterministic: task t uses its round(k(t)) most likely experts (at least one), each
weighted by w_i(t) — or, for the study of how many experts a task needs, the mean k over tasks
or all M (``eval_experts``).
"""

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from sharedspace.config import Component, component
from sharedspace.errors import ConfigError
from sharedspace.parts import ParameterRows, ParamGroup, emit
from sharedspace.representation import Form
from sharedspace.spaces.dispatch import dispatch
from sharedspace.spaces.global_batch import RowDraws, score_function_surrogate
from sharedspace.spaces.registry import SPACES, build_experts


@SPACES.register("multi_clustering")
class MultiClustering(nn.Module):
    """(B, in_dim) → (B, out_dim); gate logits and expert weights (num_tasks, M): task t's rows
    ``logits[t]`` and ``w[t]`` (M,) are its own; the logits are the parameter group ``mc_gates``."""

    forms: ClassVar[dict[Form, Form]] = {"vector": "vector"}
    aux_losses = ("mc_score", "mc_density")
    sparse = True

    @dataclass
    class Config:
        experts: int = 8
        expert: Component = component("mlp", registry="block")
        density: float = 0.01  # λ of the L1 penalty λ·k(t)
        # evaluation: each task's round(k(t)) most likely experts, round(mean_t k(t)), or all M
        eval_experts: Literal["per_task", "mean", "all"] = "per_task"
        # the gate logits' learning rate ÷ the network's
        gate_lr_scale: float = 1.0

        def __post_init__(self) -> None:
            if self.experts < 1 or self.density < 0 or not self.gate_lr_scale > 0:
                raise ConfigError(
                    f"experts ≥ 1, density ≥ 0 and gate_lr_scale > 0 expected, got "
                    f"{self.experts}, {self.density} and {self.gate_lr_scale}"
                )

    def __init__(self, cfg: Config, in_dim: int, num_tasks: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.experts = build_experts(cfg.expert, in_dim, cfg.experts)
        self.out_dim = self.experts[0].out_dim
        self.logits = ParameterRows(torch.zeros(num_tasks, cfg.experts))  # p = 1/2 at the start
        self.w = ParameterRows(torch.randn(num_tasks, cfg.experts))  # N(0, 1), as the report
        self.draws = RowDraws()
        self._log_prob: dict[int, torch.Tensor] = {}  # task → log P(b) (B,) of its last forward

    def probabilities(self) -> torch.Tensor:
        """p_i(t): (num_tasks, M)."""
        return torch.sigmoid(self.logits.stacked())

    def chosen(self, task: int) -> torch.Tensor:
        """The experts task ``task`` uses at evaluation, most likely first: (k,) indices."""
        p = self.probabilities().detach()
        k = {
            "per_task": p[task].sum(),
            "mean": p.sum(1).mean(),
            "all": torch.tensor(float(len(self.experts))),
        }[self.cfg.eval_experts]
        k = int(k.round().clamp(1, len(self.experts)))
        return torch.topk(p[task], k).indices  # ties: the lower index, deterministically

    def forward(self, h: torch.Tensor, task: int) -> torch.Tensor:
        """h (B, in_dim) → z (B, out_dim); emits the task's density penalty ``mc_density``."""
        logits = self.logits[task]  # (M,)
        emit(self, "mc_density", self.cfg.density * torch.sigmoid(logits).sum())
        if not self.training:
            experts = self.chosen(task)
            rows = torch.arange(len(h), device=h.device).repeat(len(experts))
            ids = experts.repeat_interleave(len(h))
            return dispatch(h, self.experts, rows, ids, self.w[task][ids])
        b = self.draws("uniform", len(h), len(self.experts)) < torch.sigmoid(logits.detach())
        rows, ids = b.nonzero(as_tuple=True)  # (P,) each: the picked (row, expert) pairs
        z = dispatch(h, self.experts, rows, ids, self.w[task][ids])
        if torch.is_grad_enabled():
            # log P(b) = Σ_i b_i log p_i + (1 − b_i) log(1 − p_i): (B,)
            log_p = torch.where(b, F.logsigmoid(logits), F.logsigmoid(-logits))  # (B, M)
            self._log_prob[task] = log_p.sum(1)
        return z

    def param_groups(self) -> dict[str, ParamGroup]:
        """The gate logits learn at ``gate_lr_scale`` × the network's rate."""
        return {"mc_gates": ParamGroup(list(self.logits), self.cfg.gate_lr_scale)}

    def task_parameters(self) -> dict[int, list[nn.Parameter]]:
        """Task t's gate logits and expert weights (M,) each."""
        pairs = zip(self.logits, self.w, strict=True)
        return {t: [logits, w] for t, (logits, w) in enumerate(pairs)}

    def loss_feedback(self, task: int, losses: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-example losses (B,) of the last forward of ``task`` → the score-function surrogate
        (nothing after an evaluation forward or one without gradients)."""
        log_prob = self._log_prob.pop(task, None)
        if log_prob is None:
            return {}
        return {"mc_score": score_function_surrogate(losses, log_prob)}
