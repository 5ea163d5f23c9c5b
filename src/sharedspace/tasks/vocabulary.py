"""One tokenizer for several tasks: MultiModel's one subword vocabulary for every problem.

Tasks whose data sections give one ``vocabulary`` name (``tasks.<t>.data.vocabulary: subwords``)
read ONE tokenizer, fitted once on the training text of all of them, each distinct text once
(en → de and de → en read the same two sides of gettext), in the order of the texts' names, so
the vocabulary does not depend on the order of the tasks. Their input and target specs then
carry one vocabulary digest, so they can share one text cap and one language output net, as
MultiModel's 8k subwords served English, German, French, parse trees and captions (Kaiser et al.
2017). The tasks must agree on the tokenizer kind and size. A checkpoint's task states restore
the tokenizer as fitted, so a resumed run reads the same ids.

A study that compares runs of different task subsets hands every run the vocabulary fitted on
all of its problems (``fit_vocabularies`` of the full config, then ``train(..., vocabularies=)``),
so a problem trained alone reads the ids it reads jointly, and runs differ in what else the body
learns, not in their vocabularies.
"""

from collections.abc import Mapping
from typing import Any

from sharedspace.config import ExperimentConfig
from sharedspace.data import TOKENIZERS, tokenizer_from_state
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


def fit_vocabulary(cfg: ExperimentConfig, names: list[str]) -> dict[str, Any]:
    """The tokenizer state of one vocabulary, fitted on the training text of the tasks ``names``
    (one group of ``vocabulary_groups``): each distinct text once, in the order of their names."""
    texts: dict[str, list[str]] = {}
    for name in names:
        task = cfg.tasks[name]
        view = DATA_VIEWS.pick(task.kind, task.data.name, task.data.config.view)
        texts |= view.texts(task.data.name, task.data.config, cfg.data_dir)
    data = cfg.tasks[names[0]].data.config
    fitted = TOKENIZERS.get(data.tokenizer)(
        [text for key in sorted(texts) for text in texts[key]], data.vocab_size
    )
    return fitted.state_dict()


def fit_vocabularies(cfg: ExperimentConfig) -> dict[str, dict[str, Any]]:
    """Vocabulary name → its tokenizer state, fitted on the training text of every task of the
    config that gives the name (what ``train(..., vocabularies=)`` hands to other runs)."""
    return {group: fit_vocabulary(cfg, names) for group, names in vocabulary_groups(cfg).items()}


def _given(group: str, state: Any, data: Any) -> dict[str, Any]:
    """A vocabulary handed in by the caller, checked against the tasks' tokenizer settings."""
    tokenizer = tokenizer_from_state(state)  # DataError on a malformed state
    if tokenizer.kind != data.tokenizer or tokenizer.vocab_size > data.vocab_size:
        raise ConfigError(
            f"vocabularies[{group!r}]: a {tokenizer.kind} tokenizer of {tokenizer.vocab_size:,} "
            f"ids, but its tasks ask for {data.tokenizer} of at most {data.vocab_size:,}"
        )
    return tokenizer.state_dict()


def shared_tokenizers(
    cfg: ExperimentConfig,
    states: Mapping[str, dict[str, Any]],
    vocabularies: Mapping[str, dict[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Task name → a state holding its vocabulary's tokenizer (``{"tokenizer": …}``, what a
    view's ``prepare`` restores from), for every task of a vocabulary. A group whose tasks all
    carry a tokenizer in ``states`` (a checkpoint's) keeps them; else the one ``vocabularies``
    gives under its name (names the config does not use are ignored); else one is fitted."""
    vocabularies = vocabularies or {}
    shared: dict[str, dict[str, Any]] = {}
    for group, names in vocabulary_groups(cfg).items():
        if all("tokenizer" in states.get(name, {}) for name in names):
            continue
        data = cfg.tasks[names[0]].data.config
        if group in vocabularies:
            state = _given(group, vocabularies[group], data)
        else:
            state = fit_vocabulary(cfg, names)
        shared |= {name: {"tokenizer": state} for name in names}
    return shared
