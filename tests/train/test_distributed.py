"""Two processes under torchrun (gloo on CPU) train exactly what one process with the same global
batch trains: every rank steps the same tasks, each on half of every batch, and the gradients
are averaged."""

import getpass
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from sharedspace.cli import main
from sharedspace.config import save_config
from sharedspace.train.checkpoint import latest_checkpoint, load_checkpoint
from tests.tiny import MULTIMODEL_OUTPUTS, SHARED_OUTPUTS, tiny_config

ALL = ("classification", "reconstruction", "next_word")


def cli_train(config_path, *extra):
    """``sharedspace train`` as typed: one process runs the command in this one (its own code
    path, without starting Python and torch again); more run under torchrun, which must leave
    nothing behind in the temporary folder but torch's compile cache (torchrun would leave its
    log folder there)."""
    nproc = next((int(a.split("=", 1)[1]) for a in extra if a.startswith("--nproc=")), 1)
    if nproc == 1:
        try:
            main(["train", str(config_path), *extra])
        except SystemExit as e:
            assert e.code in (0, None), f"sharedspace train {config_path}: status {e.code}"
        return
    command = [sys.executable, "-m", "sharedspace.cli", "train", str(config_path), *extra]
    tmp = Path(config_path).parent / "tmp"
    tmp.mkdir(exist_ok=True)
    env = os.environ | {"TMPDIR": str(tmp)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-10000:]
    left = {p.name for p in tmp.iterdir()} - {f"torchinductor_{getpass.getuser()}"}  # a cache
    assert not left


