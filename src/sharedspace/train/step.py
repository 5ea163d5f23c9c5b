"""One training step: the contract every method plugs into, and the update rules (``train.step``).

The default step (the README's "One training step")::

    for each task t of the step: model(t, batch_t) → output, aux losses
        task.loss → LossTerms (per-example sums and weights) → model.feedback (per-example losses)
    one all-reduce: every task's loss totals, the aux losses, the stop flags
        → task losses reduced once over the global batch (per token or per example)
    weighting.backward(task losses, weighted aux losses, context) → gradients, averaged over
        processes → each optimizer clips (its clip_grad_norm) and steps → weighting.after_step

A task's loss for the backward is this process's share of the global loss, numerator · world /
global denominator, so gradients averaged over processes are the gradient of the global batch's
loss: a token-weighted loss is the same with 2 processes as with 1.

``adversarial`` first steps a critic ``n_critic`` times on fresh batches of the step's tasks
(each task kind's ``critic_loss``, with the optimizer ``critic`` of ``train.optimizers``), then
the rest of the model as the default step does (WGAN, Arjovsky et al. 2017; WGAN-GP, Gulrajani et
al. 2017).
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch
from tqdm import tqdm

from sharedspace import collectives
from sharedspace.config import TrainConfig, number
from sharedspace.errors import SharedSpaceError
from sharedspace.model import SharedSpaceModel
from sharedspace.registry import Registry
from sharedspace.tasks import LossTerms, Task
from sharedspace.train.loss_scale import LossScale
from sharedspace.train.optimizers import Optimizers
from sharedspace.train.weighting import StepContext, Weighting

Batches = dict[int, dict[str, torch.Tensor]]  # task index → its batch
STEPS: Registry[type["TrainStep"]] = Registry("training step")


class TrainingDiverged(SharedSpaceError):
    """A loss became NaN or infinite and the config says to stop."""


@dataclass
class Training:
    """What every step works on, built once by the trainer."""

    model: SharedSpaceModel
    tasks: list[Task]
    weighting: Weighting
    optimizers: Optimizers
    ctx: StepContext
    train: TrainConfig
    draw: Callable[[list[int]], Batches]  # the next batches of these tasks (their streams)

    @property
    def loss_scale(self) -> LossScale | None:
        """fp16's dynamic loss scale (train.precision), held by the step context that applies
        it; None in fp32 and bf16."""
        return self.ctx.scaler

    def overflowed(self, params: list[torch.nn.Parameter]) -> bool:
        """fp16: did the gradients of ``params`` overflow the loss scale? Then they are
        cleared and the step must be skipped. The scale moves either way."""
        if self.loss_scale is None:
            return False
        finite = self.loss_scale.update(params)
        if not finite:
            for p in params:
                p.grad = None
        return not finite


@dataclass
class StepResult:
    """What one step leaves for the bookkeeping."""

    losses: dict[str, torch.Tensor]  # task → its loss over the global batch
    aux: dict[int, dict[str, torch.Tensor]]  # task index → its raw aux losses
    weights: dict[str, torch.Tensor | float] | None  # task → weight; None: a skipped step
    minimised: torch.Tensor | None  # the objective the weighting minimised
    stopping: bool  # some process was asked to stop (SIGINT/SIGTERM)
    norms: dict[str, torch.Tensor]  # optimizer → its gradients' global norm (those that clip)
    critic: dict[str, torch.Tensor]  # task → its critic loss (adversarial steps)
    overflowed: bool = False  # fp16: skipped, its gradients overflowed the loss scale


def reduce_losses(
    terms: dict[str, tuple[LossTerms, str]], extra: list[torch.Tensor], procs: collectives.Processes
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
    """Task name → (its terms, its reduction), and scalars to sum over processes too → (each
    task's loss to differentiate: this process's share, each task's global loss (detached), the
    global sums of ``extra``), in one all-reduce."""
    totals = [t.totals(reduction) for t, reduction in terms.values()]
    numerators = torch.stack([n for n, _ in totals])
    packed = torch.cat([numerators.detach(), torch.stack([d for _, d in totals]), *extra])
    summed = collectives.total(packed.to(numerators.dtype), procs)
    n = len(totals)
    global_numerators, denominators = summed[:n], summed[n : 2 * n]
    shares = numerators * procs.world / denominators
    names = list(terms)
    return (
        dict(zip(names, shares.unbind(), strict=True)),
        dict(zip(names, (global_numerators / denominators).unbind(), strict=True)),
        summed[2 * n :],
    )


def forward_tasks(
    training: Training, batches: Batches
) -> tuple[dict[str, tuple[LossTerms, str]], torch.Tensor, dict[int, dict[str, torch.Tensor]]]:
    """Forward every task of the step: (task name → (its loss terms, its reduction), Σ weighted
    aux losses, task index → its raw aux losses from the forward and the loss feedback)."""
    model, tasks, weights = training.model, training.tasks, training.train.aux_loss_weights
    terms, raw_aux = {}, {}
    extra = torch.zeros((), device=next(model.parameters()).device)
    for i, batch in batches.items():
        output, aux = model(i, batch)
        loss = tasks[i].loss(output, batch)
        model.feedback(i, loss.losses().detach(), aux)
        terms[tasks[i].name] = (loss, tasks[i].reduction)
        for name, value in aux.items():
            extra = extra + weights.get(name, 1.0) * value
        raw_aux[i] = aux
    return terms, extra, raw_aux


@torch.no_grad()
def recompute_losses(training: Training, batches: Batches, positions) -> dict[str, torch.Tensor]:
    """The step's task losses again, on the same batches and with the same draws (gates, routes:
    ``positions`` are the streams' before the step) after the optimizer step, over the global
    batch — for weightings that learn from how much a step lowered each loss."""
    model, tasks = training.model, training.tasks
    with model.replay(positions):
        terms = {
            tasks[i].name: (tasks[i].loss(model(i, b)[0], b), tasks[i].reduction)
            for i, b in batches.items()
        }
    return reduce_losses(terms, [], training.ctx.procs)[1]


def check_finite(
    losses: dict[str, torch.Tensor], aux: torch.Tensor | None, step: int, train: TrainConfig
) -> bool:
    """Are the global losses finite? If not, raise (``train.on_nonfinite=stop``) or say the step
    is skipped and return False; every process takes the same branch (the values are global)."""
    named = [*losses.items(), *([(None, aux)] if aux is not None else [])]
    bad = next(((name, v) for name, v in named if not torch.isfinite(v)), None)
    if bad is None:
        return True
    what = f"the loss of task {bad[0]!r}" if bad[0] else "an aux loss"
    where = f"step {step}: {what} is {bad[1].item()}"
    if train.on_nonfinite == "stop":
        raise TrainingDiverged(f"{where} (train.on_nonfinite=stop; =skip skips such steps)")
    tqdm.write(f"{where}; skipped")
    return False


class TrainStep:
    """An update rule: ``step(batches, stop_requested)`` trains on the step's batches."""

    @dataclass
    class Config:
        pass

    def __init__(self, cfg: Config, training: Training) -> None:
        self.cfg, self.training = cfg, training

    @classmethod
    def problems(cls, cfg: Config, train: TrainConfig, kinds: dict[str, type[Task]]) -> list[str]:
        """What ``validate`` should refuse in the run's ``train`` section and task kinds (task
        name → kind) for this rule, before any data loads."""
        return []

    def __call__(self, batches: Batches, stop_requested: bool) -> StepResult:
        raise NotImplementedError


