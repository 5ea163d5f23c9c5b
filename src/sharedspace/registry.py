"""A registry is a dict and a decorator (after big_vision's ``pp/registry.py``).

One registry per kind of part (modality caps, spaces, tasks, samplers, weightings, datasets): a
config names an entry by string, and adding a part touches one file. A duplicate name is an error,
and a failed lookup lists the known names.
"""

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from sharedspace.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind, filled by ``@REGISTRY.register("name")`` at import time."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = entry
            return entry

        return add

    def get(self, name: str) -> T:
        if name not in self._entries:
            known = ", ".join(sorted(self._entries)) or "none"
            raise ConfigError(f"unknown {self.kind} {name!r}; known: {known}")
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))
