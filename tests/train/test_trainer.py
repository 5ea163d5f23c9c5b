"""The training loop end to end on tiny data: logs, results, resume, overwrite guard, NaN guard."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from sharedspace.errors import CheckpointError, SharedSpaceError
from sharedspace.model import SharedSpaceModel, build_model
from sharedspace.parts import emit
from sharedspace.spaces import SPACES
from sharedspace.spaces.sus import SUSSpace
from sharedspace.tasks import LossTerms, build_tasks
from sharedspace.tasks.classification import Classification
from sharedspace.train import trainer
from sharedspace.train.checkpoint import save_checkpoint
from sharedspace.train.sampling import BatchStream
from sharedspace.train.trainer import TrainingDiverged, train
from tests.tiny import tiny_config, train_until_killed

ALL = ("classification", "reconstruction", "next_word")


def records(run_dir, split="train"):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["split"] == split]


def losses(run_dir):
    """(step, task, loss) of every task's train record, in order."""
    return [(r["step"], r["task"], r["loss"]) for r in records(run_dir) if r["task"] != "*"]


def test_a_run_writes_its_folder_and_learns(tiny_data_dir, tmp_path):
    cfg = tiny_config(tiny_data_dir, tmp_path, tasks=ALL, epochs=3, log_every=5)
    result = train(cfg)
    run = result.run_dir
    assert (run / "config.yaml").exists() and (run / "results.json").exists()
    assert list((run / "tensorboard").iterdir())
    saved = json.loads((run / "results.json").read_text())
    assert {k: saved[k] for k in ("validation", "test")} == result.metrics
    assert saved["run"]["steps"] == result.steps
    validation = records(run, "validation")
    assert {r["task"] for r in validation} == set(ALL)
    assert len(validation) == 3 * 3  # every task after every epoch
    acc = result.metrics["test"]["classification"]["accuracy"]
    assert acc > 0.5, acc  # 10 classes: chance is 0.1
    lm = result.metrics["test"]["next_word"]
    assert 1 < lm["perplexity"] < 32  # below the uniform guess over the 32-word vocabulary


@pytest.mark.parametrize("torn", [False, True], ids=["newest", "newest torn: the one before"])
def test_resume_after_a_crash_continues_exactly(tiny_data_dir, tmp_path, monkeypatch, torn, capsys):
    overrides = dict(epochs=2, log_every=1, checkpoint_every=5, keep_checkpoints=2)
    reference = train(tiny_config(tiny_data_dir, tmp_path / "a", tasks=ALL, **overrides))

    cfg = tiny_config(tiny_data_dir, tmp_path / "b", tasks=ALL, **overrides)
    train_until_killed(cfg, 13, monkeypatch)  # after the checkpoint at step 10
    with (tmp_path / "b" / "tiny" / "metrics.jsonl").open("a") as log:
        log.write('{"step": 13, "split": "tr')  # killed mid-write
    if torn:  # the newest checkpoint (step 10) is damaged: resume goes on from step 5
        newest = tmp_path / "b" / "tiny" / "checkpoints" / "step_00000010.pt"
        newest.write_bytes(newest.read_bytes()[:1000])
    resumed = train(cfg, resume=True)
    warned = "warning: skipping step_00000010.pt" in capsys.readouterr().err
    assert warned == torn

    assert losses(resumed.run_dir) == losses(reference.run_dir)
    resumed_weights = resumed.model.state_dict()
    for name, weight in reference.model.state_dict().items():
        assert torch.equal(weight, resumed_weights[name]), name
    assert resumed.metrics == reference.metrics
    assert resumed.train_seconds > resumed.loop_seconds  # the killed run's time is counted too


def test_an_existing_run_is_never_silently_overwritten(tiny_data_dir, tmp_path):
    cfg = tiny_config(tiny_data_dir, tmp_path, max_steps=2)
    train(cfg)
    with pytest.raises(
        SharedSpaceError, match=r"already holds a run; pass --resume .* --overwrite"
    ):
        train(cfg)
    train(cfg, overwrite=True)
    assert len(records(Path(cfg.out_dir) / cfg.name, "test")) == 1  # the old log is gone


def test_resume_needs_a_checkpoint_unless_the_folder_is_empty(tiny_data_dir, tmp_path):
    cfg = tiny_config(tiny_data_dir, tmp_path, max_steps=2)
    assert train(cfg, resume=True).steps == 2  # nothing there yet: --resume starts the run
    shutil.rmtree(tmp_path / "tiny" / "checkpoints")  # and no final weights: a run that died
    (tmp_path / "tiny" / "model.safetensors").unlink()  # before it saved anything to go on from
    log = (tmp_path / "tiny" / "metrics.jsonl").read_text()
    with pytest.raises(SharedSpaceError, match=r"tiny: nothing to resume .* --overwrite"):
        train(cfg, resume=True)
    assert (tmp_path / "tiny" / "metrics.jsonl").read_text() == log  # nothing appended


