"""Branched (Fig. 4.1 of Yan et al.'s report): tasks of a group share a copy of the last stage, a
task in no group has its own; names are checked when the config is read; a task's step leaves
the other branches untouched."""

import pytest
import torch
import yaml

from sharedspace.config import dump_config, from_dict
from sharedspace.errors import ConfigError
from sharedspace.resolve import load_config
from sharedspace.spaces.branched import Branched

TASKS = ["detect", "colour", "angle", "distance"]


def branched(groups: dict, tasks=TASKS, **params) -> Branched:
    cfg = from_dict(Branched.Config, {"groups": groups, **params})
    cfg.name_tasks(tasks)
    torch.manual_seed(0)
    return Branched(cfg, 8, len(tasks))


def test_a_group_shares_one_branch_and_a_task_in_none_has_its_own():
    space = branched({"aux": ["colour", "distance", "angle"]})
    assert space.branch_of == (0, 1, 1, 1) and len(space.branches) == 2
    h = torch.randn(2, 8, 6, 6)
    aux = [space(h, t) for t in (1, 2, 3)]
    assert all(torch.equal(aux[0], z) for z in aux[1:])
    assert not torch.allclose(space(h, 0), aux[0])  # detection's own copy
    assert space(h, 0).shape == (2, 8, 6, 6)
    own = space.task_parameters()
    assert set(own) == {0} and own[0] == list(space.branches[0].parameters())
    assert branched({}).branch_of == (0, 1, 2, 3)  # no groups: a branch each


def test_the_branch_sets_width_and_stride():
    space = branched({}, channels=12, blocks=2, stride=2)
    assert space.out_dim == 12 and space(torch.randn(1, 8, 8, 8), 3).shape == (1, 12, 4, 4)


def test_a_step_of_one_branch_leaves_the_others_untouched():
    space = branched({"aux": ["colour", "angle"]})
    assert space.branch_of == (0, 1, 1, 2)  # numbered as their first task comes
    space(torch.randn(2, 8, 4, 4), 1).sum().backward()
    assert all(p.grad is not None for p in space.branches[1].parameters())
    assert all(p.grad is None for b in (0, 2) for p in space.branches[b].parameters())


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ({"aux": ["color"]}, r"model\.space\.groups\.aux: 'color' is not a task; tasks: detect, "),
        ({"a": ["angle"], "b": ["angle"]}, r"model\.space\.groups\.b: 'angle' is in two groups"),
    ],
)
def test_a_group_must_name_tasks_of_the_run_once(groups, message):
    with pytest.raises(ConfigError, match=message):
        branched(groups)


def test_branch_of_is_not_a_setting():
    with pytest.raises(ConfigError, match="branch_of"):
        from_dict(Branched.Config, {"branch_of": [0, 0]})


def test_a_saved_config_keeps_the_groups_not_the_branches_they_gave(tmp_path):
    path = tmp_path / "run.yaml"
    cfg = {
        "name": "branched",
        "tasks": {
            name: {"kind": "classification", "modality": "image", "data": {"source": "cifar10"}}
            for name in ("a", "b", "c")
        },
        "model": {
            "modalities": {"image": "image_resnet"},
            "space": {"name": "branched", "groups": {"two": ["c", "a"]}},
        },
    }
    path.write_text(yaml.safe_dump(cfg))
    first = load_config(path)
    assert first.model.space.config.branch_of == (0, 1, 0)
    path.write_text(dump_config(first))  # as a run's config.yaml
    again = load_config(path)
    assert "branch_of" not in path.read_text() and again.model.space.config.branch_of == (0, 1, 0)
