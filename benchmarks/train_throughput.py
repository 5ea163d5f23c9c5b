"""Training throughput of the framework's trainer against a plain PyTorch twin, in one run.

    python benchmarks/train_throughput.py [--steps 60] [--precision fp32 bf16] [--data-dir DIR]

Each row trains one SUS setting — every task alone, the all-three mix (one task a step, drawn
uniformly as the trainer draws) and sampler ``all`` on the three tasks (every task each step, each
its own batch) — twice: with the real ``sharedspace.train`` loop (task sampling, metrics and
logging included) and with its hand-written twin (``plain_sus.py``: the same layers, batches,
losses and ``torch.optim.Adam``), in each precision asked for. Both are timed in steady state, as
the fastest of their windows of a quarter of the steps (best-of, as ``timeit`` reports, against
the noise of a shared machine): the twin's after 3 warm-up steps, the trainer's between its
training log records, so the validation and checkpoint that end every run (the configs schedule
them every 1000 and 500 steps) are not spread over a few steps. Printed per row: samples/s, ms
per step of both, model FLOPs per step (counted with ``torch.utils.flop_counter`` on one forward
+ backward), the trainer's FLOP/s and its fraction of the GEMM FLOP/s this machine reaches in
that precision on one 4096³ matrix multiply measured in the same run (model-FLOP utilisation,
MFU), and "vs twin": the twin's seconds per step ÷ the trainer's.

bf16 rows run by default where the device has bfloat16 instructions (a GPU that supports it, a
CPU with AVX512-BF16 or AMX); elsewhere torch emulates bfloat16 at ~1% of float32's speed and
they run only when ``--precision`` names bf16.

Then decoding on the reversal task (configs/seq2seq/reverse_fortunes.yaml, its head trained for
``--decode-steps`` steps by the trainer): tokens/s of greedy and beam-4 prediction with the
key/value cache against recomputing the whole prefix for every token, on the same validation
batch, best of 3 passes; a token is one output token up to and including each row's first EOS
(beam search's discarded hypotheses are not counted).
"""

import argparse
import itertools
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from plain_sus import PlainSUS, train_seconds
from torch.utils.flop_counter import FlopCounterMode

from sharedspace import layout
from sharedspace.config import load_yaml
from sharedspace.data.tokenizers import EOS_ID
from sharedspace.decoding import Decoding
from sharedspace.precision import COMPUTE_DTYPES, gemm_rates, native_cpu_bf16
from sharedspace.resolve import load_config
from sharedspace.tasks.classification import Classification
from sharedspace.tasks.data import Split
from sharedspace.tasks.language_model import LanguageModel
from sharedspace.tasks.reconstruction import Reconstruction
from sharedspace.train.runlog import STEP, read_records
from sharedspace.train.trainer import TrainResult, train

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "sus"
BATCH = 128
PEAK_SIZE = 4096  # n of the n×n×n multiply whose FLOP/s is each precision's peak
REVERSAL = CONFIGS.parent / "seq2seq" / "reverse_fortunes.yaml"
DECODE_BATCH = 256  # validation examples decoded at once
REPEATS = 3  # decoding timings: the best of this many passes
SETTINGS = {  # row label: (SUS config, overrides)
    "classification": ("classification", ()),
    "reconstruction": ("reconstruction", ()),
    "next_word": ("next_word", ()),
    "all_three": ("all_three", ()),
    "all_three, sampler all": ("all_three", ("train.sampler=all",)),
}
TWIN_HEADS = {  # task kind → the twin's head
    Classification: "classification",
    Reconstruction: "reconstruction",
    LanguageModel: "next_word",
}


@dataclass
class Row:
    label: str
    precision: str
    seconds: float  # the trainer's, per step
    twin_seconds: float  # the hand-written twin's, per step
    flops: float  # per step (a mean over tasks where one is drawn per step)
    examples: int  # per step


def step_flops(model, task, batch) -> int:
    """FLOPs of one forward + backward of ``task`` on ``batch`` (the optimizer is not counted)."""
    with FlopCounterMode(display=False) as counter:
        output, _ = model(task.index, batch)
        task.loss(output, batch).mean(task.reduction).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def trains_every_task(label: str) -> bool:
    """Does ``label``'s row train every task each step (sampler ``all``), not one drawn?"""
    return "train.sampler=all" in SETTINGS[label][1]


