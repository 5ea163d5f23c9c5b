"""The step's contract: task losses reduced once over the global batch (per token or per example,
the same with 2 processes as with 1) and the losses recomputed on the step's own draws."""

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from sharedspace.collectives import SINGLE, Processes
from sharedspace.model import build_model
from sharedspace.tasks import LossTerms, build_tasks
from sharedspace.train.step import Training, forward_tasks, recompute_losses, reduce_losses
from sharedspace.train.weighting import StepContext
from tests.tiny import tiny_config

LENGTHS = [1, 2, 5, 4]  # target tokens of four examples: ragged, and uneven between halves


def ragged(requires_grad: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token losses (4, 5) and the mask of real tokens (4, 5)."""
    nll = torch.rand(4, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    mask = torch.arange(5)[None] < torch.tensor(LENGTHS)[:, None]
    return nll.requires_grad_(requires_grad), mask


def terms_of(nll: torch.Tensor, mask: torch.Tensor) -> LossTerms:
    return LossTerms((nll * mask).sum(1), mask.sum(1).to(nll.dtype))


def test_token_and_example_reductions_equal_hand_computations():
    nll, mask = ragged(requires_grad=True)
    by_token = sum(nll[i, j] for i in range(4) for j in range(LENGTHS[i])) / sum(LENGTHS)
    by_example = sum(nll[i, : LENGTHS[i]].mean() for i in range(4)) / 4
    assert not torch.isclose(by_token, by_example)  # ragged lengths: the two differ
    for reduction, hand in (("token", by_token), ("example", by_example)):
        shares, losses, _ = reduce_losses({"t": (terms_of(nll, mask), reduction)}, [], SINGLE)
        torch.testing.assert_close(shares["t"], hand)  # one process: its share is the loss
        torch.testing.assert_close(losses["t"], hand.detach())
    # per token: every real token's gradient is 1 / (the batch's tokens), padding's 0
    shares, _, _ = reduce_losses({"t": (terms_of(nll, mask), "token")}, [], SINGLE)
    (grad,) = torch.autograd.grad(shares["t"], nll)
    torch.testing.assert_close(grad, mask / sum(LENGTHS), check_dtype=False)


def _two_process_worker(rank: int, init: str, out: str) -> None:
    """Rows 0–1 (3 tokens) on rank 0, rows 2–3 (9 tokens) on rank 1: each its share and the
    gradient of it on its rows, averaged over the two as the trainer averages gradients."""
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        nll, mask = ragged()
        rows = slice(2 * rank, 2 * rank + 2)
        mine = nll[rows].clone().requires_grad_()
        results = {}
        for reduction in ("token", "example"):
            shares, losses, _ = reduce_losses(
                {"t": (terms_of(mine, mask[rows]), reduction)}, [], Processes(rank, 2, rank)
            )
            (grad,) = torch.autograd.grad(shares["t"], mine)
            grads = [torch.zeros_like(grad) for _ in range(2)]
            dist.all_gather(grads, grad / 2)  # the average over processes, row by row
            results[reduction] = (losses["t"], torch.cat(grads))
        if rank == 0:
            torch.save(results, out)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_processes_reduce_to_what_one_does(tmp_path):
    out = tmp_path / "two.pt"
    mp.spawn(_two_process_worker, args=(f"file://{tmp_path / 'store'}", str(out)), nprocs=2)
    two = torch.load(out)
    for reduction in ("token", "example"):
        nll, mask = ragged(requires_grad=True)
        shares, losses, _ = reduce_losses({"t": (terms_of(nll, mask), reduction)}, [], SINGLE)
        (grad,) = torch.autograd.grad(shares["t"], nll)
        torch.testing.assert_close(two[reduction][0], losses["t"])
        torch.testing.assert_close(two[reduction][1], grad)


def training(cfg) -> Training:
    """The parts of a run that forwarding and recomputing read."""
    tasks = build_tasks(cfg)
    model = build_model(cfg, tasks).train()
    ctx = StepContext(0, model.shared_parameters(), list(model.parameters()), SINGLE)
    return Training(model, tasks, None, None, ctx, cfg.train, None)


@pytest.mark.parametrize("space", ["multi_clustering", "routing", "moe"])
def test_recomputed_losses_replay_the_steps_own_draws(tiny_data_dir, tmp_path, space):
    """FAMO learns from how much a step lowered each loss: measured again on other gates or
    routes, the difference would be mostly sampling noise."""
    section = f"model.space={{name: {space}, expert: {{widths: [32, 32]}}}}"
    cfg = tiny_config(
        tiny_data_dir, tmp_path, tasks=("classification", "reconstruction"), overrides=[section]
    )
    run = training(cfg)
    batches = {i: t.data.splits["train"].get(torch.arange(32)) for i, t in enumerate(run.tasks)}

    def step_losses() -> dict[str, torch.Tensor]:
        terms, _, _ = forward_tasks(run, batches)
        return reduce_losses(terms, [], SINGLE)[1]

    positions = run.model.stream_positions()
    with torch.no_grad():
        losses = step_losses()
        after_step = [stream.count.clone() for stream, _ in positions]
        again = recompute_losses(run, batches, positions)
        # ... and the streams go on from where the step left them
        assert [s.count for s, _ in positions] == after_step != [c for _, c in positions]
        redrawn = step_losses()
    assert again == losses  # the same draws: the same losses, exactly
    assert redrawn != losses  # (other draws give other losses: the draws matter here)


def test_a_config_chooses_a_tasks_reduction(tiny_data_dir, tmp_path):
    """A kind declares its reduction; ``tasks.<t>.reduction`` overrides it for one task."""
    cfg = tiny_config(tiny_data_dir, tmp_path, tasks=("classification", "next_word"))
    assert [t.reduction for t in build_tasks(cfg)] == ["example", "example"]
    token = ["tasks.next_word.reduction=token"]
    cfg = tiny_config(
        tiny_data_dir, tmp_path, tasks=("classification", "next_word"), overrides=token
    )
    assert [t.reduction for t in build_tasks(cfg)] == ["example", "token"]


def test_a_new_update_rule_is_one_class(tiny_data_dir, tmp_path, monkeypatch):
    """The README's "what a new part touches": a rule registered in a test file validates (its
    own checks included), trains and is listed, with no edit elsewhere. This one takes several
    updates on each step's batches."""
    from dataclasses import dataclass

    from sharedspace.catalog import describe
    from sharedspace.config import number
    from sharedspace.errors import ConfigError
    from sharedspace.train.checkpoint import latest_checkpoint, load_checkpoint
    from sharedspace.train.step import STEPS, DefaultStep
    from sharedspace.train.trainer import train

    class Repeat(DefaultStep):
        """The default step ``times`` times on the same batches."""

        @dataclass
        class Config:
            times: int = number(2, gt=0)

        @classmethod
        def problems(cls, cfg, train, kinds):
            return [] if cfg.times <= 10 else ["train.step.times: at most 10"]

        def __call__(self, batches, stop_requested):
            for _ in range(self.cfg.times - 1):
                super().__call__(batches, stop_requested)
            return super().__call__(batches, stop_requested)

    monkeypatch.setitem(STEPS._entries, "repeat", Repeat)
    with pytest.raises(ConfigError, match=r"train\.step\.times: at most 10"):
        tiny_config(tiny_data_dir, tmp_path, overrides=["train.step={name: repeat, times: 11}"])
    cfg = tiny_config(tiny_data_dir, tmp_path, max_steps=4, overrides=["train.step.name=repeat"])
    result = train(cfg)
    state = load_checkpoint(latest_checkpoint(result.run_dir / "checkpoints"))
    counts = {int(s["step"]) for s in state["optimizers"]["main"]["state"].values()}
    assert counts == {8} and "repeat: The default step" in describe("steps")
