"""Zero-shot compositional recognition by TFG on features whose unseen pairs follow from their
parts (``tests.tiny.compositional_features``): the gradient penalty by hand, f's data path, that
it learns the unseen pairs, exact resume after SIGKILL and 2 processes = 1."""

import math
import os
import signal
import subprocess
import time

import pytest
import torch

from sharedspace.config import save_config
from sharedspace.data.pair_features import FILE, save_pair_features
from sharedspace.model import build_model
from sharedspace.resolve import load_config
from sharedspace.runs import draw_run_figures
from sharedspace.tasks import build_tasks
from sharedspace.train.checkpoint import latest_checkpoint, load_checkpoint
from sharedspace.train.evaluation import evaluate
from sharedspace.train.trainer import train
from tests.tiny import compositional_features
from tests.train.test_distributed import cli_train, train_losses
from tests.train.test_kill_resume import command, last_step

HEAD = {
    "hidden": 64, "layers": 3, "noise": 8, "word_dim": 16, "description_hidden": 32,
    "description": 16, "critic_hidden": 64,
}  # fmt: skip


@pytest.fixture(scope="module")
def features_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("features")
    save_pair_features(compositional_features(), root / "pair_features" / FILE)
    return root


def zero_shot_config(data_dir, out_dir, name="zs", steps=150, **train_settings):
    raw = {
        "name": name, "data_dir": str(data_dir), "out_dir": str(out_dir),
        "tasks": {"pairs": {
            "kind": "zero_shot", "modality": "features", "data": {"source": "pair_features"},
            "head": HEAD,
        }},
        "model": {"width": 16, "modalities": {"features": "features"}, "space": "none"},
        "train": {
            "epochs": 100, "max_steps": steps, "batch_size": 32, "lr": 1e-3, "betas": [0.5, 0.9],
            "warmup_steps": 0, "schedule": "step", "min_lr_ratio": 0.1, "progress": False,
            "log_every": 1, "checkpoint_every": 7, "step": {"name": "adversarial", "n_critic": 5},
            "optimizers": {
                "critic": {"groups": ["critic"]},
                "embedding": {"groups": ["embedding"], "lr": 1e-4},
            },
            **train_settings,
        },
    }  # fmt: skip
    return load_config(data=raw)


def test_the_gradient_penalty_is_the_hand_computed_one(features_dir, tmp_path):
    """D(z) = ½‖z‖², so ∇D(z̃) = z̃: with α = 1/4, real z and generated ẑ, the critic's loss per
    row is D(ẑ) − D(z) + 10 (‖z̃‖ − 1)², z̃ = z/4 + 3ẑ/4."""
    (task,) = build_tasks(zero_shot_config(features_dir, tmp_path))
    head = task.build_head(16)
    real = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    fake = torch.tensor([[0.0, 0.0], [0.0, 2.0]])
    head.generator.forward = lambda t: fake
    head.critic.forward = lambda z, t: 0.5 * z.square().sum(1)
    head.draws.forward = lambda kind, rows, *shape: torch.full((rows, *shape), 0.25)
    losses = head.critic_losses(real, {"y": torch.tensor([0, 1])})
    # row 1: z̃ = (0.75, 1), ‖z̃‖ = 1.25: 0 − 12.5 + 10·0.0625; row 2: z̃ = (0.25, 1.5)
    row2 = 2.0 - 0.5 + 10 * (math.sqrt(0.25**2 + 1.5**2) - 1) ** 2
    assert losses.tolist() == pytest.approx([-11.875, row2])


