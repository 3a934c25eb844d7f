"""Command line: `python -m cifar_helpers train ...`, `... series ...` and the other subcommands below.
Exit codes: see command.py (1 for a helper error, whichever the subcommand)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing

from . import flags
from .command import interrupt_on_sigterm, run_command
from .config import TrainConfig
from .records import format_lr


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field (--batch-size for batch_size), typed and documented by it."""
    defaults = TrainConfig()
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        kind = typing.get_args(hints[f.name]) or (hints[f.name],)
        kind = next(k for k in kind if k is not type(None))
        help_text = f.metadata.get("help", "")
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        else:
            parser.add_argument(flag, type=kind, default=default, choices=f.metadata.get("choices"),
                                help=help_text + (f" (default: {default})" if default is not None else ""))


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})


def _train_parser(sub) -> None:
    p = sub.add_parser("train", help="train one network and write its run record")
    add_config_flags(p)
    flags.add_device(p)
    p.add_argument("--runs-dir", default="runs")
    p.add_argument("--name", default=None, help="run folder name (default: from the configuration)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue an interrupted run")
    flags.add_progress(p)


def _train(args) -> int:
    from .training import fit

    interrupt_on_sigterm()
    config = None if args.resume else config_from_args(args)
    run = fit(config, device=args.device, runs_dir=args.runs_dir, name=args.name, progress=args.progress,
              resume=args.resume)
    final, config = run.record["final"], run.config
    print(f"{run.path}: {config.model} lr={format_lr(config.lr)}, {len(run.record['history'])} "
          f"epoch(s): test accuracy {final['test_acc']:.2f}%"
          + (f", training-set accuracy {final['train_eval_acc']:.2f}%" if "train_eval_acc" in final else "")
          + (" (collapsed: one class predicted for every image)" if run.record.get("collapsed") else ""))
    return 0


def _slim(argv: list[str]) -> None:
    from .records import slim_checkpoint

    parser = argparse.ArgumentParser(prog="python -m cifar_helpers slim-checkpoint",
                                     description=slim_checkpoint.__doc__)
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    for run_dir in parser.parse_args(argv).run_dirs:
        before, after = slim_checkpoint(run_dir)
        print(f"{run_dir}: checkpoint {before / 2**20:.1f} MB -> {after / 2**20:.1f} MB")


def _data(argv: list[str]) -> None:
    from .data import locate_cifar10

    parser = argparse.ArgumentParser(prog="python -m cifar_helpers data",
                                     description="Say where CIFAR-10 is; download it into data/ if no copy is found.")
    parser.add_argument("--no-download", dest="download", action="store_false",
                        help="only look for a local copy")
    args = parser.parse_args(argv)
    print(f"CIFAR-10: {locate_cifar10(download=args.download)}")


def _readme_table(argv: list[str]) -> None:
    from .paths import REPO
    from .tables import update_generated_blocks

    argparse.ArgumentParser(prog="python -m cifar_helpers readme-table",
                            description=SUBCOMMANDS["readme-table"][2]).parse_args(argv)
    changed = update_generated_blocks()
    print("tables updated in " + ", ".join(str(p.relative_to(REPO)) for p in changed) if changed
          else "tables already up to date")


def data_main(argv: list[str]) -> int:
    return run_command(_data, argv)


def slim_main(argv: list[str]) -> int:
    return run_command(_slim, argv)


def readme_table_main(argv: list[str]) -> int:
    return run_command(_readme_table, argv)


# Every subcommand but train: (module, function taking its own arguments and returning the exit code, help).
SUBCOMMANDS = {
    "data": (".cli", "data_main", "where CIFAR-10 is; download it if no copy is found"),
    "series": (".series", "main", "run notebooks 01-05 headless (see: series --help)"),
    "reproduce": (".reproduce", "main", "train the original table's configurations (see: reproduce --help)"),
    "recipe": (".reproduce", "recipe_main",
               "notebook 05's fast recipe over seeds, or its ablation (see: recipe --help)"),
    "sweep": (".sweep", "main", "notebooks 02/03 over learning rates and seeds, on Dask (see: sweep --help)"),
    "lr-range": (".lr_range", "main", "the learning-rate range tests the notebooks show (see: lr-range --help)"),
    "site": (".site", "main", "build the website of a job's executed notebooks (see: site --help)"),
    "student": (".classroom", "student_main", "rebuild the student version of the notebooks in student/ with nbgrader"),
    "course": (".classroom", "course_main", "set up an nbgrader course folder for a teacher (see: course --help)"),
    "readme-table": (".cli", "readme_table_main", "regenerate the generated tables of README.md and docs/"),
    "strip-outputs": (".notebook_outputs", "main", "remove unchecked outputs from notebooks (for committing)"),
    "slim-checkpoint": (".cli", "slim_main", "drop the resume-only state from complete runs' checkpoints"),
}


def main(argv: list[str] | None = None) -> int:
    import importlib

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0] in SUBCOMMANDS:
        module, function, _ = SUBCOMMANDS[argv[0]]
        return getattr(importlib.import_module(module, __package__), function)(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m cifar_helpers", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    for name, (_, _, help_text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_text)
    args = parser.parse_args(argv)
    return run_command(_train, args)
