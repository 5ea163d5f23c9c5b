"""Named optimizers over declared parameter groups, their schedules and gradient clipping."""

import json

import pytest
import torch
from torch import nn

from sharedspace.config import TrainConfig
from sharedspace.errors import ConfigError
from sharedspace.parts import ParamGroup
from sharedspace.resolve import validate
from sharedspace.train.checkpoint import latest_checkpoint, load_checkpoint
from sharedspace.train.optimizers import OPTIMIZERS, Optimizers
from tests.tiny import tiny_config


def two_params(scale: float = 10.0):
    plain, fast = nn.Parameter(torch.zeros(3)), nn.Parameter(torch.zeros(3))
    return plain, fast, {"fast": ParamGroup([fast], lr_scale=scale)}


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_a_declared_groups_lr_scale_multiplies_its_learning_rate(optimizer):
    """Cross-stitch weights learn faster than the networks they mix: a part declares a group
    with ``lr_scale``, and every step's rate is scaled for it."""
    plain, fast, declared = two_params()
    optimizers = Optimizers(
        TrainConfig(optimizer=optimizer, warmup_steps=0), declared, [plain, fast]
    )
    assert list(optimizers) == ["main"]
    (main,) = optimizers.optimizers.values()
    assert [len(g["params"]) for g in main.param_groups] == [1, 1]
    assert optimizers.set_lrs(0, 10) == {"main": 1e-3}
    (plain.sum() + fast.sum()).backward()
    optimizers.step()  # the first Adam step is lr·g/|g|; SGD's is lr·g: both ∝ lr
    torch.testing.assert_close(fast.detach(), 10 * plain.detach())
    assert plain.abs().min() > 0


def test_a_named_optimizer_steps_its_groups_with_its_own_settings():
    plain, fast, declared = two_params(scale=1.0)
    train = TrainConfig(optimizer="sgd", lr=0.1, warmup_steps=0, schedule="constant")
    critic = _section(groups=["fast"], lr=0.5, optimizer="adam", warmup_steps=0, schedule="linear")
    train.optimizers = {"critic": critic}
    optimizers = Optimizers(train, declared, [plain, fast])
    assert optimizers.params("main") == [plain] and optimizers.params("critic") == [fast]
    assert isinstance(optimizers.optimizers["critic"], torch.optim.Adam)
    last = optimizers.set_lrs(9, 10)
    assert last == pytest.approx({"main": 0.1, "critic": 0.5 * 0.05})  # its own schedule
    assert optimizers.set_lrs(0, 10) == {"main": 0.1, "critic": 0.5}
    (plain.sum() + fast.sum()).backward()
    optimizers.step(["critic"])  # only the critic moves
    assert torch.equal(plain.detach(), torch.zeros(3))
    torch.testing.assert_close(fast.detach(), torch.full((3,), -0.5))  # Adam: lr·sign(g)
    assert set(optimizers.state_dict()) == {"main", "critic"}


def test_a_group_no_part_declares_is_a_config_error():
    plain, fast, declared = two_params()
    train = TrainConfig()
    train.optimizers = {"critic": _section(groups=["critics"])}
    with pytest.raises(ConfigError, match=r"train.optimizers.critic.groups: .*'critics'.*fast"):
        Optimizers(train, declared, [plain, fast])


def _section(**settings):
    """A resolved ``train.optimizers`` entry with ``settings`` (the rest the train section's)."""
    from sharedspace.config import Component, OptimizerConfig

    section = Component("", settings, name_key=None)
    section.config = OptimizerConfig(**settings)
    return section