def test_the_critics_loss_steps_the_critic_alone_and_f_learns_from_generated_features(
    features_dir, tmp_path
):
    cfg = zero_shot_config(features_dir, tmp_path)
    torch.manual_seed(0)
    (task,) = build_tasks(cfg)
    model = build_model(cfg, tasks=[task])
    head = model.heads["0"]
    seen_into_f = []
    head.classifier.register_forward_hook(lambda m, args, out: seen_into_f.append(args[0]))
    batch = task.data.splits["train"].get(torch.arange(32))
    output, _ = model(0, batch)
    task.critic_loss(output, batch).losses().sum().backward()
    assert not seen_into_f  # f is not part of a critic step
    stepped = {n for n, p in head.named_parameters() if p.grad is not None and p.grad.abs().sum()}
    assert stepped and all(n.startswith("critic.") for n in stepped)

    model.zero_grad()
    task.loss(output, batch).losses().sum().backward()
    (fed,) = seen_into_f
    assert fed.grad_fn is not None  # generated, from G
    real = torch.cat([task.data.splits[s].features for s in ("train", "validation", "test")])
    assert not (fed[:, None] == real[None]).all(-1).any()  # no real feature, seen or unseen
    assert head.classifier.weight.grad.abs().sum() > 0
    for part in ("generator", "describe"):
        grads = [p.grad for p in getattr(head, part).parameters()]
        assert all(g is not None and g.abs().sum() > 0 for g in grads), part


def test_tfg_recognises_unseen_pairs_it_never_saw(features_dir, tmp_path):
    cfg = zero_shot_config(features_dir, tmp_path, steps=200, lr=2e-3, checkpoint_every=1000)
    torch.manual_seed(cfg.seed)  # the run's untrained model, as setup builds it
    (task,) = build_tasks(cfg)
    untrained = evaluate(build_model(cfg, [task]), task, "test", 1000, torch.device("cpu"))
    result = train(cfg)
    trained = result.metrics["test"]["pairs"]
    # 3 test-unseen pairs: chance is 1/3 in the closed world (the best unseen accuracy)
    assert trained["unseen_top1"] > 0.8 > untrained["unseen_top1"] + 0.2, (untrained, trained)
    assert trained["hm_top1"] > untrained["hm_top1"]
    assert set(trained) >= {
        f"{m}_top{k}" for m in ("seen", "unseen", "hm", "auc") for k in (1, 2, 3)
    }
    figures = draw_run_figures(result.run_dir, result.model, result.tasks)
    assert result.run_dir / "task-pairs.png" in figures  # real and generated unseen features


@pytest.mark.slow
def test_tfg_resumes_bit_exactly_after_sigkill(features_dir, tmp_path):
    """Noise, interpolation weights and drawn pairs come from per-row streams in the weights:
    a run killed between checkpoints and resumed ends where an uninterrupted one does."""
    configs = {}
    for name in ("reference", "victim"):
        configs[name] = tmp_path / f"{name}.yaml"
        save_config(zero_shot_config(features_dir, tmp_path, name, steps=60), configs[name])
    subprocess.run(command(configs["reference"]), check=True, capture_output=True, timeout=300)
    victim = tmp_path / "victim"
    process = subprocess.Popen(command(configs["victim"]), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while last_step(victim) < 25 and process.poll() is None:
        assert time.monotonic() < deadline, "the victim run never reached the kill step"
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    assert 0 < load_checkpoint(latest_checkpoint(victim / "checkpoints"))["step"] < 60

    resumed = subprocess.run(command(configs["victim"], "--resume"), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    ref = load_checkpoint(latest_checkpoint(tmp_path / "reference" / "checkpoints"))
    got = load_checkpoint(latest_checkpoint(victim / "checkpoints"))
    for name, weight in ref["model"].items():
        assert torch.equal(weight, got["model"][name]), name
    assert train_losses(victim) == train_losses(tmp_path / "reference")


@pytest.mark.slow
def test_tfg_on_two_processes_trains_what_one_does(features_dir, tmp_path):
    runs = {}
    for nproc in (1, 2):
        path = tmp_path / f"ddp{nproc}.yaml"
        save_config(zero_shot_config(features_dir, tmp_path, f"ddp{nproc}", steps=12), path)
        cli_train(path, f"--nproc={nproc}")
        runs[nproc] = tmp_path / f"ddp{nproc}"
    one, two = train_losses(runs[1]), train_losses(runs[2])
    assert [r[:2] for r in one] == [r[:2] for r in two]
    assert [r[2] for r in two] == pytest.approx([r[2] for r in one], rel=1e-4, abs=1e-5)
    w1, w2 = (load_checkpoint(latest_checkpoint(runs[n] / "checkpoints"))["model"] for n in (1, 2))
    for name, value in w1.items():
        torch.testing.assert_close(w2[name], value, rtol=1e-4, atol=1e-5, msg=name)