@STEPS.register("default")
class DefaultStep(TrainStep):
    """Forward the step's tasks, let the weighting own the backward, step every optimizer; a
    non-finite loss (global) stops the run or skips the step (``train.on_nonfinite``)."""

    def stepped(self) -> list[str]:
        """The optimizers this rule steps after the weighting's backward."""
        return list(self.training.optimizers)

    def __call__(self, batches: Batches, stop_requested: bool) -> StepResult:
        training, ctx = self.training, self.training.ctx
        positions = training.model.stream_positions()
        terms, extra, raw_aux = forward_tasks(training, batches)
        training.optimizers.zero_grad()
        # one all-reduce: the loss totals, the aux losses and the stop flags, so every rank
        # stops after the same step when any was signalled
        flag = extra.new_tensor(float(stop_requested))
        shares, losses, (aux_sum, flags) = reduce_losses(
            terms, [extra.detach()[None], flag[None]], ctx.procs
        )
        stopping = bool(flags > 0)
        if not check_finite(losses, aux_sum / ctx.procs.world, ctx.step, training.train):
            return StepResult(losses, raw_aux, None, None, stopping, {}, {})
        ctx.global_losses = losses
        ctx.recompute = lambda: recompute_losses(training, batches, positions)
        minimised, weights = training.weighting.backward(shares, extra, ctx)
        if training.overflowed(ctx.parameters):
            return StepResult(losses, raw_aux, None, None, stopping, {}, {}, overflowed=True)
        norms = training.optimizers.step(self.stepped())
        training.weighting.after_step(ctx)
        return StepResult(losses, raw_aux, weights, minimised, stopping, norms, {})


