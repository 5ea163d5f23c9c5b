"""How much a labelling behaves like a task: taskness (the seed) and the agreement score
(Atanov et al. 2022).

Taskness compares the network's best validation loss with what needs no learning of images:
b = the mean validation loss of two baselines — a *blind* classifier that predicts the training
labels' prior for every image, and a *statistically informed* one, logistic regression on each
image's per-channel mean, standard deviation, minimum and maximum (it sees intensity and contrast
but no shape) — and g = the minimum of the validation curve's rolling median (window 5, so one
lucky epoch does not count). taskness = (b − g) / b: 0 when the network learns nothing the
baselines do not, 1 at zero loss.

The agreement score needs no labels at evaluation: two networks trained on the labelling from
different initialisations, and the fraction of held-out images on which their predictions agree.
A labelling the networks' inductive bias supports is learnt the same way twice; noise is not.
"""

import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

EPS = 1e-6  # keeps a one-class prior's loss finite


def rolling_median_minimum(curves: torch.Tensor, window: int = 5) -> torch.Tensor:
    """(P, E) validation losses → (P,) the lowest rolling median over ``window`` consecutive
    epochs (the median of all E when E < window)."""
    w = min(window, curves.shape[1])
    return curves.unfold(1, w, 1).quantile(0.5, dim=-1).min(1).values


def taskness(curves: torch.Tensor, baseline: torch.Tensor, window: int = 5) -> torch.Tensor:
    """(P, E) validation curves, (P,) baseline losses b → (P,) (b − g) / b."""
    return (baseline - rolling_median_minimum(curves, window)) / baseline


def binary_cross_entropy(p: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(P, N) predicted P(label = 1), (P, N) labels → (P,) mean cross-entropy."""
    p = p.clamp(EPS, 1 - EPS)
    y = labels.float()
    return -(y * p.log() + (1 - y) * (1 - p).log()).mean(1)


def blind_loss(train_labels: torch.Tensor, val_labels: torch.Tensor) -> torch.Tensor:
    """(P, Nt), (P, Nv) labels → (P,) validation loss of predicting the training prior."""
    prior = train_labels.float().mean(1, keepdim=True).expand(val_labels.shape)
    return binary_cross_entropy(prior, val_labels)


def image_statistics(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) → (N, 4C) per-channel mean, standard deviation, minimum and maximum."""
    flat = images.flatten(2).float()
    return torch.cat([flat.mean(2), flat.std(2), flat.amin(2), flat.amax(2)], 1)


def informed_loss(
    statistics: torch.Tensor,
    train: torch.Tensor,
    train_labels: torch.Tensor,
    val: torch.Tensor,
    val_labels: torch.Tensor,
) -> torch.Tensor:
    """Validation loss of logistic regression on ``statistics`` ((M, F) for the image pool), one
    fit per problem: train/val (P, N·) indices into the pool, with their labels → (P,)."""
    losses = []
    for p in range(len(train)):
        x, y = statistics[train[p]].numpy(), train_labels[p].numpy()
        if len(np.unique(y)) < 2:  # one class: nothing to fit beyond the prior
            prior = torch.full(val_labels[p].shape, float(y.mean()))
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
            prior = torch.from_numpy(model.predict_proba(statistics[val[p]].numpy())[:, 1])
        losses.append(binary_cross_entropy(prior[None].float(), val_labels[p][None])[0])
    return torch.stack(losses)


def agreement(predictions_a: torch.Tensor, predictions_b: torch.Tensor) -> torch.Tensor:
    """(P, N) predictions of two networks per labelling → (P,) fraction of images they agree on."""
    return (predictions_a == predictions_b).float().mean(1)
