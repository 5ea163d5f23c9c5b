"""What any part of a model (cap, space, head, or a module inside one) may declare beside its
forward, found by ``SharedSpaceModel`` once and read by the trainer — the explicit form of what
used to be hidden attributes and return conventions:

- ``aux_losses = ("name", …)`` (class attribute) and ``emit(self, "name", value)`` during the
  forward: auxiliary losses (MoE balance, a policy-entropy bonus) from a module at any depth. A
  forward returns only its output; the model collects what its modules emitted after each
  forward, summing one name emitted twice (two MoE layers in one body). The ``aux_losses`` of a
  top-level cap, space or task kind is also the static declaration ``validate`` reads: a container
  declares every name its submodules may emit.
- ``param_groups() -> {name: ParamGroup}``: parameters that want their own optimizer settings
  (cross-stitch weights and routing agents learn faster than the networks they steer, as in
  timm's ``no_weight_decay()`` / ``group_matcher()``); ``train.optimizers`` can also give a named
  group to an optimizer of its own (a critic's). A parameter in no declared group is in the
  default group (lr_scale 1).
- ``task_parameters() -> {task index: [Parameter, …]}``: parameters that only that task trains
  (its gates in a mixture, its own block in ``separate``). They are not among the model's
  ``shared_parameters()``, where gradient-level weighting combines the tasks' gradients. Keep them
  as ``ParameterRows`` (one Parameter per task) rather than one (T, …) tensor: a task that is not
  in the step then gets no gradient (None) instead of a zero row, and the optimizer leaves its
  parameters — and its Adam moments — as they are.
"""

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

AuxLosses = dict[str, torch.Tensor]
_EMITTED = "_emitted_aux_losses"  # where a module keeps what it emitted until it is collected


@dataclass(eq=False)
class ParamGroup:
    """Parameters stepped with the optimizer's learning rate × ``lr_scale``."""

    params: list[nn.Parameter]
    lr_scale: float = 1.0


def emit(part: nn.Module, name: str, value: torch.Tensor) -> None:
    """Record the aux loss ``name`` (a scalar) of ``part``'s current forward; emitted twice before
    it is collected, the values add up. ``name`` must be one of ``part.aux_losses``."""
    declared = getattr(part, "aux_losses", ())
    if name not in declared:
        raise RuntimeError(
            f"{type(part).__name__} emitted the aux loss {name!r}, which it does not declare "
            f"(aux_losses = {tuple(declared)})"
        )
    emitted = part.__dict__.setdefault(_EMITTED, {})
    emitted[name] = emitted[name] + value if name in emitted else value


def emitters(module: nn.Module) -> list[nn.Module]:
    """``module`` and its submodules that declare aux losses, in ``modules()`` order."""
    return [m for m in module.modules() if getattr(m, "aux_losses", ())]


def collect(parts: Iterable[nn.Module]) -> AuxLosses:
    """What ``parts`` emitted since they were last collected, by name (one name from several
    parts sums, in the order of ``parts``); each part's record is cleared."""
    aux: AuxLosses = {}
    for part in parts:
        for name, value in part.__dict__.pop(_EMITTED, {}).items():
            aux[name] = aux[name] + value if name in aux else value
    return aux


class ParameterRows(nn.ParameterList):
    """A tensor kept as one Parameter per index along ``dim`` (per task, or per gate): row ``i``
    is ``self[i]`` (the tensor without ``dim``), ``stacked()`` the whole tensor. A row that no
    loss reached gets no gradient and no optimizer step. State-dict keys: ``<name>.<i>``."""

    def __init__(self, values: torch.Tensor, dim: int = 0) -> None:
        super().__init__(nn.Parameter(row.clone()) for row in values.unbind(dim))
        self.dim = dim

    def stacked(self) -> torch.Tensor:
        """All rows as one tensor (differentiable; a copy, so writing to it changes nothing)."""
        return torch.stack(list(self), self.dim)


def split_stacked_rows(
    module: nn.Module, state: dict[str, torch.Tensor], prefix: str = "", *_: object
) -> None:
    """Rewrite, in ``state`` (a state dict of ``module``, keys under ``prefix``), each
    ``ParameterRows``' tensor saved whole under its own name (as one Parameter held it before
    it was split) into its rows' keys, so weights saved then still load. Its signature is a
    load-state-dict pre-hook's (``module.register_load_state_dict_pre_hook``)."""
    for name, rows in module.named_modules(prefix=prefix.removesuffix(".")):
        if isinstance(rows, ParameterRows) and name in state and f"{name}.0" not in state:
            stacked = state.pop(name)
            state |= {f"{name}.{i}": row for i, row in enumerate(stacked.unbind(rows.dim))}