@STEPS.register("adversarial")
class AdversarialStep(DefaultStep):
    """The critic ``n_critic`` times, each on fresh batches of the step's tasks, then the rest of
    the model on the step's batches. The critic minimises each task's ``critic_loss`` (summed
    over tasks, unweighted); the other optimizers step on the default step's objective, in which
    the critic takes part (its gradients from it are cleared, never stepped on)."""

    @dataclass
    class Config:
        critic: str = "critic"  # the optimizer of train.optimizers that steps the critic
        n_critic: int = number(5, gt=0)  # critic steps per step of the rest

    @classmethod
    def problems(cls, cfg, train, kinds):
        errors = []
        if cfg.critic not in train.optimizers:
            named = ", ".join(train.optimizers) or "none"
            errors.append(
                f"train.step.critic: {cfg.critic!r} is not an optimizer of train.optimizers "
                f"(named: {named}); name one that steps the critic's parameter groups"
            )
        if kinds and not any(hasattr(kind, "critic_loss") for kind in kinds.values()):
            names = ", ".join(sorted({kind.__name__ for kind in kinds.values()}))
            errors.append(
                "train.step: adversarial steps a critic on the tasks' critic_loss, but no task "
                f"kind of this config has one ({names})"
            )
        return errors

    def stepped(self) -> list[str]:
        return [name for name in self.training.optimizers if name != self.cfg.critic]

    def __call__(self, batches: Batches, stop_requested: bool) -> StepResult:
        training, ctx = self.training, self.training.ctx
        critic, norms, losses = self.cfg.critic, {}, {}
        params = training.optimizers.params(critic)
        judged = [i for i in batches if hasattr(training.tasks[i], "critic_loss")]
        for _ in range(self.cfg.n_critic if judged else 0):
            fresh = training.draw(judged)
            terms = {}
            for i, batch in fresh.items():
                task = training.tasks[i]
                output, _ = training.model(i, batch)
                terms[task.name] = (task.critic_loss(output, batch), task.reduction)
            training.optimizers.zero_grad([critic])
            shares, losses, _ = reduce_losses(terms, [], ctx.procs)
            if not check_finite(losses, None, ctx.step, training.train):
                continue
            ctx.backward(torch.stack(list(shares.values())).sum())
            ctx.average(params)
            if not training.overflowed(params):
                norms |= training.optimizers.step([critic])
        result = super().__call__(batches, stop_requested)
        result.norms |= norms
        result.critic = losses
        return result
