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


class ConvGroup(nn.Module):
    """conv 3x3 -> max-pool 2 -> BatchNorm -> GELU -> conv 3x3 -> BatchNorm -> GELU. The
    convolutions start as identities on their first input channels (Dirac), so a freshly built
    network passes its input through rather than noise."""

    def __init__(self, channels_in: int, channels_out: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, padding=1, bias=False)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = nn.BatchNorm2d(channels_out)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, padding=1, bias=False)
        self.norm2 = nn.BatchNorm2d(channels_out)
        for conv in (self.conv1, self.conv2):
            nn.init.dirac_(conv.weight.data[:conv.in_channels])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.norm1(self.pool(self.conv1(x))))
        return F.gelu(self.norm2(self.conv2(x)))


class WhitenedNet(nn.Module):
    """The network of the CIFAR-10 speed records (notebook 05): a 2x2 convolution whose filters
    whiten the image's 2x2 patches (set from the data by `whiten_from`, then frozen), three
    ConvGroups, a global max-pool and a linear layer, logits scaled by 1/9."""

    def __init__(self, widths=(64, 256, 256), num_classes: int = 10):
        super().__init__()
        self.whiten = nn.Conv2d(3, 24, 2, bias=True)  # 12 patch directions and their negatives
        self.whiten.weight.requires_grad_(False)
        self.group1 = ConvGroup(24, widths[0])
        self.group2 = ConvGroup(widths[0], widths[1])
        self.group3 = ConvGroup(widths[1], widths[2])
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.head = nn.Linear(widths[2], num_classes, bias=False)

    @torch.no_grad()
    def whiten_from(self, images: torch.Tensor, eps: float = 5e-4) -> None:
        """Set the whitening filters from normalized training images (N, 3, 32, 32): the
        eigenvectors of the covariance of their 2x2 patches, each divided by the square root of
        its eigenvalue, so that the layer's outputs are uncorrelated with unit variance."""
        patches = images.float().unfold(2, 2, 1).unfold(3, 2, 1)        # N, 3, 31, 31, 2, 2
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, 12)     # every patch, 3*2*2 values
        patches = patches - patches.mean(0)
        covariance = patches.T @ patches / len(patches)
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance.double())
        filters = (eigenvectors.T / (eigenvalues + eps).sqrt().unsqueeze(1)).float().view(12, 3, 2, 2)
        self.whiten.weight.copy_(torch.cat([filters, -filters]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.whiten(x))
        x = self.group3(self.group2(self.group1(x)))
        return self.head(torch.flatten(self.pool(x), 1)) / 9


def _small_whitened_net() -> WhitenedNet:
    return WhitenedNet(widths=(32, 128, 128))


MODELS = {"lenet5": LeNet5, "lenet5-original": OriginalLeNet5, "own-network": OwnNetwork,
          "whitened-net": WhitenedNet, "whitened-net-small": _small_whitened_net}
# Names older versions of the series wrote into run records (the original experiment was once
# called "the seed"); they still load, as the networks they always meant.
ALIASES = {"lenet5-seed": "lenet5-original", "mycnn": "own-network"}


def apply_batchnorm(net: nn.Module, setting: str) -> None:
    """BatchNorm as a TrainConfig's `batchnorm` says: 'torch' leaves PyTorch's defaults; 'recipe'
    (notebook 05) averages its statistics faster (momentum 0.4), with a negligible eps, and keeps
    each channel's scale fixed at 1 (only its bias is trained)."""
    if setting != "recipe":
        return
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum, module.eps = 0.4, 1e-12
            module.weight.requires_grad_(False)


def canonical_model(name: str) -> str:
    """The model's name as the series spells it now (an old alias is translated)."""
    name = ALIASES.get(name, name)
    if name not in MODELS:
        raise ConfigError(
            f"Unknown model {name!r}. The valid names are {', '.join(repr(m) for m in MODELS)}: "
            "'lenet5' is the classic LeNet5, 'lenet5-original' the original experiment's variant "
            "(with a softmax before the loss), 'own-network' the original README's own network, "
            "'whitened-net' the speed records' network of notebook 05 (widths 64/256/256), "
            "'whitened-net-small' the same at 32/128/128 for a CPU."
        )
    return name


def build_model(name: str) -> nn.Module:
    """A freshly initialised network by name (see MODELS)."""
    return MODELS[canonical_model(name)]()


@torch.no_grad()
def count_macs(model: nn.Module, input_shape=(1, 3, 32, 32)) -> int:
    """Multiply-accumulates of one forward pass of one image, over its convolutions and linear
    layers (the rest is small): a training step costs about three times this per image."""
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
        else:
            per_output = module.in_features
        total += output[0].numel() * per_output

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        model.eval()(torch.zeros(input_shape))
    finally:
        for handle in handles:
            handle.remove()
    return total


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def describe(model: nn.Module, input_shape=(1, 3, 32, 32)) -> str:
    """A table of each layer's output shape and trained parameter count, from one forward pass."""
    rows = []

    def recorder(layer_name):
        def record(module, _inputs, output):
            rows.append((layer_name, type(module).__name__, tuple(output.shape[1:]),
                         sum(p.numel() for p in module.parameters() if p.requires_grad)))
        return record

    hooks = [module.register_forward_hook(recorder(layer_name))
             for layer_name, module in model.named_children()]
    with torch.no_grad():
        model.eval()(torch.zeros(input_shape))
    for hook in hooks:
        hook.remove()
    width = max(10, *(len(t) + 1 for _, t, _, _ in rows))
    lines = [f"{'layer':<10}{'type':<{width}}{'output shape':<18}{'parameters':>10}"]
    lines += [f"{n:<10}{t:<{width}}{str(s):<18}{p:>10,}" for n, t, s, p in rows]
    lines.append(f"{'total':<{28 + width}}{count_parameters(model):>10,}")
    return "\n".join(lines)
