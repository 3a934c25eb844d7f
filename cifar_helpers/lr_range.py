"""The learning-rate range test (Smith, "Cyclical learning rates", 2017; fastai's lr_find): train a
hundred or more steps while the rate grows exponentially, watch the smoothed loss, stop when it
diverges, put the weights back, and suggest a rate a little below the one where the loss was
lowest. Written here, not taken from torch-lr-finder, because it must take fit's own step
(train_step, with the run's mixed precision, channels_last and label smoothing) on the
device-resident batches of `prepare`, which that library's DataLoader loop does not."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

from . import flags, paths
from .config import TrainConfig
from .data import CIFAR10
from .device import resolve_device


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
    from .training import mixed_precision, prepare, resolved, train_step

    target = resolve_device(device)
    config = resolved(config, target)
    setup = setup or prepare(config, data, target)
    net, optimizer = setup.net, setup.optimizer
    saved = (copy.deepcopy(net.state_dict()), copy.deepcopy(optimizer.state_dict()),
             setup.generator.get_state())
    ratios = [group["lr"] / config.lr for group in optimizer.param_groups]
    autocast, scaler = mixed_precision(config, target)
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


RESULTS_DIR = f"{paths.RESULTS_DIR}/lr_range"  # shipped range tests, one per network and optimizer
EXPERIMENTS_DIR = "runs/lr_range"                # range tests rerun from a notebook


def result_path(config: TrainConfig, folder: str = RESULTS_DIR):
    """Where the range test of this network, optimizer and batch size is kept: it does not depend
    on the rate or the number of epochs a run then trains with."""
    from .paths import project_path

    return project_path(folder) / f"{config.model}_{config.optimizer}_b{config.batch_size}.json"


def save(result: RangeTest, config: TrainConfig, path) -> None:
    import json
    from dataclasses import asdict

    from .device import environment
    from .records import ensure_writable

    ensure_writable(path.parent)
    path.write_text(json.dumps({"config": config.to_dict(), "environment": environment(resolve_device("auto")),
                                **asdict(result)}, indent=1) + "\n")


def load(path) -> RangeTest:
    import json

    saved = json.loads(path.read_text())
    return RangeTest(**{k: saved[k] for k in ("lrs", "losses", "smoothed", "suggestion", "diverged")})


RAMPS = {"adam": (1e-6, 1.0), "sgd": (1e-4, 100.0)}  # start and end rates of each optimizer's ramp
STEPS = 100  # of a shipped test: at batch 1024 about two epochs' worth of images


def load_or_run(config: TrainConfig, data: CIFAR10, *, rerun: bool = False, device: str = "auto",
                folder: str = RESULTS_DIR, save_to: str = EXPERIMENTS_DIR) -> RangeTest | None:
    """The shipped range test of this network, optimizer and batch size; with rerun=True a new one
    (a hundred training steps: seconds on a GPU, minutes for the own network on a CPU), saved in
    `save_to`: a rerun from a notebook is an experiment and leaves the shipped test as it is.
    None, with a message, when none is shipped and rerun is False."""
    path = result_path(config, folder)
    if path.is_file() and not rerun:
        print(f"Loading the range test in {paths.shown(path)} (rerun it with rerun_lr_range = True).")
        return load(path)
    if not rerun:
        print(f"No range test of {config.model} with {config.optimizer} at batch {config.batch_size} in {path.parent}; "
              "set rerun_lr_range = True to run one.")
        return None
    start, end = RAMPS[config.optimizer]
    result = lr_range_test(config, data, start=start, end=end, steps=STEPS, device=device)
    saved = result_path(config, save_to)
    save(result, config, saved)
    print(f"Saved this range test in {saved}.")
    return result


def main(argv: list[str] | None = None) -> int:
    """`python -m cifar_helpers lr-range`: the range tests the notebooks show, into results/lr_range/."""
    import argparse

    from . import original, recipe
    from .command import run_command
    from .data import load_cifar10

    configs = {"lenet5": original.config("lenet5", 1e-3), "own-network": original.config("own-network", 1e-3),
               "whitened-net": recipe.RECIPE, "whitened-net-small": recipe.CPU_RECIPE}
    parser = argparse.ArgumentParser(prog="python -m cifar_helpers lr-range", description=__doc__)
    parser.add_argument("--models", nargs="+", default=list(configs), choices=list(configs))
    flags.add_device(parser)
    args = parser.parse_args(argv)

    def run_all():
        data = load_cifar10()
        for model in args.models:
            result = load_or_run(configs[model], data, rerun=True, device=args.device, save_to=RESULTS_DIR)
            print(f"{model}: suggestion {result.suggestion:.2g} after {len(result.lrs)} steps"
                  + (" (stopped: diverged)" if result.diverged else ""), flush=True)

    return run_command(run_all)
