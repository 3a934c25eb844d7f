"""Reproduce the original README's table as the original ran it (original.RECIPE): LeNet5 (both
variants) and the own network at lr 1e-2 for 20 epochs and 1e-3 for 40, over several seeds.
Finished runs in the output folder are skipped and interrupted ones resumed, so the job can be
stopped and started again at no loss. `--lrs` keeps one row.

    python -m cifar_helpers reproduce --runs-dir results --seeds 0 1 2
    python -m cifar_helpers reproduce --models own-network --lrs 1e-2 --seeds 4
"""

from __future__ import annotations

import argparse

from . import original
from . import flags
from .command import interrupt_on_sigterm, run_command
from .errors import ConfigError
from .paths import RESULTS_DIR, project_path
from .records import format_lr


def configurations(models, seeds, lrs=None):
    """Cheap configurations first, so results arrive early: seed by seed, LeNet5 before the own network."""
    unknown = [lr for lr in lrs or () if lr not in original.EPOCHS]
    if unknown:
        raise ConfigError(f"The original's table has no row at lr {', '.join(map(format_lr, unknown))}: "
                          f"its learning rates are {' and '.join(map(format_lr, original.EPOCHS))}. "
                          "Pass one of those to --lrs, or leave --lrs out for both.")
    rates = [lr for lr in original.EPOCHS if lrs is None or lr in lrs]
    for seed in seeds:
        for model in models:
            for lr in rates:
                yield original.config(model, lr, seed)


def reproduce(models, seeds, runs_dir: str, device: str = "auto", progress: bool = True, lrs=None) -> None:
    train_all(list(configurations(models, seeds, lrs)), runs_dir, device, progress)


def train_all(configs, runs_dir: str, device: str = "auto", progress: bool = True, names=None) -> None:
    """Train each configuration into runs_dir, in order (folders named by `names` where given):
    finished runs are skipped, interrupted ones resumed."""
    from .data import load_cifar10
    from .training import find_run, fit

    folder = project_path(runs_dir)
    data = load_cifar10()
    for config, name in zip(configs, names or [None] * len(configs)):
        label = name or f"{config.model} lr={format_lr(config.lr)} epochs={config.epochs} seed={config.seed}"
        if find_run([folder], config, with_checkpoint=False) is not None:
            print(f"done already: {label}", flush=True)
            continue
        unfinished = find_run([folder], config, status="interrupted")
        print(f"{'resuming' if unfinished else 'training'}: {label}", flush=True)
        fit(config, data, device=device, progress=progress, runs_dir=folder, name=name, resume=unfinished)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cifar_helpers reproduce", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["lenet5-original", "lenet5", "own-network"])
    flags.add_seeds(parser)
    parser.add_argument("--lrs", nargs="+", type=float, default=None,
                        help="only these of the table's learning rates (default: 1e-3 and 1e-2)")
    parser.add_argument("--runs-dir", default=RESULTS_DIR)
    flags.add_device(parser)
    flags.add_progress(parser)
    args = parser.parse_args(argv)
    interrupt_on_sigterm()
    return run_command(reproduce, args.models, args.seeds, args.runs_dir, device=args.device,
                       progress=args.progress, lrs=args.lrs)


def recipe_main(argv: list[str] | None = None) -> int:
    """`python -m cifar_helpers recipe`: notebook 05's recipe over seeds, and its ablation."""
    from . import recipe

    parser = argparse.ArgumentParser(prog="python -m cifar_helpers recipe", description=recipe.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["whitened-net-small", "whitened-net"])
    flags.add_seeds(parser)
    parser.add_argument("--ablation", action="store_true",
                        help="instead: the CPU width without each ingredient in turn (recipe.INGREDIENTS)")
    parser.add_argument("--ingredients", nargs="+", choices=list(recipe.INGREDIENTS), metavar="INGREDIENT",
                        default=list(recipe.INGREDIENTS),
                        help="with --ablation: only these rows, e.g. 'warm-up' 'decay' (default: all)")
    parser.add_argument("--runs-dir", help="default: results/recipe, or results/recipe-ablation with --ablation")
    flags.add_device(parser)
    flags.add_progress(parser)
    args = parser.parse_args(argv)
    if args.ablation:
        runs = [(recipe.ablation_name(name, seed), recipe.without(name).replace(seed=seed))
                for seed in args.seeds for name in args.ingredients]
        runs_dir = args.runs_dir or recipe.ABLATION_DIR
    else:
        runs = [(None, recipe.RECIPE.replace(model=model, seed=seed)) for model in args.models for seed in args.seeds]
        runs_dir = args.runs_dir or recipe.RUNS_DIR
    names, configs = zip(*runs)
    interrupt_on_sigterm()
    return run_command(train_all, list(configs), runs_dir, device=args.device, progress=args.progress,
                       names=list(names))
