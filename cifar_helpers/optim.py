"""The optimizer, its learning-rate schedule and lookahead: how a run moves its weights, as its
TrainConfig says."""

from __future__ import annotations

import torch
from torch import nn

from .config import TrainConfig


def build_optimizer(config: TrainConfig, net: nn.Module) -> torch.optim.Optimizer:
    """Weights at lr; with bias_lr_scale, BatchNorm's parameters at lr * bias_lr_scale, their
    weight decay divided by the same factor, so that every parameter decays alike per step."""
    trained = [p for p in net.parameters() if p.requires_grad]
    groups = [{"params": trained}]
    if config.bias_lr_scale != 1:
        norms = {id(p) for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                 for p in m.parameters()}
        groups = [{"params": [p for p in trained if id(p) not in norms]},
                  {"params": [p for p in trained if id(p) in norms], "lr": config.lr * config.bias_lr_scale,
                   "weight_decay": config.weight_decay / config.bias_lr_scale}]
    groups = [g for g in groups if g["params"]]
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov,
                           weight_decay=config.weight_decay)


def step_rate(config: TrainConfig, steps: int):
    """The learning rate of each step as a share of config.lr: constant, or 'warmup-linear': a
    linear rise from `warmup_start` over the first `warmup` share of the steps, then a linear fall
    to `final_lr`."""
    if config.schedule == "constant":
        return lambda step: 1.0
    warm = max(1, round(config.warmup * steps))

    def rate(step: int) -> float:
        if step < warm:
            return config.warmup_start + (1.0 - config.warmup_start) * (step + 1) / warm
        return 1.0 - (1.0 - config.final_lr) * min(1.0, (step - warm) / max(1, steps - 1 - warm))
    return rate


def build_schedule(config: TrainConfig, optimizer: torch.optim.Optimizer, steps: int):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, step_rate(config, steps))


class Lookahead:
    """Slow weights: every `every` steps they move toward the network's weights by a share that
    shrinks as training goes on (a cubic ramp of `decay`), and the network restarts from them. The
    averaging smooths the noise of the last, small steps."""

    def __init__(self, net: nn.Module, total_steps: int, every: int = 5, decay: float = 0.95 ** 5):
        self.tensors = [t for t in net.state_dict().values() if t.is_floating_point()]
        self.slow = [t.detach().clone() for t in self.tensors]
        self.total, self.every, self.decay, self.steps = total_steps, every, decay, 0

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        if self.steps % self.every and self.steps != self.total:
            return
        keep = self.decay * (self.steps / self.total) ** 3
        for slow, fast in zip(self.slow, self.tensors):
            slow.lerp_(fast, 1 - keep)
            fast.copy_(slow)

    def state_dict(self) -> dict:
        return {"steps": self.steps, "slow": self.slow}

    def load_state_dict(self, state: dict) -> None:
        self.steps = state["steps"]
        for slow, saved in zip(self.slow, state["slow"]):
            slow.copy_(saved)