@pytest.mark.parametrize("policy", ["stop", "skip"])
def test_a_non_finite_loss_stops_or_skips_and_names_task_and_step(
    tiny_data_dir, tmp_path, monkeypatch, policy
):
    real_loss = Classification.loss
    calls = {"n": 0}

    def loss_nan_on_third_call(self, output, batch):
        calls["n"] += 1
        value = real_loss(self, output, batch)
        if calls["n"] == 3:
            return LossTerms(value.sums * float("nan"), value.weights)
        return value

    monkeypatch.setattr(Classification, "loss", loss_nan_on_third_call)
    cfg = tiny_config(tiny_data_dir, tmp_path, max_steps=6, on_nonfinite=policy)
    if policy == "stop":
        with pytest.raises(
            TrainingDiverged, match="step 2: the loss of task 'classification' is nan"
        ):
            train(cfg)
    else:
        result = train(cfg)
        assert all(torch.isfinite(p).all() for p in result.model.parameters())


class PenalisedSpace(SUSSpace):
    """SUS plus an activation penalty (an aux loss from the forward) and a loss-feedback hook
    that records what it receives and returns a surrogate (an aux loss from the feedback)."""

    aux_losses = ("activation_l2", "surrogate")

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.received: list[tuple[int, torch.Tensor]] = []

    def forward(self, h, task):
        z = super().forward(h, task)
        self.last = z
        emit(self, "activation_l2", z.square().mean())
        return z

    def loss_feedback(self, task, losses):
        self.received.append((task, losses.clone()))
        return {"surrogate": (losses * self.last.mean(1)).mean()}


@pytest.fixture
def penalised(monkeypatch):
    monkeypatch.setitem(SPACES._entries, "penalised", PenalisedSpace)
    return ["model.space.name=penalised"]


def test_aux_losses_from_forward_and_feedback_are_weighted_and_logged(
    tiny_data_dir, tmp_path, penalised
):
    weights = ["train.aux_loss_weights={activation_l2: 10.0}", *penalised]
    cfg = tiny_config(
        tiny_data_dir, tmp_path, epochs=3, max_steps=20, log_every=5, overrides=weights
    )
    run = train(cfg).run_dir
    logged = [r for r in records(run) if r["task"] == "classification"]
    assert len(logged) == 4
    assert all(r["activation_l2.weight"] == 10.0 and r["surrogate.weight"] == 1.0 for r in logged)
    assert logged[-1]["activation_l2"] < logged[0]["activation_l2"]  # the penalty is minimised
    step = [r for r in records(run) if r["task"] == "*"]
    assert [r["step"] for r in step] == [5, 10, 15, 20] and all("lr" in r for r in step)
    for task, whole in zip(logged, step, strict=True):  # one task per step: the total is its sum
        expected = task["weight"] * task["loss"] + 10 * task["activation_l2"] + task["surrogate"]
        assert whole["total"] == pytest.approx(expected, rel=1e-5)


def test_the_feedback_hook_receives_each_examples_loss(tiny_data_dir, tmp_path, penalised):
    cfg = tiny_config(
        tiny_data_dir, tmp_path, tasks=ALL, max_steps=1, overrides=["train.sampler=all", *penalised]
    )
    result = train(cfg)
    received = result.model.space.received
    assert [task for task, _ in received] == [0, 1, 2]

    torch.manual_seed(cfg.seed)  # the run's first step, by hand: same weights, same batches
    tasks = build_tasks(cfg)
    model = build_model(cfg, tasks)
    for (i, losses), task in zip(received, tasks, strict=True):
        stream = BatchStream(len(task.data.splits["train"]), 32, cfg.seed + 1 + i)
        batch = task.data.splits["train"].get(next(stream))
        with torch.no_grad():
            expected = task.loss(model(i, batch)[0], batch).losses()
        assert losses.shape == (32,)
        torch.testing.assert_close(losses, expected)


def test_sampler_all_steps_every_task_once_per_step_with_its_own_batch(
    tiny_data_dir, tmp_path, monkeypatch
):
    calls = []
    real_forward = SharedSpaceModel.forward

    def recording_forward(self, task, batch):
        if self.training:
            calls.append((task, batch["x"].clone()))
        return real_forward(self, task, batch)

    monkeypatch.setattr(SharedSpaceModel, "forward", recording_forward)
    cfg = tiny_config(
        tiny_data_dir, tmp_path, tasks=ALL, max_steps=4, overrides=["train.sampler=all"]
    )
    train(cfg)
    assert [task for task, _ in calls] == [0, 1, 2] * 4
    for step in range(4):
        (_, cls), (_, rec), (_, text) = calls[3 * step : 3 * step + 3]
        assert len(cls) == len(rec) == len(text) == 32
        assert not torch.equal(cls, rec)  # two tasks on one dataset, each its own batch
        assert text.dtype == torch.long and text.shape == (32, 6)
    assert not torch.equal(calls[0][1], calls[3][1])  # and a new batch at every step


