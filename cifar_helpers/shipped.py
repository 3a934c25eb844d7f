"""The trained networks the series ships, one of each kind a reader can try on an image of their own
(notebook 03's last cell, the website's try page): the runs notebooks 02, 03 and 05 load."""

from __future__ import annotations

import torch

from .batches import Batches
from .data import CIFAR10
from .training import Run, load_run

# name as a reader reads it -> (shipped run folder, its first convolution: the feature maps 02 explained)
NETWORKS = {
    "LeNet5": ("results/lenet5_lr1e-3_e40_s0", "conv1"),
    "own network": ("results/own-network_lr1e-3_e40_s0", "conv1"),
    "fast recipe": ("results/recipe/whitened-net_lr1.5e0_e10_s0", "whiten"),
}


def load_networks() -> dict[str, Run]:
    """The shipped runs of NETWORKS, models on the CPU in eval mode."""
    return {name: load_run(folder) for name, (folder, _) in NETWORKS.items()}


def normalization(run: Run, data: CIFAR10) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) per channel that the run was trained with."""
    return data.normalization(run.config.normalization)


@torch.no_grad()
def class_probabilities(run: Run, images: torch.Tensor, data: CIFAR10) -> torch.Tensor:
    """Softmax of the run's logits for uint8 images (n, 3, 32, 32), normalized as it was trained:
    one view of each image (the recipe's test-time views are left out, as on the try page)."""
    mean, std = normalization(run, data)
    labels = torch.zeros(len(images), dtype=torch.int64)
    run.model.eval()
    logits = torch.cat([run.model(x) for x, _ in Batches(images, labels, 1024, mean, std, torch.device("cpu"))])
    return logits.softmax(1)
