"""``sharedspace features RUN``: a trained encoder's features of every picture of an
attribute–object pairs dataset, seen and unseen pairs alike, as a features file
(``data/pair_features.py``) that zero-shot compositional tasks read.

The encoder was trained on the seen pairs only (``tasks/state_data.py``); exporting the unseen
pairs' features is what lets a zero-shot method be *tested* on them — its training split still
holds the seen pairs alone. A feature is the space's output for the picture (pooled to (D,)).
"""

from pathlib import Path

import torch

from sharedspace.data import DATASETS
from sharedspace.data.attribute_pairs import PairImages
from sharedspace.data.pair_features import FILE, SPLITS, PairFeatures, save_pair_features
from sharedspace.errors import SharedSpaceError
from sharedspace.representation import pooled
from sharedspace.runs import load_run
from sharedspace.tasks.data import load_dataset


def export_features(
    run_dir: Path,
    weights: str = "final",
    task: str | None = None,
    out: Path | None = None,
    overwrite: bool = False,
    batch_size: int = 1000,
) -> Path:
    """Write the features of ``task``'s dataset (a PairImages dataset; None: the run's only
    source of one) by the run's ``weights`` to ``out`` (default ``RUN/features/`` + FILE); an
    existing file is kept unless ``overwrite``."""
    run = load_run(run_dir, weights)
    readers = [t for t in run.tasks if _pairs_source(run, t.name) is not None]
    if task is not None:
        readers = [run.task(task)] if _pairs_source(run, task) else []
    sources = {_pairs_source(run, t.name) for t in readers}
    if len(sources) != 1:
        what = f"task {task!r}" if task else "it"
        raise SharedSpaceError(
            f"{run.run_dir}: {what} reads {len(sources)} datasets of attribute–object pair "
            f"pictures ({', '.join(sorted(map(str, sources))) or 'none'}); name one task "
            "with --task"
        )
    out = Path(out) if out is not None else run.run_dir / "features" / FILE
    if out.exists() and not overwrite:
        raise SharedSpaceError(f"{out}: exists; --overwrite replaces it")
    source = sources.pop()
    ds: PairImages = load_dataset(source, run.config.data_dir)
    reader = readers[0]
    features = {
        split: _embed(run.model, reader.index, ds.images[split], batch_size) for split in SPLITS
    }
    info = {
        "run": str(run.run_dir),
        "weights": run.info.get("weights"),
        "step": run.info.get("step"),
        "task": reader.name,
        "source": source,
    }
    pairs = PairFeatures(ds.pairs, features, ds.attributes, ds.objects, info)
    pairs.check(str(out))
    return save_pair_features(pairs, out)


def _pairs_source(run, name: str) -> str | None:
    """The dataset task ``name`` reads if it is one of pair pictures, else None."""
    source = run.config.tasks[name].data.name
    return source if issubclass(DATASETS.get(source).splits, PairImages) else None


@torch.inference_mode()
def _embed(model, task: int, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    """(N, D) float32: the space's output for each of ``images`` (N, C, H, W) uint8."""
    model.eval()
    rows = [
        pooled(model.embed(task, {"x": images[i : i + batch_size]})[0]).float()
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(rows)