def test_resuming_a_finished_run_returns_its_stored_results(tiny_data_dir, tmp_path, capsys):
    cfg = tiny_config(tiny_data_dir, tmp_path, max_steps=6)
    first = train(cfg)
    log = (first.run_dir / "metrics.jsonl").read_text()
    again = train(cfg, resume=True)
    assert "finished at step 6; its stored results" in capsys.readouterr().out
    assert again.metrics == first.metrics and again.train_seconds == first.train_seconds
    assert (first.run_dir / "metrics.jsonl").read_text() == log  # no duplicate records
    longer = train(tiny_config(tiny_data_dir, tmp_path, max_steps=8), resume=True)
    assert longer.steps == 8 and len(records(first.run_dir, "test")) == 2


def test_transfer_probes_are_logged_drawn_and_leave_training_unchanged(tiny_data_dir, tmp_path):
    from sharedspace.runs import draw_run_figures

    runs = {}
    for every in (0, 4):
        cfg = tiny_config(
            tiny_data_dir, tmp_path, tasks=ALL, max_steps=9, sampler="all", weighting="pcgrad",
            transfer_every=every, overrides=[f"name=probe{every}"],
        )  # fmt: skip
        runs[every] = train(cfg)
    for name, weight in runs[0].model.state_dict().items():
        assert torch.equal(weight, runs[4].model.state_dict()[name]), name
    records = [
        json.loads(line)
        for line in (runs[4].run_dir / "metrics.jsonl").read_text().splitlines()
        if json.loads(line)["split"] == "transfer"
    ]
    assert [(r["step"], r["task"]) for r in records] == [
        (step, task) for step in (1, 5, 9) for task in ALL
    ]
    assert all(r[f"cosine.{r['task']}"] == pytest.approx(1.0) for r in records)
    drawn = {every: draw_run_figures(r.run_dir, r.model, r.tasks) for every, r in runs.items()}
    assert [p.name for p in drawn[0]] == ["space_pca.png", "task-reconstruction.png"]
    names = ["space_pca.png", "task-reconstruction.png", "transfer.png"]
    assert [p.name for p in drawn[4]] == names
    assert all(p.stat().st_size > 0 for p in drawn[4])


def test_without_a_terminal_progress_is_a_plain_line_per_log_record(
    tiny_data_dir, tmp_path, capsys
):
    cfg = tiny_config(tiny_data_dir, tmp_path, tasks=ALL[:2], max_steps=8, log_every=4)
    cfg.train.progress = True
    train(cfg)  # under capsys, stderr is not a TTY
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in lines] == ["4/8", "8/8"]
    assert "classification " in lines[0] and "steps/s)" in lines[0] and "\r" not in lines[0]


def test_resuming_with_another_model_or_a_foreign_checkpoint_is_a_clear_error(
    tiny_data_dir, tmp_path
):
    train(tiny_config(tiny_data_dir, tmp_path, max_steps=2))
    wider = tiny_config(tiny_data_dir, tmp_path, overrides=["model.width=48"], max_steps=4)
    with pytest.raises(
        CheckpointError, match=r"does not fit this run's config \(RuntimeError"
    ) as e:
        train(wider, resume=True)
    assert "config keys changed since it was saved: model.width" in str(e.value)
    assert "--overwrite" in str(e.value)

    save_checkpoint({"step": 3, "model": {}}, tmp_path / "tiny" / "checkpoints", 3)
    with pytest.raises(
        CheckpointError, match=r"step_00000003.pt: not a checkpoint of this trainer"
    ):
        train(tiny_config(tiny_data_dir, tmp_path, max_steps=4), resume=True)


PLANTED = {
    "a stream position of the wrong type": (
        lambda c: c["streams"][0].update(position="7"),
        r"does not fit .*batch stream state \(epoch 0, position '7'\)",
    ),
    "a stream past its data": (
        lambda c: c["streams"][0].update(position=10**9),
        r"does not fit .*position 1000000000\)",
    ),
    "sampler draws that are no count": (
        lambda c: c["sampler"].update(draws=-3),
        r"does not fit .*draws -3 is not a count",
    ),
    "a step past the run's end": (
        lambda c: c.update(step=10**9),
        r"saved at step 1,000,000,000, past this run's 4 steps",
    ),
    "a tokenizer state of another shape": (
        lambda c: c["task_states"]["next_word"]["tokenizer"].update(words=[7]),
        r"step_00000004\.pt: word tokenizer state",
    ),
}


