"""The sparsely-gated mixture of experts (Shazeer et al. 2017, "Outrageously large neural
networks"): noisy top-k gating, so each row costs k experts of M however large M grows.

Why noise and two losses: a learned top-k gate left alone sends most rows to the few experts that
won early, which then train faster and win more. The paper adds tunable Gaussian noise to the gate
logits in training (§2.1; ``W_g`` and ``W_noise`` start at zero, so routing starts uniform and
random) and two balance losses (§4, appendix A): the squared coefficient of variation (CV²) over
experts of their *importance* (the summed gate values) and of their *load* (how many rows each gets,
made differentiable by the smooth estimator P(x, i) = the probability that expert i stays in the
top k if its own noise alone were drawn again). ``MoELayer`` works on rows and is reused on tokens;
``MoESpace`` registers it as the ``moe`` space with one gate per task (a sparse multi-gate MoE).

In training the balance losses are those of the global batch: importance and load are summed over
every process, so 2 processes learn what 1 does (for vectors; see ``MoELayer``). Evaluation uses
no collective (its processes may run different numbers of batches) and reports this process's.
"""

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from sharedspace.config import Component, component
from sharedspace.errors import ConfigError
from sharedspace.parts import ParameterRows, emit
from sharedspace.precision import to_float32
from sharedspace.representation import Form, PaddedSequence, Representation
from sharedspace.spaces.dispatch import dispatch
from sharedspace.spaces.global_batch import RowDraws, global_batch_sum
from sharedspace.spaces.registry import SPACES, build_experts

CV_EPS = 1e-10  # keeps CV² finite when every expert's importance or load is 0 (as tensor2tensor)


def cv_squared(v: torch.Tensor) -> torch.Tensor:
    """(…, M) → the squared coefficient of variation over the last dim: population variance /
    (mean² + ε), shape (…)."""
    return v.var(-1, correction=0) / (v.mean(-1) ** 2 + CV_EPS)


