"""The output-net registry, its builder, and the defaults every entry shares."""

from typing import Any, ClassVar

from torch import nn

from sharedspace.config import Component
from sharedspace.errors import ConfigError
from sharedspace.registry import Registry
from sharedspace.representation import Form

OUTPUTS: Registry[type[nn.Module]] = Registry("output net")


class OutputNet:
    """Class attributes of an output net (mixed in before its ``nn.Module`` base)."""

    target_kinds: ClassVar[tuple[str, ...]]  # TARGET_KINDS it produces ("classes", "tokens", …)
    accepts: ClassVar[tuple[Form, ...]]  # forms of z it reads
    aux_losses: ClassVar[tuple[str, ...]] = ()  # names it may emit with ``parts.emit``
    decodes: ClassVar[bool] = False  # embeds targets for a decoding space and steps a search

    @classmethod
    def reads(cls, target: Any) -> Any:
        """What of a target spec the net is built from: the tasks that share one net must give
        equal values (the whole spec, unless a net says it reads less)."""
        return target


def build_output(
    section: Component, in_dim: int, target: Any, task_tokens: tuple[str, ...], key: str
) -> nn.Module:
    """The output net ``section`` names, reading z of width ``in_dim`` and sized from ``target``
    (a target spec, data/specs.py); ``task_tokens[t]`` is task t's command token (a decoding net
    starts task t from it; tasks of one token share it); ``key`` is the section's config key."""
    cls = OUTPUTS.get(section.name)
    if target.kind not in cls.target_kinds:
        kinds = "/".join(cls.target_kinds)
        raise ConfigError(
            f"{key}.name: output net {section.name!r} produces {kinds} targets, "
            f"but the tasks using it have {target.kind} targets"
        )
    return cls(section.config, in_dim, target, task_tokens)