@pytest.mark.parametrize("limit", [0.05, 1e3])
def test_clipping_changes_the_update_exactly_as_clip_grad_norm(limit):
    """``clip_grad_norm`` scales the gradients as ``torch.nn.utils.clip_grad_norm_`` does (and
    leaves them alone below the limit), before the step, and reports the norm."""
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    reference = nn.Linear(4, 3)
    reference.load_state_dict(model.state_dict())
    x = torch.randn(8, 4)
    train = TrainConfig(optimizer="sgd", lr=0.1, momentum=0.0, warmup_steps=0, clip_grad_norm=limit)
    optimizers = Optimizers(train, {}, model.parameters())
    optimizers.set_lrs(0, 1)
    model(x).square().sum().backward()
    norms = optimizers.step()

    plain = torch.optim.SGD(reference.parameters(), lr=0.1)
    reference(x).square().sum().backward()
    expected = nn.utils.clip_grad_norm_(reference.parameters(), limit)
    plain.step()
    assert torch.equal(norms["main"], expected)
    for got, want in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.equal(got, want)
    assert (limit < expected) == (limit == 0.05)  # one case clips, the other does not


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.optimizer=adamm"], r"train.optimizer: 'adamm' is not one of .*'adam'\?"),
        (["train.schedule=noam"], r"train.schedule: 'noam' is not one of .*rsqrt"),
        (["train.betas=[0.9, 1.0]"], r"train.betas: two numbers in \[0, 1\)"),
        (["train.betas=[0.9]"], r"train.betas: two numbers"),
        (["train.clip_grad_norm=0"], r"train.clip_grad_norm: must be > 0"),
        (["train.optimizers={main: {groups: [x]}}"], r"train.optimizers.main: .*other than 'main'"),
        (["train.optimizers={critic: {lr: 1}}"], r"train.optimizers.critic.groups: missing"),
        (["train.optimizers={critic: {groups: []}}"], r"critic.groups: name the parameter groups"),
        (
            ["train.optimizers={a: {groups: [g]}, b: {groups: [g]}}"],
            r"train.optimizers.b.groups: 'g' is stepped by a too",
        ),
        (["train.optimizers={c: {groups: [g], lr: -1}}"], r"train.optimizers.c.lr: must be > 0"),
        (["train.step=adversarial"], r"train.step.critic: 'critic' is not an optimizer"),
        (["train.step=adversarial"], r"no task kind of this config has one"),
        (["train.step={name: adversarial, n_critic: 0}"], r"train.step.n_critic: must be > 0"),
    ],
)
def test_update_rule_mistakes_are_refused_before_any_data_loads(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        tiny_config(tmp_path / "no-data", tmp_path, overrides=overrides)


def test_named_optimizers_inherit_the_train_sections_settings(tmp_path):
    cfg = tiny_config(
        tmp_path, tmp_path, lr=0.01, overrides=["train.optimizers={critic: {groups: [g], lr: 0.5}}"]
    )
    settings = cfg.train.optimizer_settings()
    assert settings["critic"].lr == 0.5 and settings["main"].lr == 0.01
    assert settings["critic"].warmup_steps == settings["main"].warmup_steps
    assert settings["critic"].groups == ["g"]
    validate(cfg)  # resolving again gives the same


def test_a_weighting_that_balances_tasks_needs_more_than_one_task_a_step(tmp_path):
    """FAMO, DWA, RLW and the gradient-level methods weigh the tasks of a step against each
    other; under one task a step they do nothing, which a study once fell into."""
    tasks = ("classification", "reconstruction")
    for method in ("famo", "dwa", "pcgrad"):
        with pytest.raises(ConfigError, match=r"train.sampler: 'uniform' trains one task per step"):
            tiny_config(tmp_path, tmp_path, tasks=tasks, overrides=[f"train.weighting={method}"])
    tiny_config(tmp_path, tmp_path, tasks=tasks, overrides=["train.weighting=uncertainty"])
    tiny_config(
        tmp_path, tmp_path, tasks=tasks, overrides=["train.weighting=famo", "train.sampler=all"]
    )


def test_a_new_optimizer_and_schedule_are_one_function_each(tiny_data_dir, tmp_path, monkeypatch):
    """The README's "what a new part touches": an optimizer and a schedule registered in a test
    file validate, train and are listed, with no edit elsewhere."""
    from sharedspace.catalog import describe
    from sharedspace.train.schedule import SCHEDULES
    from sharedspace.train.trainer import train

    def adagrad(groups, cfg):
        """Adagrad (Duchi et al.)."""
        return torch.optim.Adagrad(groups, cfg.lr, weight_decay=cfg.weight_decay)

    def halving(step, cfg, total_steps):
        """Halve the rate every 2 steps."""
        return cfg.lr * 0.5 ** (step // 2)

    monkeypatch.setitem(OPTIMIZERS._entries, "adagrad", adagrad)
    monkeypatch.setitem(SCHEDULES._entries, "halving", halving)
    overrides = ["train.optimizer=adagrad", "train.schedule=halving", "train.warmup_steps=0"]
    result = train(
        tiny_config(tiny_data_dir, tmp_path, max_steps=4, log_every=1, overrides=overrides)
    )
    state = load_checkpoint(latest_checkpoint(result.run_dir / "checkpoints"))
    assert "sum" in next(iter(state["optimizers"]["main"]["state"].values()))  # Adagrad's
    rates = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").open()]
    assert [r["lr"] for r in rates if r["task"] == "*"] == [1e-3, 1e-3, 5e-4, 5e-4]
    assert "adagrad: Adagrad" in describe("optimizers") and "halving: Halve" in describe(
        "schedules"
    )