class NoisyTopKGate(nn.Module):
    """Noisy top-k gating (paper §2.1), with ``gates`` independent gates (e.g. one per task).

    Training: H(x) = x·W_g + ε ⊙ σ(x), σ(x) = softplus(x·W_noise) + noise_epsilon, ε ~ N(0, 1)
    drawn per row by ``RowDraws`` (so 2 processes draw what 1 does when rows are the global
    batch's); evaluation: H(x) = x·W_g. G(x) = softmax over the k largest H(x), 0 elsewhere; ties
    go to ``torch.topk``'s choice. The floor ``noise_epsilon`` is tensor2tensor's
    (``expert_utils.noisy_top_k_gating``, 1e-2): the noise never vanishes, and P(x, i), which
    divides by σ, stays finite. ``w_gate`` and ``w_noise`` hold one Parameter per gate
    (``ParameterRows``): a gate that no row used in a step gets no gradient.
    """

    def __init__(
        self, in_dim: int, experts: int, k: int, gates: int = 1, noise_epsilon: float = 1e-2
    ) -> None:
        super().__init__()
        self.k, self.noise_epsilon = k, noise_epsilon
        self.w_gate = ParameterRows(torch.zeros(gates, in_dim, experts))  # W_g per gate: zero
        self.w_noise = ParameterRows(torch.zeros(gates, in_dim, experts))  # W_noise: zero
        self.draws = RowDraws()

    def forward(
        self, x: torch.Tensor, gate: int = 0, uneven: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (N, D) → chosen experts (N, k), their gate values (N, k) (each row sums to 1),
        importance (M,) = Σ_rows G(x) and load (M,). ``uneven``: processes hold different
        numbers of rows (tokens), see ``RowDraws``.

        Load is Σ_rows P(x, i) in training (differentiable, also in W_noise), and the number of
        rows each expert got in evaluation (no noise, so no smooth estimate: a measurement).
        In float32 under mixed precision: a top-k of rounded logits ties, and the balance
        losses' CV² of rounded sums is noise.
        """
        with torch.autocast(x.device.type, enabled=False):
            return self._gates(to_float32(x), gate, uneven)

    def _gates(
        self, x: torch.Tensor, gate: int, uneven: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        k, m = self.k, self.w_gate[gate].shape[1]
        n = len(x)
        # expert-major (M, N): W^T·x^T is a fast matmul where x·W, with M ≪ N columns, is not
        if self.training:
            w = torch.cat([self.w_gate[gate], self.w_noise[gate]], 1)  # (D, 2M): one matmul
            clean, noise_logits = (w.T @ x.T).split(m)  # (M, N) each
            std = nn.functional.softplus(noise_logits) + self.noise_epsilon  # (M, N)
            noise = self.draws("normal", n, m, uneven=uneven).to(clean.dtype).T  # (M, N)
            logits = clean + noise * std
        else:
            logits = clean = self.w_gate[gate].T @ x.T  # (M, N)
        top, ids = logits.topk(min(k + 1, m), dim=0)  # (k+1, N): the (k+1)-th serves P(x, i)
        weights, ids = top[:k].softmax(0), ids[:k]  # (k, N)
        importance = clean.new_zeros(m).index_add(0, ids.flatten(), weights.flatten())  # (M,)
        if not self.training:
            load = torch.bincount(ids.flatten(), minlength=m).to(clean.dtype)
        elif k == m:  # every row goes to every expert whatever the noise
            load = clean.new_full((m,), float(n))
        else:
            # kth_excluding(H, k, i): the (k+1)-th largest H if i is in the top k, else the k-th
            chosen = torch.zeros_like(clean, dtype=torch.bool).scatter(0, ids, True)  # (M, N)
            threshold = torch.where(chosen, top[k : k + 1], top[k - 1 : k])  # (M, N)
            load = torch.special.ndtr((clean - threshold) / std).sum(1)  # Σ_rows P(x, i): (M,)
        return ids.T, weights.T, importance, load


class MoELayer(nn.Module):
    """M experts (one block section) of which each row runs k, chosen by a ``NoisyTopKGate``.

    Rows (N, D) → (N, out_dim), or a PaddedSequence (B, T, D) → (B, T, out_dim): the real
    positions are the rows (padding is neither gated nor computed, and is 0 in the output; the mask
    is kept). Emits ``moe_importance`` and ``moe_load`` (``parts.emit``): balance · CV² of each
    over the global batch in training; in evaluation too, over this process's rows, for the logs
    (importance from the noiseless gates, load as row counts). Several layers in one body emit
    into one sum per name.
    2 processes = 1: each row draws the noise 1 process draws for it, vectors as rows of the
    global batch, tokens as the real positions of its examples in order (their count per process
    varies, so one collective finds where this process's tokens start).
    """

    aux_losses = ("moe_importance", "moe_load")

    def __init__(
        self,
        expert: Component,
        in_dim: int,
        experts: int,
        k: int,
        gates: int = 1,
        balance: float = 0.01,
        noise_epsilon: float = 1e-2,
    ) -> None:
        super().__init__()
        self.experts = build_experts(expert, in_dim, experts)
        self.gate = NoisyTopKGate(in_dim, experts, k, gates, noise_epsilon)
        self.k, self.balance = k, balance
        self.out_dim = self.experts[0].out_dim

    def forward(self, h: Representation, gate: int = 0) -> Representation:
        if isinstance(h, PaddedSequence):
            rows = self._rows(h.values[h.mask], gate, uneven=True)  # (P, out_dim), P real
            shape = (*h.mask.shape, self.out_dim)
            return PaddedSequence(rows.new_zeros(shape).index_put((h.mask,), rows), h.mask)
        return self._rows(h, gate)

    def _rows(self, x: torch.Tensor, gate: int, uneven: bool = False) -> torch.Tensor:
        """x (N, D) → (N, out_dim); emits the balance losses."""
        ids, weights, importance, load = self.gate(x, gate, uneven)  # (N, k), (N, k), (M,), (M,)
        rows = torch.arange(len(x), device=x.device).repeat_interleave(self.k)  # (N·k,)
        out = dispatch(x, self.experts, rows, ids.flatten(), weights.flatten())  # (N, out_dim)
        usage = torch.stack([importance, load])  # (2, M)
        if self.training and torch.is_grad_enabled():  # every process's training step gets here
            usage = global_batch_sum(usage)
        importance_loss, load_loss = self.balance * cv_squared(usage)
        emit(self, "moe_importance", importance_loss)
        emit(self, "moe_load", load_loss)
        return out


@SPACES.register("moe")
class MoESpace(nn.Module):
    """The sparsely-gated MoE as the shared space: (B, D) → (B, out_dim), or a PaddedSequence
    position by position; ``out_dim`` is the expert block's. Task t routes with gate t (one gate
    per task, its own parameters: ``task_parameters``), or every task with one shared gate."""

    forms: ClassVar[dict[Form, Form]] = {"vector": "vector", "sequence": "sequence"}
    aux_losses = MoELayer.aux_losses  # emitted by its MoELayer
    sparse: ClassVar[bool] = True  # an expert no row chose gets no gradient in that step

    @dataclass
    class Config:
        experts: int = 8  # M
        k: int = 2  # experts each row runs (1 ≤ k ≤ experts)
        expert: Component = component("mlp", registry="block")  # every expert's block
        per_task_gates: bool = True  # one gate per task (multi-gate), else one shared gate
        balance: float = 0.01  # w: weight of each balance loss (CV² of importance, of load)
        # the gate noise's floor: σ = softplus(x·W_noise) + noise_epsilon (tensor2tensor: 1e-2;
        # 0 is the paper's formula, whose noise vanishes where softplus does)
        noise_epsilon: float = 1e-2

        def __post_init__(self) -> None:  # from_dict prefixes the section's key (model.space)
            if self.experts < 1:
                raise ConfigError(f"experts: need at least 1, got {self.experts}")
            if not 1 <= self.k <= self.experts:
                raise ConfigError(
                    f"k: each row runs k of the {self.experts} experts, so 1 ≤ k ≤ experts; "
                    f"got k={self.k}"
                )
            if self.balance < 0:
                raise ConfigError(f"balance: must be ≥ 0, got {self.balance}")
            if self.noise_epsilon < 0:
                raise ConfigError(f"noise_epsilon: must be ≥ 0, got {self.noise_epsilon}")

    def __init__(self, cfg: Config, in_dim: int, num_tasks: int) -> None:
        super().__init__()
        self.per_task_gates = cfg.per_task_gates
        gates = num_tasks if cfg.per_task_gates else 1
        self.moe = MoELayer(
            cfg.expert, in_dim, cfg.experts, cfg.k, gates, cfg.balance, cfg.noise_epsilon
        )
        self.out_dim = self.moe.out_dim

    def forward(self, h: Representation, task: int) -> Representation:
        return self.moe(h, task if self.per_task_gates else 0)

    def task_parameters(self) -> dict[int, list[nn.Parameter]]:
        """Task t's gate (W_g, W_noise), when each task has its own."""
        if not self.per_task_gates:
            return {}
        gate = self.moe.gate
        pairs = zip(gate.w_gate, gate.w_noise, strict=True)
        return {t: [w_g, w_n] for t, (w_g, w_n) in enumerate(pairs)}
