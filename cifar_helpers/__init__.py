"""Helpers for the cifar-notebooks series: CIFAR-10 data, the networks, the training loop and
run records. The notebooks import from here so that they can stay a story.

Public names: load_cifar10, build_model, TrainConfig, fit, load_runs (and a few more, listed in __all__).
"""

from . import original, recipe
from .config import TrainConfig
from .data import CIFAR10, CLASSES, balanced_subset, load_cifar10
from .errors import CifarHelpersError, ConfigError, DatasetError, DivergenceError, PhotoError, RunsFolderError
from .models import LeNet5, OriginalLeNet5, OwnNetwork, WhitenedNet, build_model, count_parameters
from .records import ensure_writable, format_lr, load_runs
from .training import Run, find_run, fit, fit_or_load, load_run, train_step

__all__ = [
    "original", "recipe", "TrainConfig",
    "CIFAR10", "CLASSES", "balanced_subset", "load_cifar10",
    "CifarHelpersError", "ConfigError", "DatasetError", "DivergenceError", "PhotoError", "RunsFolderError",
    "LeNet5", "OriginalLeNet5", "OwnNetwork", "WhitenedNet", "build_model", "count_parameters",
    "ensure_writable", "format_lr", "load_runs",
    "Run", "find_run", "fit", "fit_or_load", "load_run", "train_step",
]
