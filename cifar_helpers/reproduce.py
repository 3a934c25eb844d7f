"""Reproduce the seed README's table as the original ran it: Adam, batch 1024, no augmentation,
ImageNet normalization; LeNet5 (both variants) and the own network at lr 1e-2 for 20 epochs and
1e-3 for 40, over several seeds. Finished runs in the output folder are skipped and interrupted
ones resumed, so the job can be stopped and started again at no loss. `--lrs` keeps one row.

    python -m cifar_helpers reproduce --runs-dir results --seeds 0 1 2
    python -m cifar_helpers reproduce --models mycnn --lrs 1e-2 --seeds 4
"""

from __future__ import annotations

import argparse
import sys

from .errors import CifarHelpersError
from .paths import project_path

TABLE = ((1e-3, 40), (1e-2, 20))
ORIGINAL = dict(batch_size=1024, optimizer="adam", normalization="imagenet", augment=False)


def configurations(models, seeds, lrs=None):
    """Cheap configurations first, so results arrive early: seed by seed, LeNet5 before mycnn."""
    rows = [(lr, epochs) for lr, epochs in TABLE if lrs is None or lr in lrs]
    unknown = [lr for lr in lrs or () if lr not in dict(TABLE)]
    if unknown:
        raise CifarHelpersError(f"The seed's table has no row at lr {', '.join(f'{lr:g}' for lr in unknown)}: "
                                f"its learning rates are {' and '.join(f'{lr:g}' for lr, _ in TABLE)}. "
                                "Pass one of those to --lrs, or leave --lrs out for both.")
    for seed in seeds:
        for model in models:
            for lr, epochs in rows:
                yield dict(ORIGINAL, model=model, lr=lr, epochs=epochs, seed=seed)


def reproduce(models, seeds, runs_dir: str, device: str = "auto", progress: bool = True, lrs=None) -> None:
    from .data import load_cifar10
    from .training import find_run, fit

    configs = list(configurations(models, seeds, lrs))
    folder = project_path(runs_dir)
    data = load_cifar10()
    for config in configs:
        label = f"{config['model']} lr={config['lr']:g} epochs={config['epochs']} seed={config['seed']}"
        if find_run([folder], with_checkpoint=False, **config, subset=None, test_subset=None) is not None:
            print(f"done already: {label}", flush=True)
            continue
        unfinished = find_run([folder], status="interrupted", **config)
        print(f"{'resuming' if unfinished else 'training'}: {label}", flush=True)
        if unfinished:
            fit(data=data, resume=unfinished, device=device, progress=progress)
        else:
            fit(data=data, device=device, progress=progress, runs_dir=folder, **config)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cifar_helpers reproduce", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["lenet5-seed", "lenet5", "mycnn"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--lrs", nargs="+", type=float, default=None,
                        help="only these of the table's learning rates (default: 1e-3 and 1e-2)")
    parser.add_argument("--runs-dir", default="results")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    args = parser.parse_args(argv)
    from .cli import interrupt_on_sigterm

    interrupt_on_sigterm()
    try:
        reproduce(args.models, args.seeds, args.runs_dir, device=args.device, progress=args.progress,
                  lrs=args.lrs)
    except KeyboardInterrupt:
        return 130
    except CifarHelpersError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
