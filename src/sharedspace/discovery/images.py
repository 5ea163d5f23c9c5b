"""The images a discovery works on: a random draw from a dataset's training images, as the
networks see them (pixels or random features), with the probe held out of every labelling."""

from dataclasses import dataclass

import torch

from sharedspace.discovery.features import FeatureConfig, random_features
from sharedspace.discovery.scores import image_statistics
from sharedspace.errors import ConfigError
from sharedspace.tasks.data import load_dataset


@dataclass(frozen=True)
class Images:
    """Labellings draw from the first M − Q images; the agreement score is measured on the last
    Q (the probe), which no labelling uses."""

    pool: torch.Tensor  # (M, C, H, W): what the networks see (pixels or random features)
    classes: torch.Tensor  # (M,)
    statistics: torch.Tensor  # (M, F) for the informed baseline
    probe: torch.Tensor  # (Q,) pool indices
    pixels: torch.Tensor  # (M, C, H, W) in [0, 1], for figures

    @property
    def candidates(self) -> torch.Tensor:
        return self.classes[: len(self.classes) - len(self.probe)]


def draw_images(
    dataset: str,
    data_dir: str | None,
    count: int,
    probe: int,
    features: FeatureConfig | None,
    seed: int,
) -> Images:
    """``count`` training images of ``dataset`` drawn at random (the last ``probe`` of them the
    probe), as random features unless ``features`` is None."""
    data = load_dataset(dataset, data_dir)
    if not probe < count <= len(data.train_images):
        raise ConfigError(
            f"{count} images ({probe} of them the probe): {dataset} has "
            f"{len(data.train_images)} train images"
        )
    picked = torch.randperm(len(data.train_images), generator=torch.Generator().manual_seed(seed))
    picked = picked[:count]
    pixels = data.train_images[picked].float() / 255
    pool = pixels if features is None else random_features(pixels, features)
    probe_at = torch.arange(count - probe, count)
    return Images(pool, data.train_labels[picked], image_statistics(pool), probe_at, pixels)