@pytest.mark.parametrize("plant, refused", PLANTED.values(), ids=PLANTED.keys())
def test_a_planted_checkpoint_with_a_valid_checksum_is_one_error_naming_it(
    tiny_data_dir, tmp_path, plant, refused
):
    """A run folder may come from elsewhere: its checksum vouches for the bytes, not the values.
    Each of these was an internal error, or (the step) a run that silently 'finished'."""
    cfg = tiny_config(tiny_data_dir, tmp_path, tasks=("classification", "next_word"), max_steps=4)
    train(cfg)
    folder = tmp_path / "tiny" / "checkpoints"
    ckpt = torch.load(folder / "step_00000004.pt", weights_only=True)
    plant(ckpt)
    save_checkpoint(ckpt, folder, 4)
    with pytest.raises(CheckpointError, match=refused):
        train(cfg, resume=True)


def test_a_checkpoint_holds_every_gpus_rng_on_cuda(monkeypatch):
    """Dropout and gate noise on a GPU draw from the CUDA generators: a resume restores them."""
    restored = []
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: ["the GPUs' states"])
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", restored.append)
    state = trainer.rng_state(torch.device("cuda"))
    assert state["cuda"] == ["the GPUs' states"] and state["torch"].dtype == torch.uint8
    trainer.set_rng_state(state, torch.device("cuda"))
    assert restored == [["the GPUs' states"]]
    assert set(trainer.rng_state(torch.device("cpu"))) == {"torch"}
    trainer.set_rng_state({"torch": state["torch"]}, torch.device("cuda"))  # a CPU run's
    assert len(restored) == 1


def test_bf16_keeps_float32_state_records_its_choice_and_resumes_exactly(
    tiny_data_dir, tmp_path, monkeypatch
):
    """bf16 autocast: weights and Adam's moments stay float32, run.json names the precision
    trained in (auto's choice too), and a killed run resumes to the same weights bit for bit."""
    settings = dict(precision="bf16", max_steps=8, log_every=1, checkpoint_every=4)
    reference = train(tiny_config(tiny_data_dir, tmp_path / "a", **settings))
    state = trainer.load_newest_good(reference.run_dir / "checkpoints")[1]
    assert state["precision"] == "bf16" and state["loss_scale"] is None
    adam = state["optimizers"]["main"]["state"][0]
    assert adam["exp_avg"].dtype == adam["exp_avg_sq"].dtype == torch.float32
    assert all(w.dtype == torch.float32 for w in state["model"].values() if w.is_floating_point())
    session = json.loads((reference.run_dir / "run.json").read_text())["sessions"][0]
    assert session["precision"] == "bf16"

    cfg = tiny_config(tiny_data_dir, tmp_path / "b", **settings)
    train_until_killed(cfg, 6, monkeypatch)  # after the checkpoint at step 4
    resumed = train(cfg, resume=True)
    assert losses(resumed.run_dir) == losses(reference.run_dir)
    for name, weight in reference.model.state_dict().items():
        assert torch.equal(weight, resumed.model.state_dict()[name]), name

    # auto measures once; a resume keeps what the run started in, whatever it would pick now
    picks = iter(["bf16", "fp32"])
    monkeypatch.setattr(trainer, "pick_precision", lambda *a: next(picks))
    train(tiny_config(tiny_data_dir, tmp_path / "c", precision="auto", max_steps=4))
    train(tiny_config(tiny_data_dir, tmp_path / "c", precision="auto", max_steps=6), resume=True)
    sessions = json.loads((tmp_path / "c" / "tiny" / "run.json").read_text())["sessions"]
    assert [s["precision"] for s in sessions] == ["bf16", "bf16"]


def test_a_pruned_finished_run_resumes_to_its_results_and_goes_no_further(tiny_data_dir, tmp_path):
    cfg = tiny_config(tiny_data_dir, tmp_path, max_steps=3)
    done = train(cfg)
    trainer.prune_checkpoints(done.run_dir)
    assert not (done.run_dir / "checkpoints").exists()
    again = train(cfg, resume=True)
    assert again.metrics == done.metrics and again.steps == 3
    for name, weight in done.model.state_dict().items():
        assert torch.equal(weight, again.model.state_dict()[name]), name
    longer = tiny_config(tiny_data_dir, tmp_path, max_steps=5)
    with pytest.raises(CheckpointError, match="pruned, so it cannot go on to step 5"):
        train(longer, resume=True)
    wider = tiny_config(tiny_data_dir, tmp_path, max_steps=3, overrides=["model.width=32"])
    with pytest.raises(CheckpointError, match=r"model\.safetensors does not fit this run's model"):
        train(wider, resume=True)
