"""Read a run folder back: rebuild its model and tasks and evaluate them; draw its figures.

Above the trainer and the config resolution: a run folder holds the resolved config
(``config.yaml``) and checkpoints, from which everything the run saw is rebuilt.
"""

from pathlib import Path

import torch

from sharedspace.analysis.transfer import read_transfer, transfer_figure
from sharedspace.errors import CheckpointError, SharedSpaceError
from sharedspace.model import build_model
from sharedspace.resolve import load_config
from sharedspace.tasks import build_tasks
from sharedspace.train.checkpoint import checkpoint_step, latest_checkpoint, load_checkpoint
from sharedspace.train.evaluation import evaluate
from sharedspace.train.trainer import stored_results


def evaluate_run(
    run_dir: Path, split: str = "test", checkpoint: Path | None = None
) -> dict[str, dict[str, float]]:
    """Rebuild a finished (or interrupted) run from its folder and evaluate every task on a split.

    The config comes from the run's ``config.yaml``, the weights and tokenizers from the
    checkpoint (the latest unless one is named), so the numbers match what the run saw.
    """
    run_dir = Path(run_dir)
    cfg = load_config(run_dir / "config.yaml")
    path = checkpoint or latest_checkpoint(run_dir / "checkpoints")
    if path is None:
        raise CheckpointError(f"{run_dir / 'checkpoints'}: no checkpoint to evaluate")
    state = load_checkpoint(path)
    tasks = build_tasks(cfg, state["task_states"])
    model = build_model(cfg, tasks)
    model.load_state_dict(state["model"])
    device = torch.device("cpu")
    return {
        task.name: evaluate(model, task, split, cfg.train.eval_batch_size, device) for task in tasks
    }


def finished(run_dir: Path) -> bool:
    """Whether the run's newest checkpoint is the step its results were computed at (False for
    a run stopped early by a signal, or never finished)."""
    latest = latest_checkpoint(Path(run_dir) / "checkpoints")
    return latest is not None and stored_results(Path(run_dir), checkpoint_step(latest)) is not None


def draw_run_figures(run_dir: Path) -> list[Path]:
    """The figures a run's log supports, written into its folder: ``transfer.png`` when the run
    probed task transfer (``train.transfer_every``)."""
    try:
        names, _, cosine, affinity = read_transfer(run_dir)
    except SharedSpaceError:
        return []
    path = Path(run_dir) / "transfer.png"
    transfer_figure(names, cosine, affinity, path, title=f"{Path(run_dir).name}: task transfer")
    return [path]
