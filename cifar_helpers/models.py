"""The networks of the series, built by name."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .errors import ConfigError


class LeNet5(nn.Module):
    """Classic LeNet5 for 32x32 RGB: two 5x5 convolutions, fc 400-120-84-10, returns logits."""

    def __init__(self, num_classes: int = 10, hidden: int = 120):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, hidden)
        self.fc2 = nn.Linear(hidden, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class OriginalLeNet5(LeNet5):
    """The original experiment's LeNet5: fc 400-512-84-10 and a softmax before the loss.

    Cross-entropy applies its own log-softmax, so the loss sees probabilities squeezed into
    [0, 1]: gradients are weak, and at lr 1e-2 the network collapses to one class. Kept to show
    that failure, not to be copied.
    """

    def __init__(self, num_classes: int = 10):
        super().__init__(num_classes, hidden=512)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.softmax(super().forward(x), dim=1)


class OwnNetwork(nn.Module):
    """The original README's own network, exactly: six 3x3 convolutions, three max-pools,
    fc 2048-512, dropout 0.5, fc 512-10."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, 1, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, 1, padding=1)
        self.conv4 = nn.Conv2d(64, 64, 3, 1, padding=1)
        self.conv5 = nn.Conv2d(64, 128, 3, 1, padding=1)
        self.conv6 = nn.Conv2d(128, 128, 3, 1, padding=1)
        self.dropout1 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(128 * 4 * 4, 512)
        self.fc2 = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)
        x = F.relu(self.conv3(x))
        x = F.max_pool2d(F.relu(self.conv4(x)), 2, 2)
        x = F.relu(self.conv5(x))
        x = F.max_pool2d(F.relu(self.conv6(x)), 2, 2)
        x = torch.flatten(x, 1)
        x = self.dropout1(F.relu(self.fc1(x)))
        return self.fc2(x)


MODELS = {"lenet5": LeNet5, "lenet5-original": OriginalLeNet5, "own-network": OwnNetwork}
# Names older versions of the series wrote into run records (the original experiment was once
# called "the seed"); they still load, as the networks they always meant.
ALIASES = {"lenet5-seed": "lenet5-original", "mycnn": "own-network"}


def canonical_model(name: str) -> str:
    """The model's name as the series spells it now (an old alias is translated)."""
    name = ALIASES.get(name, name)
    if name not in MODELS:
        raise ConfigError(
            f"Unknown model {name!r}. The valid names are {', '.join(repr(m) for m in MODELS)}: "
            "'lenet5' is the classic LeNet5, 'lenet5-original' the original experiment's variant "
            "(with a softmax before the loss), 'own-network' the original README's own network."
        )
    return name


def build_model(name: str) -> nn.Module:
    """A freshly initialised network by name: 'lenet5', 'lenet5-original' or 'own-network'."""
    return MODELS[canonical_model(name)]()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def describe(model: nn.Module, input_shape=(1, 3, 32, 32)) -> str:
    """A table of each layer's output shape and parameter count, from one forward pass."""
    rows = []

    def recorder(layer_name):
        def record(module, _inputs, output):
            rows.append((layer_name, type(module).__name__, tuple(output.shape[1:]),
                         sum(p.numel() for p in module.parameters())))
        return record

    hooks = [module.register_forward_hook(recorder(layer_name))
             for layer_name, module in model.named_children()]
    with torch.no_grad():
        model.eval()(torch.zeros(input_shape))
    for hook in hooks:
        hook.remove()
    lines = [f"{'layer':<10}{'type':<10}{'output shape':<18}{'parameters':>10}"]
    lines += [f"{n:<10}{t:<10}{str(s):<18}{p:>10,}" for n, t, s, p in rows]
    lines.append(f"{'total':<38}{count_parameters(model):>10,}")
    return "\n".join(lines)
