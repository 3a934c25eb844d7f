"""Notebook 02's first training run, the loop after `show_code(train_step)` with its default
parameters (LeNet5, Adam, all 50,000 training images in shuffled batches of 64, ImageNet
normalization, three passes, the 10,000 test images after each), at the rates Question 2.1 asks
about and for three seeds: what the question's model answer says happens, and how long a pass takes.

    .venv/bin/python scripts/first_run.py [--rates 1e-3 1e-2 1e-1] [--seeds 0 1 2] [--passes 3]

Writes results/first_run.json: for each rate and seed, each pass's mean and highest batch loss,
running accuracy, test accuracy, classes predicted on the test set and seconds (training and test);
with the machine, its threads and the commit. Run it alone on the machine: the seconds are wall time."""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from cifar_helpers import build_model, load_cifar10, train_step  # noqa: E402
from cifar_helpers.batches import Batches  # noqa: E402
from cifar_helpers.device import code_version, machine  # noqa: E402
from cifar_helpers.evaluate import predict  # noqa: E402

OUT = ROOT / "results" / "first_run.json"


def passes(data, lr: float, seed: int, n: int, batch: int = 64, normalization: str = "imagenet") -> list[dict]:
    """The notebook's loop, step for step (its cell 'train-step-loop'), measured."""
    torch.manual_seed(seed)
    net = build_model("lenet5")
    adam = torch.optim.Adam(net.parameters(), lr=lr)
    images, labels = data.split("train", None)
    batches = Batches(images, labels, batch, *data.normalization(normalization), "cpu", shuffle=True,
                      generator=torch.Generator().manual_seed(seed))
    rows = []
    for epoch in range(1, n + 1):
        start = time.perf_counter()
        net.train()
        correct, losses = 0, []
        for x, y in batches:
            loss, out = train_step(net, adam, x, y)
            losses.append(loss.item())
            correct += (out.argmax(1) == y).sum().item()
        predicted, truth = predict(net, data, normalization=normalization)
        rows.append({"epoch": epoch, "train_loss": sum(losses) / len(losses), "highest_loss": max(losses),
                     "train_acc": 100 * correct / batches.num_images,
                     "test_acc": 100 * (predicted == truth).float().mean().item(),
                     "test_classes_predicted": len(predicted.unique()),
                     "seconds": round(time.perf_counter() - start, 2)})
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[1e-3, 1e-2, 1e-1])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args(argv)
    version = code_version()  # the code as it starts: edits made while it runs are not its
    data = load_cifar10()
    runs = []
    for lr in args.rates:
        for seed in args.seeds:
            runs.append({"lr": lr, "seed": seed, "passes": passes(data, lr, seed, args.passes)})
            last = runs[-1]["passes"][-1]
            print(f"lr {lr:g} seed {seed}: loss {last['train_loss']:.3f}, test {last['test_acc']:.1f}%, "
                  f"{sum(p['seconds'] for p in runs[-1]['passes']):.0f} s", flush=True)
    OUT.write_text(json.dumps({"what": "notebook 02's first training run (scripts/first_run.py)",
                               "settings": {"model": "lenet5", "optimizer": "adam", "batch_size": 64,
                                            "images": 50000, "normalization": "imagenet", "device": "cpu"},
                               "machine": machine(torch.device("cpu")), **version,
                               "date": datetime.date.today().isoformat(), "runs": runs}, indent=1) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
