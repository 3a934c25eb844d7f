"""Does a run die in its first steps? For each seed, trains the first `--steps` batches exactly as
fit() starts that run (same initial weights, same batches; fp32), then reports the loss of every
step, how many ReLU units of each layer still fire on 1,000 test images, and how many classes the
network answers. At Adam lr 1e-2 the own network stops learning within a few dozen steps for some
seeds (its loss stays at ln 10 = 2.303, its ReLUs stop firing) and learns for others.

    .venv/bin/python scripts/dead_starts.py --model own-network --lr 1e-2 --seeds 0 1 2 3 4 --steps 30

Writes results/dead_starts_<model>_lr<lr>.json (configuration, environment, one entry per seed).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cifar_helpers import flags  # noqa: E402
from cifar_helpers import format_lr, load_cifar10, original, records  # noqa: E402
from cifar_helpers.config import TrainConfig  # noqa: E402
from cifar_helpers.device import environment, resolve_device  # noqa: E402
from cifar_helpers.evaluate import active_units, predict  # noqa: E402
from cifar_helpers.training import prepare, train_step  # noqa: E402

# Learning, not stuck: the mean loss of the last 5 steps this far under ln 10 (chance).
LEARNING_MARGIN = 0.05
PROBE_IMAGES = 1000


def first_steps(config: TrainConfig, steps: int, data, target) -> dict:
    setup = prepare(config, data, target)
    net = setup.net
    net.train()
    losses = []
    for x, y in setup.batches["train"]:
        if len(losses) == steps:
            break
        loss, _ = train_step(net, setup.optimizer, x, y)  # fit's own step, in fp32
        losses.append(loss.item())
    units = active_units(net, data, config.normalization, subset=PROBE_IMAGES)
    predicted, _ = predict(net, data, config.normalization, subset=PROBE_IMAGES)
    tail = sum(losses[-5:]) / len(losses[-5:])
    return {"seed": config.seed, "losses": losses, "active_units_pct": units.round(1).to_dict(),
            "classes_predicted": int(predicted.unique().numel()),
            "learning": tail < math.log(10) - LEARNING_MARGIN}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="own-network")
    parser.add_argument("--lr", type=float, default=1e-2)
    flags.add_seeds(parser, default=[0, 1, 2, 3, 4])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--subset", type=int, default=None, help="train on a class-balanced subset")
    flags.add_device(parser)
    parser.add_argument("--out", default=None, help="JSON file (default results/dead_starts_<model>_lr<lr>.json)")
    args = parser.parse_args(argv)

    target = resolve_device(args.device)
    base = original.RECIPE.replace(model=args.model, lr=args.lr, subset=args.subset, precision="fp32",
                                   channels_last=target.type in ("cuda", "cpu"))
    data = load_cifar10()
    report = {"command": "scripts/dead_starts.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "config": dict(base.to_dict(), steps=args.steps, probe_images=PROBE_IMAGES),
              "environment": environment(target), "created": records.now(), "seeds": []}
    for seed in args.seeds:
        entry = first_steps(base.replace(seed=seed), args.steps, data, target)
        report["seeds"].append(entry)
        units = ", ".join(f"{k} {v:.0f}%" for k, v in entry["active_units_pct"].items())
        print(f"seed {seed}: loss {entry['losses'][0]:.3f} -> {entry['losses'][-1]:.3f}, "
              f"{'learning' if entry['learning'] else 'stuck at chance'}; "
              f"{entry['classes_predicted']} classes answered; active units: {units}", flush=True)
    out = Path(args.out or ROOT / "results" / f"dead_starts_{args.model}_lr{format_lr(args.lr)}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
