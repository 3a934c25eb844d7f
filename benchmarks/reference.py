"""The original's input pipeline and training loop, kept apart from cifar_helpers so that the
benchmarks can hold fit() against it: torchvision's CIFAR10 dataset (a PIL image, ToTensor and
Normalize per image) in a DataLoader, fp32, and a .item() per batch."""

from __future__ import annotations

import torch
from torch.nn import functional as F
from torchvision import transforms
from torchvision.datasets import CIFAR10

BATCH = 1024


class LocalCIFAR10(CIFAR10):
    def _check_integrity(self):  # our copy's pickles were rebuilt; load_cifar10 validated them
        return True


def reference_loader(data_root: str, indices, mean, std, device: torch.device, workers: int,
                     seed: int = 0) -> torch.utils.data.DataLoader:
    """Shuffled training batches of the images at `indices`, made the original's way."""
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])
    dataset = torch.utils.data.Subset(LocalCIFAR10(data_root, train=True, transform=transform), indices)
    return torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=workers,
                                       pin_memory=device.type == "cuda", persistent_workers=workers > 0,
                                       generator=torch.Generator().manual_seed(seed))


def reference_epoch(model, loader, opt, device: torch.device) -> tuple[float, int]:
    """One training epoch as the original ran it; returns the summed batch losses and the correct count."""
    model.train()
    running_loss, correct = 0.0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        out = model(x)
        loss = F.cross_entropy(out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        running_loss += loss.item()
        correct += (out.argmax(1) == y).sum().item()
    return running_loss, correct
