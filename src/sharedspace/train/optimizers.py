"""The run's optimizers, by name, over the parameter groups the model's parts declare.

``main`` (the ``train`` section's settings) steps every parameter that no optimizer of
``train.optimizers`` takes; a named one steps the declared groups it lists (a critic's, an
adversary's), with its own type, learning rate, betas, weight decay, schedule and clipping. Inside
an optimizer a declared group keeps its ``lr_scale`` (cross-stitch weights and routing agents learn
faster than the networks they steer): the schedule sets its rate to scale × the step's rate.
Adam/AdamW use the fused kernel: one pass over the weights instead of ~8 (on CPU too).
"""

from collections.abc import Callable, Iterable

import torch
from torch import nn

from sharedspace.config import OptimizerSettings, TrainConfig
from sharedspace.errors import ConfigError
from sharedspace.parts import ParamGroup
from sharedspace.registry import Registry
from sharedspace.train.schedule import lr_at

Groups = list[dict]  # torch's parameter groups: {"params": [...], "lr_scale": s}
OPTIMIZERS: Registry[Callable[[Groups, OptimizerSettings], torch.optim.Optimizer]] = Registry(
    "optimizer"
)


@OPTIMIZERS.register("adam")
def adam(groups: Groups, cfg: OptimizerSettings) -> torch.optim.Optimizer:
    """Adam (Kingma & Ba), L2 weight decay added to the gradient."""
    betas = tuple(cfg.betas)
    return torch.optim.Adam(groups, cfg.lr, betas, weight_decay=cfg.weight_decay, fused=True)


@OPTIMIZERS.register("adamw")
def adamw(groups: Groups, cfg: OptimizerSettings) -> torch.optim.Optimizer:
    """AdamW (Loshchilov & Hutter): weight decay applied to the weights, apart from Adam's step."""
    betas = tuple(cfg.betas)
    return torch.optim.AdamW(groups, cfg.lr, betas, weight_decay=cfg.weight_decay, fused=True)


@OPTIMIZERS.register("sgd")
def sgd(groups: Groups, cfg: OptimizerSettings) -> torch.optim.Optimizer:
    """SGD with (heavy-ball) momentum."""
    return torch.optim.SGD(groups, cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


class Optimizers:
    """Named optimizers, each with its settings; together they step every trainable parameter
    of ``params`` exactly once.

    ``declared`` are the model's parameter groups (``SharedSpaceModel.param_groups()``);
    ``params`` every trainable parameter in a fixed order (the model's, then the weighting's).
    """

    def __init__(
        self,
        train: TrainConfig,
        declared: dict[str, ParamGroup],
        params: Iterable[nn.Parameter],
    ) -> None:
        self.settings = train.optimizer_settings()
        owner: dict[str, str] = {}  # declared group → the optimizer that steps it
        for name, settings in self.settings.items():
            for group in getattr(settings, "groups", ()):
                if group not in declared:
                    known = ", ".join(sorted(declared)) or "none"
                    raise ConfigError(
                        f"train.optimizers.{name}.groups: no part of this model declares the "
                        f"parameter group {group!r}; declared: {known}"
                    )
                owner[group] = name
        of_param = {  # id → (optimizer, lr_scale) for the parameters of declared groups
            id(p): (owner.get(group, "main"), g.lr_scale)
            for group, g in declared.items()
            for p in g.params
        }
        groups: dict[str, dict[float, list[nn.Parameter]]] = {name: {} for name in self.settings}
        for p in params:
            if p.requires_grad:
                name, scale = of_param.get(id(p), ("main", 1.0))
                groups[name].setdefault(scale, []).append(p)
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        for name, by_scale in groups.items():
            if not by_scale:
                if name == "main":  # every parameter has an optimizer of its own
                    continue
                raise ConfigError(
                    f"train.optimizers.{name}.groups: they hold no trainable parameter"
                )
            torch_groups = [{"params": ps, "lr_scale": s} for s, ps in by_scale.items()]
            build = OPTIMIZERS.get(self.settings[name].optimizer)
            self.optimizers[name] = build(torch_groups, self.settings[name])

    def __iter__(self):
        return iter(self.optimizers)

    def params(self, name: str) -> list[nn.Parameter]:
        return [p for g in self.optimizers[name].param_groups for p in g["params"]]

    def set_lrs(self, step: int, total_steps: int) -> dict[str, float]:
        """Set each optimizer's rate for ``step`` by its schedule (× each group's ``lr_scale``,
        1 in checkpoints from before it); returns the rates by optimizer."""
        rates = {}
        for name, optimizer in self.optimizers.items():
            rates[name] = lr = lr_at(step, self.settings[name], total_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)
        return rates

    def zero_grad(self, names: Iterable[str] | None = None) -> None:
        for name in self.optimizers if names is None else names:
            self.optimizers[name].zero_grad(set_to_none=True)

    def step(self, names: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        """Step the optimizers ``names`` (default: all), each after clipping its gradients to
        its ``clip_grad_norm``; returns the global norm before clipping of each that clips."""
        norms = {}
        for name in self.optimizers if names is None else names:
            limit = self.settings[name].clip_grad_norm
            if limit is not None:
                norms[name] = nn.utils.clip_grad_norm_(self.params(name), limit)
            self.optimizers[name].step()
        return norms

    def state_dict(self) -> dict[str, dict]:
        return {name: optimizer.state_dict() for name, optimizer in self.optimizers.items()}

    def load_state_dict(self, states: dict[str, dict]) -> None:
        """Every optimizer's state by name (a KeyError names one the states lack)."""
        if set(states) != set(self.optimizers):
            raise KeyError(f"optimizers {sorted(states)} saved, {sorted(self.optimizers)} now")
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(states[name])
