"""Checks every entry point (fit, the command line, notebook parameters) runs before any work."""

from __future__ import annotations

import math
import numbers

import torch

from .data import NORMALIZATIONS
from .errors import ConfigError
from .models import MODELS

OPTIMIZERS = ("adam", "sgd")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda", "mps")


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _positive_int(name: str, value, allow_none: bool = False, limit: int | None = None) -> None:
    if value is None and allow_none:
        return
    if not _is_int(value) or value <= 0:
        hint = " or None for all of them" if allow_none else ""
        raise ConfigError(f"{name} must be a positive whole number{hint}, but got {value!r} "
                          f"({type(value).__name__}). For example: {name}=2000.")
    if limit is not None and value > limit:
        raise ConfigError(f"{name}={value} asks for more images than the {limit} available; "
                          f"use at most {limit}, or None for all of them.")


def _choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ConfigError(f"Unknown {name} {value!r}. Use one of: {', '.join(map(repr, choices))}.")


def check_lr(lr) -> None:
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(lr) or lr <= 0:
        raise ConfigError(
            f"lr (the learning rate) must be a positive finite number such as 0.001, but got "
            f"{lr!r} ({type(lr).__name__}). With papermill, pass it as a number: -p lr 0.001."
        )


def check_device(device: str) -> None:
    _choice("device", device, DEVICES)
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' was asked for, but PyTorch sees no CUDA GPU on this "
                          "machine. Use device='auto' (the best device present) or device='cpu'.")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device='mps' was asked for, but this machine has no Apple GPU that "
                          "PyTorch can use. Use device='auto' or device='cpu'.")


def check_params(*, model="lenet5", lr=1e-3, epochs=1, batch_size=1024, optimizer="adam", seed=0,
                 normalization="cifar10", subset=None, test_subset=None, precision="auto",
                 device="auto", n_train: int = 50000, n_test: int = 10000, **_ignored) -> None:
    """Raise ConfigError, in one sentence or two, for the first bad parameter.

    Extra keyword arguments are ignored, so a notebook can pass all of its parameters."""
    _choice("model", model, tuple(MODELS))
    check_lr(lr)
    _positive_int("epochs", epochs)
    _positive_int("batch_size", batch_size)
    _choice("optimizer", optimizer, OPTIMIZERS)
    if not _is_int(seed) or seed < 0:
        raise ConfigError(f"seed must be a whole number >= 0, but got {seed!r}.")
    _choice("normalization", normalization, NORMALIZATIONS)
    _positive_int("subset", subset, allow_none=True, limit=n_train)
    _positive_int("test_subset", test_subset, allow_none=True, limit=n_test)
    _choice("precision", precision, PRECISIONS)
    check_device(device)
