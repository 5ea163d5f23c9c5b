"""Training: task sampling, loss weighting, the loop, evaluation, checkpoints, processes."""
