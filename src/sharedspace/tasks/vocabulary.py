"""One tokenizer for several tasks: MultiModel's one subword vocabulary for every problem.

Tasks whose data sections give one ``vocabulary`` name (``tasks.<t>.data.vocabulary: subwords``)
read ONE tokenizer, fitted once on the training text of all of them, each distinct text once
(en → de and de → en read the same two sides of gettext), in the order of the texts' names, so
the vocabulary does not depend on the order of the tasks. Their input and target specs then
carry one vocabulary digest, so they can share one text cap and one language output net, as
MultiModel's 8k subwords served English, German, French, parse trees and captions (Kaiser et al.
2017). The tasks must agree on the tokenizer kind and size. A checkpoint's task states restore
the tokenizer as fitted, so a resumed run reads the same ids.
"""

from collections.abc import Mapping
from typing import Any

from sharedspace.config import ExperimentConfig
from sharedspace.data import TOKENIZERS
from sharedspace.errors import ConfigError
from sharedspace.tasks.views import DATA_VIEWS


def vocabulary_groups(cfg: ExperimentConfig) -> dict[str, list[str]]:
    """Vocabulary name → the tasks giving it, in config order. ConfigError when two of them
    differ in tokenizer kind or size (``cfg`` resolved: typed data configs)."""
    groups: dict[str, list[str]] = {}
    for name, task in cfg.tasks.items():
        data = task.data.config
        group = getattr(data, "vocabulary", None)
        if group is None:
            continue
        first = groups.setdefault(group, [name])[0]
        if first == name:
            continue
        groups[group].append(name)
        theirs = cfg.tasks[first].data.config
        for field in ("tokenizer", "vocab_size"):
            if getattr(data, field) != getattr(theirs, field):
                raise ConfigError(
                    f"tasks.{name}.data.{field}: {getattr(data, field)!r}, but task {first} "
                    f"reads vocabulary {group!r} with {getattr(theirs, field)!r}; one "
                    "vocabulary has one tokenizer"
                )
    return groups


def shared_tokenizers(
    cfg: ExperimentConfig, states: Mapping[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Task name → a state holding its vocabulary's tokenizer (``{"tokenizer": …}``, what a
    view's ``prepare`` restores from), for every task of a vocabulary. A group whose tasks all
    carry a tokenizer in ``states`` (a checkpoint's) keeps them; else one is fitted."""
    shared: dict[str, dict[str, Any]] = {}
    for names in vocabulary_groups(cfg).values():
        if all("tokenizer" in states.get(name, {}) for name in names):
            continue
        texts: dict[str, list[str]] = {}
        for name in names:
            task = cfg.tasks[name]
            view = DATA_VIEWS.pick(task.kind, task.data.name, task.data.config.view)
            texts |= view.texts(task.data.name, task.data.config, cfg.data_dir)
        data = cfg.tasks[names[0]].data.config
        fitted = TOKENIZERS.get(data.tokenizer)(
            [text for key in sorted(texts) for text in texts[key]], data.vocab_size
        )
        shared |= {name: {"tokenizer": fitted.state_dict()} for name in names}
    return shared
