"""The checks behind every entry point (TrainConfig, the command line, notebook parameters): each
raises ConfigError in a sentence or two, before any work is done."""

from __future__ import annotations

import math
import numbers

import torch

from .errors import ConfigError

OPTIMIZERS = ("adam", "sgd")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda", "mps")


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_positive_int(name: str, value, allow_none: bool = False, limit: int | None = None) -> None:
    if value is None and allow_none:
        return
    if not _is_int(value) or value <= 0:
        hint = " or None for all of them" if allow_none else ""
        raise ConfigError(f"{name} must be a positive whole number{hint}, but got {value!r} "
                          f"({type(value).__name__}). For example: {name}=2000.")
    if limit is not None and value > limit:
        raise ConfigError(f"{name}={value} asks for more images than the {limit} available; "
                          f"use at most {limit}, or None for all of them.")


def check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ConfigError(f"Unknown {name} {value!r}. Use one of: {', '.join(map(repr, choices))}.")


def check_number(name: str, value, low: float = 0.0, high: float = math.inf) -> None:
    """A finite real number in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or not low <= value <= high:
        within = f"from {low:g} to {high:g}" if math.isfinite(high) else f"of at least {low:g}"
        raise ConfigError(f"{name} must be a number {within}, but got {value!r}.")


def check_seed(seed) -> None:
    if not _is_int(seed) or seed < 0:
        raise ConfigError(f"seed must be a whole number >= 0, but got {seed!r}.")


def check_lr(lr) -> None:
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(lr) or lr <= 0:
        raise ConfigError(
            f"lr (the learning rate) must be a positive finite number such as 0.001, but got "
            f"{lr!r} ({type(lr).__name__}). With papermill, pass it as a number: -p lr 0.001."
        )


def check_device(device: str) -> None:
    check_choice("device", device, DEVICES)
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' was asked for, but PyTorch sees no CUDA GPU on this "
                          "machine. Use device='auto' (the best device present) or device='cpu'.")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device='mps' was asked for, but this machine has no Apple GPU that "
                          "PyTorch can use. Use device='auto' or device='cpu'.")