def window(steps: int) -> int:
    """Steps per timed window: a quarter of the run (both loops report their fastest)."""
    return max(1, steps // 4)


def trainer_run(
    setting: str, steps: int, data_dir: str | None, out: str, extra: tuple[str, ...]
) -> tuple[TrainResult, float]:
    """The real trainer on one SUS configuration (``extra`` overrides come last), and its
    seconds per step in steady state: the fastest window between two training log records
    (every ``window(steps)`` steps), so start-up and the end-of-run validation and checkpoint,
    which the configs schedule every 1000 and 500 steps, are not spread over these few steps."""
    overrides = [
        f"out_dir={out}",
        f"train.max_steps={steps}",
        "train.progress=false",
        f"train.log_every={window(steps)}",
    ]
    path = CONFIGS / f"{setting}.yaml"
    # validation/test are not what is measured here: keep them small
    overrides += [f"tasks.{name}.data.eval_size=500" for name in load_yaml(path)["tasks"]]
    overrides += [f"data_dir={data_dir}"] if data_dir else []
    result = train(load_config(path, [*overrides, *extra]), overwrite=True)
    records = read_records(result.run_dir / layout.METRICS)
    times = [(r["step"], r["time"]) for r in records if r["split"] == "train" and r["task"] == STEP]
    windows = [(t1 - t0) / (s1 - s0) for (s0, t0), (s1, t1) in itertools.pairwise(times)]
    return result, min(windows)


def twin_of(result: TrainResult) -> tuple[PlainSUS, dict[str, Split]]:
    """The hand-written twin of ``result``'s model (on its device) and its tasks' training
    splits, by the twin's task names."""
    splits = {TWIN_HEADS[type(t)]: t.data.splits["train"] for t in result.tasks}
    text = next((t.data.spec for t in result.tasks if isinstance(t, LanguageModel)), None)
    torch.manual_seed(0)
    model = PlainSUS(
        tuple(splits),
        vocab_size=text.vocab_size if text else 0,
        seq_len=text.seq_len if text else 0,
    )
    return model.to(next(result.model.parameters()).device), splits


def twin_run(result: TrainResult, every_task: bool, steps: int, precision: str) -> float:
    """Seconds per step of the hand-written twin of ``result``'s model on its training splits:
    every task each step (``every_task``) or one drawn uniformly, batches of ``BATCH``."""
    model, splits = twin_of(result)
    device = next(model.parameters()).device
    names = list(splits)
    draws = torch.Generator().manual_seed(0)

    def draw() -> list[tuple[str, dict[str, torch.Tensor]]]:
        chosen = names if every_task else [names[torch.randint(len(names), (1,), generator=draws)]]
        batches = []
        for name in chosen:
            idx = torch.randint(len(splits[name]), (BATCH,), generator=draws)
            batches.append((name, {k: v.to(device) for k, v in splits[name].get(idx).items()}))
        return batches

    return train_seconds(model, draw, steps, window(steps), COMPUTE_DTYPES[precision])


def measure(label: str, precision: str, steps: int, data_dir: str | None, out: str) -> Row:
    """One row: the trainer, then its twin, on ``label``'s setting in ``precision``."""
    setting, extra = SETTINGS[label]
    result, seconds = trainer_run(
        setting, steps, data_dir, out, (*extra, f"train.precision={precision}")
    )
    every_task = trains_every_task(label)
    per_task = [
        step_flops(result.model, task, task.data.splits["train"].get(torch.arange(BATCH)))
        for task in result.tasks
    ]
    flops = sum(per_task) if every_task else sum(per_task) / len(per_task)  # uniform draws
    examples = BATCH * (len(per_task) if every_task else 1)
    twin_seconds = twin_run(result, every_task, steps, precision)
    return Row(label, precision, seconds, twin_seconds, flops, examples)


def generated(tokens: torch.Tensor) -> int:
    """Output tokens (B, L) up to and including each row's first EOS."""
    eos = (tokens == EOS_ID).long()
    return int((eos.cumsum(1) - eos == 0).sum())


def decoding_rates(
    steps: int, data_dir: str | None, out: str
) -> list[tuple[str, float, float, float]]:
    """(setting, cached tokens/s, uncached tokens/s, fraction of rows whose tokens the two
    paths agree on: 1 unless a near-tie falls differently) of the reversal head."""
    overrides = [
        f"out_dir={out}",
        f"train.max_steps={steps}",
        "train.progress=false",
        f"train.checkpoint_every={steps}",
        f"tasks.reverse.data.eval_size={DECODE_BATCH}",
    ]
    overrides += [f"data_dir={data_dir}"] if data_dir else []
    result = train(load_config(REVERSAL, overrides), overwrite=True)
    model, task = result.model.eval(), result.tasks[0]
    device = next(model.parameters()).device
    batch = task.data.splits["validation"].get(torch.arange(DECODE_BATCH))
    batch = {k: v.to(device) for k, v in batch.items()}
    settings = {
        "greedy": Decoding(),
        "beam 4, alpha 0.6": Decoding(beam_size=4, length_penalty=0.6),
    }
    rows = []
    with torch.inference_mode():
        z, _ = model.embed(task.index, batch)
        head = model.heads[str(task.index)]
        for label, decoding in settings.items():
            rates, outputs = [], []
            for cached in (True, False):
                seconds = []
                for _ in range(REPEATS):
                    start = time.perf_counter()
                    tokens = head.predict(z, decoding, cached=cached)
                    seconds.append(time.perf_counter() - start)
                outputs.append(tokens)
                rates.append(generated(tokens) / min(seconds))
            same = (outputs[0] == outputs[1]).all(1).float().mean().item()
            rows.append((label, *rates, same))
    return rows


def cpu_name() -> str:
    """The CPU's model name as Linux reports it (the machine's architecture elsewhere)."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.machine()


def default_precisions(device: torch.device) -> list[str]:
    """fp32, and bf16 where ``device`` computes it natively."""
    native = torch.cuda.is_bf16_supported() if device.type == "cuda" else native_cpu_bf16()
    return ["fp32", "bf16"] if native else ["fp32"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--precision", nargs="+", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--decode-steps", type=int, default=300, help="reversal training steps")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    precisions = args.precision or default_precisions(device)
    peaks = gemm_rates(device, PEAK_SIZE, repeats=3, precisions=tuple(precisions))
    name = torch.cuda.get_device_name() if device.type == "cuda" else cpu_name()
    print(f"device: {name}, threads: {torch.get_num_threads()}")
    print(", ".join(f"GEMM {PEAK_SIZE}³ {p}: {r / 1e9:.1f} GFLOP/s" for p, r in peaks.items()))
    if "bf16" not in precisions:
        print("bf16 rows not run: no bfloat16 instructions here (--precision fp32 bf16 runs them)")
    rows = []
    with tempfile.TemporaryDirectory() as out:
        for precision in precisions:
            for label in SETTINGS:
                rows.append(measure(label, precision, args.steps, args.data_dir, out))
    print(
        f"\n{'row':24} {'precision':>9} {'samples/s':>10} {'ms/step':>8} {'twin ms':>8}"
        f" {'GFLOP/step':>11} {'GFLOP/s':>8} {'MFU':>6} {'vs twin':>8}"
    )
    for row in rows:
        rate = row.flops / row.seconds
        print(
            f"{row.label:24} {row.precision:>9} {row.examples / row.seconds:10.0f}"
            f" {row.seconds * 1e3:8.1f} {row.twin_seconds * 1e3:8.1f} {row.flops / 1e9:11.2f}"
            f" {rate / 1e9:8.1f} {rate / peaks[row.precision]:6.1%}"
            f" {row.twin_seconds / row.seconds:8.2f}"
        )
    print(
        "\nsamples/s, ms/step, GFLOP/s and MFU are the trainer's; MFU = model FLOP/s ÷ the GEMM"
        " FLOP/s of the row's precision; vs twin = the twin's ms/step ÷ the trainer's."
    )

    with tempfile.TemporaryDirectory() as out:
        decoding = decoding_rates(args.decode_steps, args.data_dir, out)
    print(f"\ndecoding, reversal task after {args.decode_steps} steps, {DECODE_BATCH} examples:")
    print(f"{'search':42} {'cached tok/s':>13} {'uncached tok/s':>15} {'speed-up':>9} {'same':>6}")
    for label, cached, uncached, same in decoding:
        print(f"{label:42} {cached:13.0f} {uncached:15.0f} {cached / uncached:8.2f}× {same:6.1%}")
    print("speed-up = cached ÷ uncached tokens/s; same = rows with identical tokens on both paths.")


if __name__ == "__main__":
    main()
