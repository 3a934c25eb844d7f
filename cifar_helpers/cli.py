"""Command line: `python -m cifar_helpers train ...`, `... series ...` and the other subcommands below."""

from __future__ import annotations

import argparse
import signal
import sys

from .errors import CifarHelpersError
from .models import MODELS
from .data import NORMALIZATIONS
from .validate import DEVICES, OPTIMIZERS, PRECISIONS


def interrupt_on_sigterm() -> None:
    """SIGTERM (a scheduler, `kill`) ends a run like Ctrl-C: the last epoch is kept."""
    def handler(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, handler)


def _train_parser(sub) -> None:
    p = sub.add_parser("train", help="train one network and write its run record")
    p.add_argument("--model", default="lenet5", choices=list(MODELS))
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--optimizer", default="adam", choices=OPTIMIZERS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--normalization", default="cifar10", choices=NORMALIZATIONS)
    p.add_argument("--subset", type=int, default=None, help="train on this many images (class-balanced)")
    p.add_argument("--test-subset", type=int, default=None, help="evaluate on this many test images")
    p.add_argument("--augment", action="store_true", help="random crops and horizontal flips")
    p.add_argument("--no-eval-train", dest="eval_train", action="store_false",
                   help="skip the eval-mode pass over the training set each epoch")
    p.add_argument("--precision", default="auto", choices=PRECISIONS)
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--runs-dir", default="runs")
    p.add_argument("--name", default=None, help="run folder name (default: from the configuration)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue an interrupted run")
    p.add_argument("--no-progress", dest="progress", action="store_false")


def _train(args) -> int:
    from .training import fit

    interrupt_on_sigterm()
    options = vars(args).copy()
    del options["command"]
    try:
        run = fit(**options)
    except KeyboardInterrupt:
        return 130
    final = run.record["final"]
    print(f"{run.path}: {run.config['model']} lr={run.config['lr']:g}, {len(run.record['history'])} "
          f"epoch(s): test accuracy {final['test_acc']:.2f}%"
          + (f", training-set accuracy {final['train_eval_acc']:.2f}%" if "train_eval_acc" in final else "")
          + (" (collapsed: one class predicted for every image)" if run.record.get("collapsed") else ""))
    return 0


def _slim(argv: list[str]) -> int:
    from .records import slim_checkpoint

    parser = argparse.ArgumentParser(prog="python -m cifar_helpers slim-checkpoint",
                                     description=slim_checkpoint.__doc__)
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    for run_dir in parser.parse_args(argv).run_dirs:
        try:
            before, after = slim_checkpoint(run_dir)
        except CifarHelpersError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{run_dir}: checkpoint {before / 2**20:.1f} MB -> {after / 2**20:.1f} MB")
    return 0


def _data(argv: list[str]) -> int:
    from .data import locate_cifar10

    parser = argparse.ArgumentParser(prog="python -m cifar_helpers data",
                                     description="Say where CIFAR-10 is; download it into data/ if no copy is found.")
    parser.add_argument("--no-download", dest="download", action="store_false",
                        help="only look for a local copy")
    args = parser.parse_args(argv)
    try:
        print(f"CIFAR-10: {locate_cifar10(download=args.download)}")
    except CifarHelpersError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["data"]:
        return _data(argv[1:])
    if argv[:1] == ["series"]:
        from .series import main as series_main

        return series_main(argv[1:])
    if argv[:1] == ["reproduce"]:
        from .reproduce import main as reproduce_main

        return reproduce_main(argv[1:])
    if argv[:1] == ["sweep"]:
        from .series import sweep_main

        return sweep_main(argv[1:])
    if argv[:1] == ["readme-table"]:
        from .compare import update_readme
        from .paths import REPO

        changed = update_readme(REPO / "README.md", REPO / "results")
        print("README.md results table " + ("updated" if changed else "already up to date"))
        return 0
    if argv[:1] == ["strip-outputs"]:
        from .notebook_outputs import main as strip_main

        return strip_main(argv[1:])
    if argv[:1] == ["slim-checkpoint"]:
        return _slim(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m cifar_helpers", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    sub.add_parser("data", help="where CIFAR-10 is; download it if no copy is found")
    sub.add_parser("series", help="run notebooks 01-04 headless (see: series --help)")
    sub.add_parser("reproduce", help="train the seed table's configurations (see: reproduce --help)")
    sub.add_parser("sweep", help="notebooks 02/03 over four learning rates (see: sweep --help)")
    sub.add_parser("readme-table", help="regenerate README.md's results table from results/")
    sub.add_parser("strip-outputs", help="remove unchecked outputs from notebooks (for committing)")
    sub.add_parser("slim-checkpoint", help="drop the resume-only state from complete runs' checkpoints")
    args = parser.parse_args(argv)
    try:
        return _train(args)
    except CifarHelpersError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
