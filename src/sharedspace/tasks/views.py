"""Data views register per (task kind, data kind) under a name, and a config picks one.

Registration works from either side: a task kind lists the views it reads
(``DATA_VIEWS.add(Classification, Images, Documents, BitStrings)``), and a new kind of data
registers its views in its own file (``@DATA_VIEWS.register(Classification)``), so neither edits
a table. A task kind inherits its parent's views (a plug-in's hinge-loss classification reads
what classification reads). A (task kind, data kind) pair may have several views — plain and
rotated images — and a config picks one with ``tasks.<t>.data.view``; the default is the pair's
only view, leaving out views read ``by_name`` (seq2seq on a corpus is reversal pairs unless the
config names ``continuations``). A view that declares ``reads`` (a splits type) is offered only
for datasets of that type (seq2seq on text: reversal pairs of a corpus, source → target pairs of
aligned texts).
"""

from collections.abc import Callable, Iterator
from typing import TypeVar

from sharedspace.data import DATASETS
from sharedspace.errors import ConfigError
from sharedspace.tasks.base import TASKS, Task
from sharedspace.tasks.data import DataView, source_kind

V = TypeVar("V", bound=type[DataView])


class DataViews:
    """Data views by task class, then data kind, then view name."""

    def __init__(self) -> None:
        self._views: dict[type[Task], dict[str, dict[str, type[DataView]]]] = {}

    def add(self, task: type[Task], *views: type[DataView]) -> None:
        """Tasks of class ``task`` (and its subclasses) read each of ``views``; a second view of
        one name is an error."""
        for view in views:
            named = self._views.setdefault(task, {}).setdefault(view.kind, {})
            if view.name in named:
                raise ValueError(f"{task.__name__} has two {view.kind} views named {view.name!r}")
            named[view.name] = view

    def register(self, task: type[Task]) -> Callable[[V], V]:
        """Class decorator form of ``add``, for a view in its own file (a new kind of data)."""

        def add(view: V) -> V:
            self.add(task, view)
            return view

        return add

    def of(self, task_kind: str) -> dict[str, dict[str, type[DataView]]]:
        """Data kind → view name → view, for every kind of data the TASKS entry ``task_kind``
        reads: its class's own views after those it inherits."""
        found: dict[str, dict[str, type[DataView]]] = {}
        for cls in reversed(TASKS.get(task_kind).__mro__):
            for kind, named in self._views.get(cls, {}).items():
                found.setdefault(kind, {}).update(named)
        return found

    def pick(self, task_kind: str, source: str, name: str | None) -> type[DataView]:
        """The view ``name`` of ``task_kind`` for the data kind of dataset ``source``, or the
        pair's only view not read ``by_name`` when ``name`` is None. ConfigError keyed inside the
        task's data section (``source: …``, ``view: …``) when there is none, no such name, or
        several and no name."""
        kinds = self.of(task_kind)
        data_kind = source_kind(source)
        if data_kind not in kinds:
            reads = " or ".join(kinds) or "no"
            raise ConfigError(f"source: {task_kind} reads {reads} data; {source!r} is {data_kind}")
        splits = DATASETS.get(source).splits  # a view that reads other splits is not offered
        views = {n: v for n, v in kinds[data_kind].items() if issubclass(splits, v.reads or object)}
        if not views:
            raise ConfigError(f"source: no {task_kind} view reads {source!r} ({splits.__name__})")
        known = ", ".join(views)
        if name is None:
            usual = [view for view in views.values() if not view.by_name]
            if len(usual) != 1:
                raise ConfigError(
                    f"view: {task_kind} has several views of {data_kind} data: {known}"
                )
            return usual[0]
        if name not in views:
            raise ConfigError(
                f"view: {name!r} is not a {task_kind} view of {data_kind} data; known: {known}"
            )
        return views[name]

    def __iter__(self) -> Iterator[tuple[str, str, str, type[DataView]]]:
        """(task kind, data kind, view name, view) for every registered task kind's views."""
        for task_kind in TASKS:
            for data_kind, views in self.of(task_kind).items():
                for name, view in views.items():
                    yield task_kind, data_kind, name, view


DATA_VIEWS = DataViews()
