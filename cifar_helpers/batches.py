"""Batches served from uint8 tensors that live on the training device.

Per-image PIL work in a DataLoader, not arithmetic, sets the pace for networks this small; here
indexing, conversion, normalization and augmentation are whole-batch tensor operations.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


class Batches:
    """Iterable of normalized (x, y) batches; reshuffled on every pass when `shuffle`.

    With `augment`, each image is translated by up to `translate` pixels (`padding`: the uncovered
    edge 'zeros', black, or 'reflect'ed) and mirrored: at random, or with `flip='alternating'`
    a random half of the images in even epochs and the other half in odd ones (set `epoch`), so
    that every image is seen both ways in every two epochs; `flip='none'` never mirrors."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                 mean, std, device: torch.device, shuffle: bool = False, augment: bool = False,
                 translate: int = 4, generator: torch.Generator | None = None, channels_last: bool = False,
                 flip: str = "random", padding: str = "zeros"):
        self.images = images.to(device)
        self.labels = labels.to(device)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.translate = translate
        self.generator = generator
        self.channels_last = channels_last
        self.reflect = padding == "reflect"
        self.epoch = 0
        self.mirror = flip != "none"
        self.flipped = None  # alternating flips: the images mirrored in even epochs
        if augment and flip == "alternating":
            self.flipped = (torch.rand(len(labels), generator=generator, device=generator.device) < 0.5).to(device)
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
                flips = None
                if self.flipped is not None:
                    flips = self.flipped[index if order is not None else slice(start, start + self.batch_size)]
                    flips = flips ^ bool(self.epoch % 2)
                elif not self.mirror:
                    flips = torch.zeros(len(y), dtype=torch.bool)
                x = crop_and_flip(x, self.generator, self.translate, reflect=self.reflect, flips=flips)
            x = x.float().mul_(self.scale).sub_(self.shift)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, y

    def first(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The first batch (in order, unless shuffled)."""
        return next(iter(self))


def crop_and_flip(x: torch.Tensor, generator: torch.Generator, padding: int = 4, reflect: bool = False,
                  flips: torch.Tensor | None = None) -> torch.Tensor:
    """Random translations by up to `padding` pixels, the uncovered edge black (or reflected), and
    horizontal flips: random, one draw per image, unless `flips` says which."""
    n, c, h, w = x.shape
    gen_device = generator.device
    offsets = torch.randint(0, 2 * padding + 1, (2, n), generator=generator, device=gen_device)
    if flips is None:
        flips = torch.rand(n, generator=generator, device=gen_device) < 0.5
    offsets, flips = offsets.to(x.device), flips.to(x.device)
    rows = offsets[0].view(n, 1) + torch.arange(h, device=x.device)  # rows of the padded image
    cols = offsets[1].view(n, 1) + torch.arange(w, device=x.device)
    if reflect:  # back into the image, mirrored at its edge: -1 -> 1, h -> h - 2
        source = x
        rows = (h - 1) - ((h - 1) - (rows - padding).abs()).abs()
        cols = (w - 1) - ((w - 1) - (cols - padding).abs()).abs()
    else:
        source = F.pad(x, (padding,) * 4)
    cropped = source[torch.arange(n, device=x.device).view(n, 1, 1, 1),
                     torch.arange(c, device=x.device).view(1, c, 1, 1), rows.view(n, 1, h, 1), cols.view(n, 1, 1, w)]
    return torch.where(flips.view(n, 1, 1, 1), cropped.flip(3), cropped)
