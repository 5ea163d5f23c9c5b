"""sharedspace: one model, many tasks, many modalities, through a shared embedding space."""

__version__ = "0.1.0"
