"""Predictions of a trained network, and the per-class views of them the notebooks plot."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .batches import Batches
from .data import CIFAR10


def tta_views(x: torch.Tensor, level: int) -> list[torch.Tensor]:
    """The test-time views of a batch: level 0 the images; 1 and their mirror images; 2 and both
    of those shifted by one pixel up-left and down-right (edges reflected)."""
    views = [x]
    if level >= 1:
        views.append(x.flip(3))
    if level >= 2:
        padded = F.pad(torch.cat(views), (1, 1, 1, 1), mode="reflect")
        h, w = x.shape[2:]
        views += list(padded[..., :h, :w].chunk(2)) + list(padded[..., 2:, 2:].chunk(2))
    return views


# The published weights of level 2's views: the image and its mirror half, the four shifted views the other half.
PUBLISHED_TTA_WEIGHTS = (0.25, 0.25, 0.125, 0.125, 0.125, 0.125)


def tta_logits(net: torch.nn.Module, x: torch.Tensor, level: int = 0, weights: str = "equal") -> torch.Tensor:
    """The network's logits averaged over the test-time views (tta_views) of the batch, every
    view alike or, at level 2, with the published weights."""
    if level == 0:
        return net(x)
    logits = torch.stack([net(view) for view in tta_views(x, level)])
    if weights == "equal" or level < 2:
        return logits.mean(0)
    share = torch.tensor(PUBLISHED_TTA_WEIGHTS, dtype=logits.dtype, device=logits.device)
    return (logits * share.view(-1, 1, 1)).sum(0)


@torch.no_grad()
def predict(model: torch.nn.Module, data: CIFAR10, normalization: str = "cifar10",
            split: str = "test", subset: int | None = None,
            batch_size: int = 2048, tta: int = 0, tta_weights: str = "equal") -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted classes, true labels) for a split, or for the class-balanced `subset` of it
    that TrainConfig(test_subset=...) evaluates on; `tta` and `tta_weights` as in tta_logits."""
    device = next(model.parameters()).device
    images, labels = data.split(split, subset)
    mean, std = data.normalization(normalization)
    model.eval()
    predicted = [tta_logits(model, x, tta, tta_weights).argmax(1)
                 for x, _ in Batches(images, labels, batch_size, mean, std, device)]
    return torch.cat(predicted).cpu(), labels


def confusion_matrix(predicted: torch.Tensor, labels: torch.Tensor, n_classes: int = 10) -> torch.Tensor:
    """counts[i, j]: images of class i predicted as class j."""
    return torch.bincount(labels * n_classes + predicted, minlength=n_classes ** 2).view(n_classes, n_classes)


def per_class_accuracy(predicted: torch.Tensor, labels: torch.Tensor, classes):
    """Accuracy in percent for each class, as a pandas Series indexed by class name."""
    import pandas as pd

    counts = confusion_matrix(predicted, labels, len(classes))
    return pd.Series((100.0 * counts.diag() / counts.sum(1)).tolist(), index=list(classes),
                     name="accuracy (%)")


@torch.no_grad()
def active_units(model: torch.nn.Module, data: CIFAR10, normalization: str = "cifar10",
                 split: str = "test", subset: int | None = 1000):
    """Percent of each hidden layer's units (a convolution's channels, a linear layer's outputs)
    that are positive for at least one image. Every hidden layer of these networks feeds a ReLU,
    and a ReLU unit that is never positive passes no gradient: a layer near 0% has died, and the
    network can no longer learn. A pandas Series indexed by layer name."""
    import pandas as pd

    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))][:-1]
    fired = {}

    def watch(name):
        def hook(module, inputs, output):
            positive = output.flatten(2).amax(2) > 0 if output.dim() == 4 else output > 0
            fired[name] = fired.get(name, False) | positive.any(0)
        return hook

    handles = [m.register_forward_hook(watch(n)) for n, m in layers]
    try:
        predict(model, data, normalization, split, subset)
    finally:
        for handle in handles:
            handle.remove()
    return pd.Series({n: 100.0 * fired[n].float().mean().item() for n, _ in layers}, name="active units (%)")
