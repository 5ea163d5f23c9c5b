"""Training throughput of the framework's trainer against a plain PyTorch loop, in one run.

    python benchmarks/train_throughput.py [--steps 60] [--data-dir DIR]

Prints, per SUS task, for the all-three mix (one task per step, the SUS protocol) and for sampler
``all`` on the three tasks (every task each step, each its own batch): samples/s, model FLOPs per
step (counted with ``torch.utils.flop_counter`` on one forward + backward), achieved FLOP/s, and
the fraction of the GEMM FLOP/s this machine reaches on one large float32 matrix multiply measured
in the same run (model-FLOP utilisation, MFU). The plain loop is a hand-written nn.Sequential of
the same image classifier with torch.optim.Adam; the trainer runs the real ``sharedspace.train``
loop with task sampling, metrics, logging, validation and checkpointing included.

Then decoding on the reversal task (configs/seq2seq/reverse_fortunes.yaml, its head trained for
``--decode-steps`` steps by the trainer): tokens/s of greedy and beam-4 prediction with the
key/value cache against recomputing the whole prefix for every token, on the same validation
batch, best of 3 passes; a token is one output token up to and including each row's first EOS
(beam search's discarded hypotheses are not counted).
"""

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from sharedspace.config import load_yaml
from sharedspace.data.tokenizers import EOS_ID
from sharedspace.decoding import Decoding
from sharedspace.resolve import load_config
from sharedspace.train.trainer import train

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "sus"
BATCH = 128
REVERSAL = CONFIGS.parent / "seq2seq" / "reverse_fortunes.yaml"
DECODE_BATCH = 256  # validation examples decoded at once
REPEATS = 3  # decoding timings: the best of this many passes


def gemm_flops(n: int = 4096, repeats: int = 5) -> float:
    """Best-of-``repeats`` FLOP/s of one n×n×n float32 matrix multiply."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def step_flops(model, task, batch) -> int:
    """FLOPs of one forward + backward of ``task`` on ``batch`` (the optimizer is not counted)."""
    with FlopCounterMode(display=False) as counter:
        output, _ = model(task.index, batch)
        task.loss(output, batch).mean(task.reduction).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def plain_loop(steps: int) -> tuple[float, int]:
    """The yardstick: the SUS image classifier written by hand, trained on random uint8 images."""
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 2048), nn.LeakyReLU(),
        nn.Linear(2048, 1024), nn.LeakyReLU(), nn.Linear(1024, 1024), nn.LeakyReLU(),
        nn.Linear(1024, 512), nn.LeakyReLU(), nn.Linear(512, 10),
    )  # fmt: skip
    images = torch.randint(0, 256, (20000, 1, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (20000,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step(i: int) -> None:
        idx = torch.randint(0, 20000, (BATCH,))
        x = (images[idx].float() / 255 - 0.286) / 0.353
        loss = loss_fn(model(x), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()

    for i in range(3):
        step(i)
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    seconds = time.perf_counter() - start
    x = torch.zeros(BATCH, 1, 28, 28)
    with FlopCounterMode(display=False) as counter:
        loss_fn(model(x), labels[:BATCH]).backward()
    return seconds / steps, counter.get_total_flops()


def trainer_run(
    setting: str, steps: int, data_dir: str | None, out: str, extra: tuple[str, ...] = ()
) -> tuple[float, float, int]:
    """(seconds per step, FLOPs per step, examples per step) of the real trainer on one SUS
    configuration; ``extra`` overrides (e.g. the sampler) come last."""
    overrides = [
        f"out_dir={out}",
        f"train.max_steps={steps}",
        "train.progress=false",
        f"train.log_every={max(1, steps // 4)}",
        f"train.checkpoint_every={steps}",
    ]
    path = CONFIGS / f"{setting}.yaml"
    # validation/test are not what is measured here: keep them small
    overrides += [f"tasks.{name}.data.eval_size=500" for name in load_yaml(path)["tasks"]]
    overrides += [f"data_dir={data_dir}"] if data_dir else []
    cfg = load_config(path, [*overrides, *extra])
    result = train(cfg, overwrite=True)
    per_task = [
        step_flops(result.model, task, task.data.splits["train"].get(torch.arange(BATCH)))
        for task in result.tasks
    ]
    if cfg.train.sampler.name == "all":  # every task each step
        return result.loop_seconds / steps, float(sum(per_task)), BATCH * len(per_task)
    return result.loop_seconds / steps, sum(per_task) / len(per_task), BATCH  # uniform draws


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--decode-steps", type=int, default=300, help="reversal training steps")
    args = parser.parse_args()
    torch.manual_seed(0)
    peak = gemm_flops()
    print(f"threads: {torch.get_num_threads()}; GEMM (4096³ float32): {peak / 1e9:.1f} GFLOP/s\n")
    rows = []
    plain_seconds, plain_flops = plain_loop(args.steps)
    rows.append(("plain PyTorch loop (classification)", plain_seconds, plain_flops, BATCH))
    runs = [(s, s, ()) for s in ("classification", "reconstruction", "next_word", "all_three")]
    runs.append(("all_three, sampler all", "all_three", ("train.sampler=all",)))
    with tempfile.TemporaryDirectory() as out:
        for label, setting, extra in runs:
            seconds, flops, examples = trainer_run(setting, args.steps, args.data_dir, out, extra)
            rows.append((f"sharedspace trainer: {label}", seconds, flops, examples))
    header = f"{'run':42} {'samples/s':>10} {'ms/step':>8} {'GFLOP/step':>11} {'GFLOP/s':>8}"
    print(header + f" {'MFU':>6} {'vs plain':>9}")
    plain_rate = plain_flops / plain_seconds
    for name, seconds, flops, examples in rows:
        rate = flops / seconds
        print(
            f"{name:42} {examples / seconds:10.0f} {seconds * 1e3:8.1f} {flops / 1e9:11.2f} "
            f"{rate / 1e9:8.1f} {rate / peak:6.1%} {rate / plain_rate:9.2f}"
        )
    print("\nMFU = model FLOP/s ÷ GEMM FLOP/s; 'vs plain' = FLOP/s ÷ the plain loop's FLOP/s.")

    with tempfile.TemporaryDirectory() as out:
        decoding = decoding_rates(args.decode_steps, args.data_dir, out)
    print(f"\ndecoding, reversal task after {args.decode_steps} steps, {DECODE_BATCH} examples:")
    print(f"{'search':42} {'cached tok/s':>13} {'uncached tok/s':>15} {'speed-up':>9} {'same':>6}")
    for label, cached, uncached, same in decoding:
        print(f"{label:42} {cached:13.0f} {uncached:15.0f} {cached / uncached:8.2f}× {same:6.1%}")
    print("speed-up = cached ÷ uncached tokens/s; same = rows with identical tokens on both paths.")


if __name__ == "__main__":
    main()
