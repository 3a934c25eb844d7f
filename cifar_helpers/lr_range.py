"""The learning-rate range test (Smith, "Cyclical learning rates", 2017; fastai's lr_find): train a
few hundred steps while the rate grows exponentially, watch the smoothed loss, stop when it
diverges, put the weights back, and suggest a rate a little below the one where the loss was
lowest. Written here, not taken from torch-lr-finder, because it must take fit's own step
(train_step, with the run's mixed precision, channels_last and label smoothing) on the
device-resident batches of `prepare`, which that library's DataLoader loop does not."""

from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import dataclass

import torch

from .config import TrainConfig
from .data import CIFAR10
from .device import resolve_device, resolve_precision


@dataclass
class RangeTest:
    lrs: list[float]
    losses: list[float]     # each step's training loss
    smoothed: list[float]   # their exponential moving average, bias-corrected
    suggestion: float       # a tenth of the rate where the smoothed loss was lowest
    diverged: bool          # stopped early: the smoothed loss passed `diverge` x its lowest


def lr_range_test(config: TrainConfig, data: CIFAR10, *, start: float = 1e-6, end: float = 10.0,
                  steps: int = 200, beta: float = 0.98, diverge: float = 4.0, device: str = "auto",
                  setup=None) -> RangeTest:
    """Run the range test on `setup` (training.prepare's network, optimizer and batches), or on a
    fresh one built from `config` exactly as fit builds it. The weights, the optimizer's state and
    the shuffling generator are put back afterwards, so the same setup can be trained next. Each
    parameter group keeps its ratio to config.lr (the recipe's BatchNorm scale)."""
    from .training import AUTOCAST_DTYPES, prepare, train_step

    target = resolve_device(device)
    config = config.replace(precision=resolve_precision(config.precision, target),
                            channels_last=target.type in ("cuda", "cpu") if config.channels_last is None
                            else config.channels_last)
    setup = setup or prepare(config, data, target)
    net, optimizer = setup.net, setup.optimizer
    saved = (copy.deepcopy(net.state_dict()), copy.deepcopy(optimizer.state_dict()),
             setup.generator.get_state())
    ratios = [group["lr"] / config.lr for group in optimizer.param_groups]
    dtype = AUTOCAST_DTYPES.get(config.precision)
    autocast = (lambda: torch.autocast(target.type, dtype=dtype)) if dtype else contextlib.nullcontext
    scaler = torch.amp.GradScaler(target.type) if config.precision == "fp16" else None
    growth = (end / start) ** (1 / max(1, steps - 1))
    lrs, losses, smoothed = [], [], []
    average, lowest, diverged = 0.0, math.inf, False
    batches = iter(())
    net.train()
    try:
        for step in range(steps):
            try:
                x, y = next(batches)
            except StopIteration:
                batches = iter(setup.batches["train"])
                x, y = next(batches)
            lr = start * growth ** step
            for group, ratio in zip(optimizer.param_groups, ratios):
                group["lr"] = lr * ratio
            loss = train_step(net, optimizer, x, y, autocast, scaler, config.label_smoothing)[0].item()
            average = beta * average + (1 - beta) * loss
            lrs.append(lr)
            losses.append(loss)
            smoothed.append(average / (1 - beta ** (step + 1)))
            lowest = min(lowest, smoothed[-1])
            if not math.isfinite(loss) or smoothed[-1] > diverge * lowest:
                diverged = True
                break
    finally:
        net.load_state_dict(saved[0])
        optimizer.load_state_dict(saved[1])
        setup.generator.set_state(saved[2])
    best = min(range(len(smoothed)), key=smoothed.__getitem__)
    return RangeTest(lrs, losses, smoothed, lrs[best] / 10, diverged)