def train_losses(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [
        (r["step"], r["task"], r["loss"])
        for r in map(json.loads, lines)
        if r["split"] == "train" and r["task"] != "*"
    ]


def one_and_two_processes(data_dir, tmp_path, overrides=()):
    """Run the same config with 1 and with 2 processes; returns {nproc: run folder}."""
    runs = {}
    for nproc in (1, 2):
        cfg = tiny_config(
            data_dir, tmp_path, tasks=ALL, max_steps=12, log_every=1, checkpoint_every=6,
            overrides=[f"name=ddp{nproc}", *overrides],
        )  # fmt: skip
        save_config(cfg, tmp_path / f"ddp{nproc}.yaml")
        cli_train(tmp_path / f"ddp{nproc}.yaml", f"--nproc={nproc}")
        runs[nproc] = tmp_path / f"ddp{nproc}"
    return runs


def final_state(run_dir):
    return load_checkpoint(latest_checkpoint(run_dir / "checkpoints"))


def assert_same_weights(two: dict, one: dict) -> None:
    """Model weights of 2 and of 1 process agree, except the attentions' key bias (self- and
    cross-attention): its gradient is zero in exact arithmetic (softmax ignores a shift), so
    Adam normalises float noise there and it drifts ~1e-4 apart; the query and value biases
    beside it must agree. Elsewhere they agree to 1e-4, a tenth of one Adam step at lr 1e-3: two
    half batches sum in another order than one whole, and Adam's normalised step carries that
    float noise wherever a gradient is small (an embedding row few examples reach, a weight
    near a ReLU's kink) — up to 6e-5 apart after 12 steps on one AMD EPYC, under 1e-5 on
    another, while every step's losses agree to 1e-4 relative."""
    for name, value in one.items():
        if name.endswith("attn.in_proj_bias"):  # torch's attention: query, key, value
            q, _, v = value.chunk(3)
            q2, _, v2 = two[name].chunk(3)
            value, other = torch.cat([q, v]), torch.cat([q2, v2])
        elif name.endswith("attention.key_value.bias"):  # layers.attention's: key, value
            value, other = value.chunk(2)[1], two[name].chunk(2)[1]
        else:
            other = two[name]
        label = lambda m, name=name: f"{name}: {m}"  # noqa: E731
        torch.testing.assert_close(other, value, rtol=1e-4, atol=1e-4, msg=label)


@pytest.mark.slow
def test_every_task_each_step_with_learned_weights_matches_one_process(tiny_data_dir, tmp_path):
    """Sampler `all` (three forwards per step) and uncertainty weighting (parameters outside the
    model): the gradient average over ranks must still equal the one-process gradient."""
    runs = one_and_two_processes(
        tiny_data_dir, tmp_path, ["train.sampler=all", "train.weighting=uncertainty"]
    )
    one, two = train_losses(runs[1]), train_losses(runs[2])
    assert [r[:2] for r in one] == [(s, t) for s in range(1, 13) for t in sorted(ALL)]
    assert [r[:2] for r in one] == [r[:2] for r in two]
    assert [r[2] for r in two] == pytest.approx([r[2] for r in one], rel=1e-4, abs=1e-5)
    w1, w2 = (final_state(runs[n])["weighting"]["log_vars"] for n in (1, 2))
    assert not torch.equal(w1, torch.zeros(3))  # the weights did learn
    torch.testing.assert_close(w2, w1, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_two_processes_match_one_and_resume(tiny_data_dir, tmp_path):
    runs = one_and_two_processes(tiny_data_dir, tmp_path)
    one, two = train_losses(runs[1]), train_losses(runs[2])
    assert [r[:2] for r in one] == [r[:2] for r in two]  # the same task at every step
    assert [r[2] for r in two] == pytest.approx([r[2] for r in one], rel=1e-4, abs=1e-5)
    w1, w2 = (final_state(runs[n])["model"] for n in (1, 2))
    assert_same_weights(w2, w1)
    results = [json.loads((runs[n] / "results.json").read_text()) for n in (1, 2)]
    acc = [r["test"]["classification"]["accuracy"] for r in results]
    assert acc[0] == pytest.approx(acc[1], abs=1 / 128)  # sharded evaluation sums every example

    # resume under DDP: continue the 2-process run to 18 steps from its checkpoint
    cli_train(tmp_path / "ddp2.yaml", "--nproc=2", "--resume", "train.max_steps=18")
    resumed = train_losses(runs[2])
    assert [r[0] for r in resumed] == list(range(1, 19))
    assert resumed[:12] == two


@pytest.mark.slow
@pytest.mark.parametrize("method", ["famo", "rlw", "upgrad", "pcgrad", "nash_mtl"])
def test_weighting_methods_match_one_process(tiny_data_dir, tmp_path, method):
    """Loss-level methods with state (FAMO: weights from the global loss values, logits from
    the losses recomputed after the step; RLW: a generator in the weighting's extra state) and
    gradient-level ones (per-task gradients averaged over ranks before their nonlinear
    combination; Nash-MTL with state): 2 processes = 1."""
    runs = one_and_two_processes(
        tiny_data_dir, tmp_path, ["train.sampler=all", f"train.weighting={method}"]
    )
    one, two = train_losses(runs[1]), train_losses(runs[2])
    assert [r[:2] for r in one] == [r[:2] for r in two]
    assert [r[2] for r in two] == pytest.approx([r[2] for r in one], rel=1e-4, abs=1e-5)
    s1, s2 = (final_state(runs[n]) for n in (1, 2))
    assert_same_weights(s2["model"], s1["model"])
    for name, value in s1["weighting"].items():
        if isinstance(value, torch.Tensor):
            torch.testing.assert_close(s2["weighting"][name], value, rtol=1e-4, atol=1e-5)
    if method == "famo":
        assert not torch.equal(s1["weighting"]["logits"], torch.zeros(3))  # it did learn


@pytest.mark.slow
@pytest.mark.parametrize(
    "section",
    [
        "{name: multi_clustering, expert: {widths: [32]}}",
        "{name: moe, expert: {widths: [32]}}",
        "{name: routing, expert: {widths: [32, 32]}}",
    ],
    ids=["multi_clustering", "moe", "routing"],
)
def test_spaces_that_sample_per_row_match_one_process(tiny_data_dir, tmp_path, section):
    """Gates, gate noise and routes drawn per row: each rank draws for the global batch and
    keeps its rows, and baselines and balance sums run over ranks, so 2 processes sample and
    learn what 1 does."""
    section = f"model.space={section}"
    runs = one_and_two_processes(tiny_data_dir, tmp_path, ["train.sampler=all", section])
    one, two = train_losses(runs[1]), train_losses(runs[2])
    assert [r[:2] for r in one] == [r[:2] for r in two]
    assert [r[2] for r in two] == pytest.approx([r[2] for r in one], rel=1e-4, abs=1e-5)
    assert_same_weights(*(final_state(runs[n])["model"] for n in (2, 1)))


@pytest.mark.slow
@pytest.mark.parametrize(
    "outputs", [SHARED_OUTPUTS, MULTIMODEL_OUTPUTS], ids=["decoder", "multimodel"]
)
def test_shared_output_nets_on_a_decoding_space_match_one_process(tiny_data_dir, tmp_path, outputs):
    """A seq2seq task through the decoding space (the transformer decoder, or MultiModel's body
    whose MoE blocks draw gate noise per token) and the language net (start tokens are task
    parameters), and a classification task through a categorical net on the same space. The
    text cap gives a sequence: over a one-position memory the cross-attention's query and key
    would get a zero gradient in exact arithmetic, and Adam would amplify the float noise."""
    text = "model.modalities.text={name: text_encoder, layers: 1}"
    overrides = [*outputs, text, "train.sampler=all"]
    runs = {}
    for nproc in (1, 2):
        cfg = tiny_config(
            tiny_data_dir, tmp_path, tasks=("classification",), max_steps=10, log_every=1,
            overrides=[f"name=ddp{nproc}", *overrides],
        )  # fmt: skip
        save_config(cfg, tmp_path / f"ddp{nproc}.yaml")
        cli_train(tmp_path / f"ddp{nproc}.yaml", f"--nproc={nproc}")
        runs[nproc] = tmp_path / f"ddp{nproc}"
    one, two = train_losses(runs[1]), train_losses(runs[2])
    assert {r[1] for r in one} == {"classification", "reverse"}
    assert [r[:2] for r in one] == [r[:2] for r in two]
    assert [r[2] for r in two] == pytest.approx([r[2] for r in one], rel=1e-4, abs=1e-5)
    assert_same_weights(*(final_state(runs[n])["model"] for n in (2, 1)))


LEAVER = """
import os

import torch

from sharedspace import collectives
from sharedspace.train import distributed

procs = distributed.setup(torch.device("cpu"))
model = torch.nn.Linear(3, 3)
optimizer = torch.optim.Adam(model.parameters())  # imports torch._dynamo, as the trainer's does
collectives.broadcast_state(model, procs)
collectives.mean(torch.ones(3), procs)
distributed.teardown()
threads = [open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task")]
print("threads left:", sorted(threads))
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/task")
def test_teardown_joins_gloos_threads_before_the_interpreter_exits(tmp_path):
    """A gloo thread still alive at exit can free a collective's tensors while the interpreter
    shuts down, which aborts the rank now and then (SIGABRT); none may be left."""
    (tmp_path / "leaver.py").write_text(LEAVER)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    command += [f"--log-dir={tmp_path / 'torchrun'}"]  # not a folder left in /tmp
    done = subprocess.run([*command, str(tmp_path / "leaver.py")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-5000:]
    # both ranks report (their lines may interleave), and neither has a gloo thread left
    assert done.stdout.count("threads left:") == 2 and "gloo" not in done.stdout, done.stdout


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (Linux /proc)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit():
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
        except OSError:
            continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` still running (a zombie has ended)."""
    running = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        running |= {pid} if state != "Z" else set()
    return running


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT])
def test_no_worker_outlives_its_launcher(tiny_data_dir, tmp_path, signum):
    """SIGKILL to `train --nproc 2` kills torchrun and both workers within seconds (they would
    go on as orphans, growing); Ctrl-C (SIGINT to the launcher, as a terminal sends it) stops
    every rank after the same step: one resume line, status 130, no traceback."""
    cfg = tiny_config(tiny_data_dir, tmp_path, epochs=1000, log_every=1)
    save_config(cfg, tmp_path / "c.yaml")
    command = [sys.executable, "-m", "sharedspace.cli", "train", tmp_path / "c.yaml", "--nproc=2"]
    launcher = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    below: set[int] = set()
    try:
        metrics = tmp_path / "tiny" / "metrics.jsonl"
        deadline = time.monotonic() + 120
        while not (metrics.exists() and metrics.read_text().count("\n") >= 2):  # both training
            assert launcher.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        below = descendants(launcher.pid)
        assert len(below) >= 3  # torchrun and two workers
        launcher.send_signal(signum)
        status = launcher.wait(timeout=60)
        err = launcher.stderr.read()
        deadline = time.monotonic() + 5
        while alive(below) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(below)
    finally:
        launcher.kill()
        launcher.wait()
        for pid in alive(below):  # leave nothing behind, even when the test fails
            os.kill(pid, signal.SIGKILL)
    if signum == signal.SIGINT:
        assert status == 130 and "Traceback" not in err, err[-5000:]
        assert err.count("resume with: ") == 1 and "--resume --nproc=2" in err


@pytest.mark.slow
def test_two_processes_match_one_in_bf16(tiny_data_dir, tmp_path):
    """bf16 autocast: each process rounds its half batch's activations as one process rounds
    the whole batch's rows (a GEMM's rows are independent), so the runs agree as in float32 up
    to the rounding of the sums of rows that differ in order: losses within 1e-3 relative
    (8e-5 at most measured, 12 steps of three tasks)."""
    runs = one_and_two_processes(tiny_data_dir, tmp_path, ["train.precision=bf16"])
    one, two = train_losses(runs[1]), train_losses(runs[2])
    assert [r[:2] for r in one] == [r[:2] for r in two]
    assert [r[2] for r in two] == pytest.approx([r[2] for r in one], rel=1e-3, abs=1e-4)
    sessions = json.loads((runs[2] / "run.json").read_text())["sessions"]
    assert sessions[0]["precision"] == "bf16" and sessions[0]["processes"] == 2
