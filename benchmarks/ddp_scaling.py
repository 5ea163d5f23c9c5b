"""Training samples/s with 1 and 2 processes (PyTorch DDP under torchrun), in one run.

    python benchmarks/ddp_scaling.py [--steps 60] [--setting all_three] [--nproc 1 2]

Each run is the real ``sharedspace train --nproc N`` command on a SUS configuration with the same
global batch; samples/s comes from the training loop's wall time in the run's results.json
(validation and checkpointing included). On CPU, torchrun gives each process one thread
(OMP_NUM_THREADS=1), so 2 processes on 2 cores compete with 1 process using both cores; on a
machine with one GPU per process the processes add devices.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from sharedspace.config import load_yaml

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "sus"


def run(nproc: int, setting: str, steps: int, batch: int, out: str) -> dict:
    path = CONFIGS / f"{setting}.yaml"
    overrides = [
        f"out_dir={out}",
        f"name=nproc{nproc}",
        f"train.max_steps={steps}",
        f"train.batch_size={batch}",
        f"train.checkpoint_every={steps}",
        "train.progress=false",
    ] + [f"tasks.{name}.data.eval_size=500" for name in load_yaml(path)["tasks"]]
    command = [sys.executable, "-m", "sharedspace.cli", "train", str(path), *overrides]
    subprocess.run([*command, f"--nproc={nproc}"], check=True, capture_output=True)
    return json.loads((Path(out) / f"nproc{nproc}" / "results.json").read_text())["run"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch", type=int, default=128, help="global batch")
    parser.add_argument("--setting", default="all_three", help="a configs/sus/ file stem")
    parser.add_argument("--nproc", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    print(f"device: {device}; setting: {args.setting}; global batch {args.batch}\n")
    print(f"{'processes':>9} {'steps':>6} {'seconds':>8} {'samples/s':>10} {'vs 1 process':>13}")
    base = None
    with tempfile.TemporaryDirectory() as out:
        for nproc in args.nproc:
            timing = run(nproc, args.setting, args.steps, args.batch, out)
            rate = timing["steps"] * args.batch / timing["train_seconds"]
            base = base or rate
            print(
                f"{nproc:9d} {timing['steps']:6d} {timing['train_seconds']:8.1f} {rate:10.0f} "
                f"{rate / base:13.2f}"
            )


if __name__ == "__main__":
    main()
