"""Command-line flags that several commands share, declared once so that they read and check alike
everywhere (the subcommands, benchmarks/ and scripts/)."""

from __future__ import annotations

import argparse

from .validate import DEVICES

SEEDS = [0, 1, 2]


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", choices=DEVICES,
                        help="auto picks CUDA, then Apple MPS, then the CPU (default: auto)")


def add_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")


def add_seeds(parser: argparse.ArgumentParser, default: list[int] = SEEDS) -> None:
    parser.add_argument("--seeds", nargs="+", type=int, default=list(default),
                        help=f"random seeds, one run each (default: {' '.join(map(str, default))})")
