"""Batches served from uint8 tensors that live on the training device.

Per-image PIL work in a DataLoader, not arithmetic, sets the pace for networks this small; here
indexing, conversion, normalization and augmentation are whole-batch tensor operations.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


class Batches:
    """Iterable of normalized (x, y) batches; reshuffled on every pass when `shuffle`."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                 mean, std, device: torch.device, shuffle: bool = False, augment: bool = False,
                 translate: int = 4, generator: torch.Generator | None = None, channels_last: bool = False):
        self.images = images.to(device)
        self.labels = labels.to(device)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.translate = translate
        self.generator = generator
        self.channels_last = channels_last
        std = torch.tensor(std, device=device).view(1, 3, 1, 1)
        mean = torch.tensor(mean, device=device).view(1, 3, 1, 1)
        self.scale = 1.0 / (255.0 * std)  # (x / 255 - mean) / std == x * scale - shift
        self.shift = mean / std

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    @property
    def num_images(self) -> int:
        return len(self.labels)

    def __iter__(self):
        n = len(self.labels)
        order = None
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator, device=self.generator.device)
            order = order.to(self.images.device)
        for start in range(0, n, self.batch_size):
            if order is None:
                x = self.images[start:start + self.batch_size]
                y = self.labels[start:start + self.batch_size]
            else:
                index = order[start:start + self.batch_size]
                x, y = self.images[index], self.labels[index]
            if self.augment:
                x = crop_and_flip(x, self.generator, self.translate)
            x = x.float().mul_(self.scale).sub_(self.shift)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, y

    def first(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The first batch (in order, unless shuffled)."""
        return next(iter(self))


def crop_and_flip(x: torch.Tensor, generator: torch.Generator, padding: int = 4) -> torch.Tensor:
    """Random crops of zero-padded images and random horizontal flips, one draw per image."""
    n, c, h, w = x.shape
    gen_device = generator.device
    offsets = torch.randint(0, 2 * padding + 1, (2, n), generator=generator, device=gen_device)
    flips = torch.rand(n, generator=generator, device=gen_device) < 0.5
    offsets, flips = offsets.to(x.device), flips.to(x.device)
    padded = F.pad(x, (padding,) * 4)
    rows = (offsets[0].view(n, 1) + torch.arange(h, device=x.device)).view(n, 1, h, 1)
    cols = (offsets[1].view(n, 1) + torch.arange(w, device=x.device)).view(n, 1, 1, w)
    cropped = padded[torch.arange(n, device=x.device).view(n, 1, 1, 1),
                     torch.arange(c, device=x.device).view(1, c, 1, 1), rows, cols]
    return torch.where(flips.view(n, 1, 1, 1), cropped.flip(3), cropped)
