"""Does the original LeNet5's collapse at Adam lr 1e-2 show on a part of the training set, and does
taking out its softmax cure it there? Notebook 02's aside on a short run makes that claim; this
checks it. For each seed, the original variant (fc 400-512-84-10, softmax) and the
same layers returning logits train `--steps` batches of `--batch` images from a class-balanced
`--images`-image subset (ImageNet normalization, fp32, train_step), then answer 1,000 test images.

    .venv/bin/python scripts/subset_softmax.py --seeds 0 1 2

Writes results/subset_softmax_lr1e-2.json (settings, environment, one entry per variant and seed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from cifar_helpers import flags  # noqa: E402
from cifar_helpers import LeNet5, OriginalLeNet5, load_cifar10, train_step  # noqa: E402
from cifar_helpers.batches import Batches  # noqa: E402
from cifar_helpers.device import environment, resolve_device  # noqa: E402


class LogitsLeNet5(OriginalLeNet5):
    """The original variant's layers, no softmax."""

    def forward(self, x):
        return LeNet5.forward(self, x)


def train(variant, seed: int, data, args) -> dict:
    torch.manual_seed(seed)
    net = variant()
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
    mean, std = data.normalization("imagenet")
    images, labels = data.split("train", args.images)
    batches = Batches(images, labels, args.batch, mean, std, "cpu", shuffle=True,
                      generator=torch.Generator().manual_seed(seed))
    net.train()
    losses = []
    while len(losses) < args.steps:
        for x, y in batches:
            losses.append(train_step(net, optimizer, x, y)[0].item())
            if len(losses) == args.steps:
                break
    net.eval()
    test_images, test_labels = data.split("test", 1000)
    with torch.no_grad():
        predicted = torch.cat([net(x).argmax(1) for x, _ in Batches(test_images, test_labels, 1000, mean, std, "cpu")])
    return {"variant": variant.__name__, "seed": seed, "last_loss": losses[-1],
            "test_acc_1000": 100 * (predicted == test_labels).float().mean().item(),
            "classes_predicted": len(predicted.unique()),
            "top_class_share": predicted.bincount().max().item() / len(predicted)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    flags.add_seeds(parser)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--out", default=str(ROOT / "results" / "subset_softmax_lr1e-2.json"))
    args = parser.parse_args()
    data = load_cifar10()
    runs = []
    for variant in (OriginalLeNet5, LogitsLeNet5):
        for seed in args.seeds:
            runs.append(train(variant, seed, data, args))
            print(runs[-1], flush=True)
    Path(args.out).write_text(json.dumps({"settings": vars(args), "environment": environment(resolve_device("cpu")),
                                          "runs": runs}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
