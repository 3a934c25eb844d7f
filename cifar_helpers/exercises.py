"""Autograders of the notebooks' exercises: each one runs the student's answer and the library's
own version on the same inputs and, when they disagree, says in one sentence what is likely wrong.
A failed check raises AssertionError, which nbgrader counts as a failed test cell."""

from __future__ import annotations

import math

import torch

from .batches import Batches
from .data import CIFAR10
from .models import build_model
from .training import train_step


def _training_batches(data: CIFAR10, images: int, batch_size: int, seed: int) -> Batches:
    """A class-balanced part of the training set, reshuffled on every pass by its own generator:
    two of these with the same seed serve the same batches in the same order."""
    x, y = data.split("train", images)
    return Batches(x, y, batch_size, *data.normalization(), "cpu", shuffle=True,
                   generator=torch.Generator().manual_seed(seed))


def _start(seed: int, optimizer: str, lr: float):
    """LeNet5 with the seed's initial weights, and its optimizer."""
    torch.manual_seed(seed)
    net = build_model("lenet5")
    if optimizer == "adam":
        return net, torch.optim.Adam(net.parameters(), lr=lr)
    return net, torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)


def _library_loop(data: CIFAR10, steps: dict) -> tuple[torch.nn.Module, list[float]]:
    """The same training with the library's train_step: the weights and losses to match."""
    net, optimizer = _start(steps["seed"], steps["optimizer"], steps["lr"])
    batches = _training_batches(data, steps["images"], steps["batch_size"], steps["seed"])
    net.train()
    losses = [train_step(net, optimizer, x, y)[0].item() for _ in range(steps["passes"]) for x, y in batches]
    return net, losses


def _first_difference(got: list[float], expected: list[float]) -> int | None:
    for i, (a, b) in enumerate(zip(got, expected)):
        if not math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6):
            return i
    return None


def _explain_losses(got: list[float], expected: list[float]) -> None:
    """Which step's loss first differs from train_step's tells which of the five steps is wrong."""
    i = _first_difference(got, expected)
    if i == 0:
        raise AssertionError(
            f"The loss of your first step is {got[0]:.4f} where train_step's is {expected[0]:.4f} on the same "
            "batch and weights: compute F.cross_entropy(net(x), y) on the network's logits (no softmax before "
            "it) and append loss.item() for every batch.")
    if i == 1:
        raise AssertionError(
            f"Your first update is not train_step's (your second loss is {got[1]:.4f}, train_step's "
            f"{expected[1]:.4f}): call step() on the optimizer you are given, after loss.backward(), in the order "
            "zero_grad, forward, loss, backward, step.")
    if i is not None:
        raise AssertionError(
            f"Your losses match train_step's for {i} steps and then drift apart ({got[i]:.4f} instead of "
            f"{expected[i]:.4f} at step {i + 1}): gradients add up from step to step unless you call "
            "optimizer.zero_grad() before loss.backward().")


def check_training_loop(train_loop, data: CIFAR10, *, images: int = 2000, batch_size: int = 25, passes: int = 3,
                        optimizer: str = "adam", lr: float = 1e-3, seed: int = 0) -> list[float]:
    """Exercise 2.1: `train_loop(net, optimizer, batches, passes)` must train LeNet5 as the library's
    train_step does. Both start from the same initial weights and see the same batches in the same
    order (`images` class-balanced training images, `passes` passes); the check asserts training
    mode, the same loss at every step, the same weights at the end, and a falling loss. Returns
    the student's losses. A few hundred steps: seconds on a CPU."""
    steps = dict(images=images, batch_size=batch_size, passes=passes, optimizer=optimizer, lr=lr, seed=seed)
    expected_net, expected = _library_loop(data, steps)
    net, opt = _start(seed, optimizer, lr)
    net.eval()  # the loop must switch to training mode itself
    modes = []
    hook = net.register_forward_pre_hook(lambda module, inputs: modes.append(module.training))
    try:
        returned = train_loop(net, opt, _training_batches(data, images, batch_size, seed), passes)
    finally:
        hook.remove()
    if not isinstance(returned, (list, tuple)) or len(returned) != len(expected):
        count = len(returned) if isinstance(returned, (list, tuple)) else type(returned).__name__
        raise AssertionError(f"train_loop returned {count} instead of a list of {len(expected)} losses, one per "
                             f"step ({passes} passes of {len(expected) // passes} batches): append loss.item() "
                             "after each step and return the list.")
    assert modes and all(modes), ("Your loop ran the network in evaluation mode: call net.train() before the "
                                  "first step (notebook 02, 'Training mode and evaluation mode').")
    got = [float(loss) for loss in returned]
    _explain_losses(got, expected)
    for (name, theirs), ours in zip(net.state_dict().items(), expected_net.state_dict().values()):
        assert torch.allclose(theirs, ours, rtol=1e-4, atol=1e-6), (
            f"Your weights ({name}) differ from train_step's after the same {len(expected)} steps although every "
            "loss matched: did the last batch get its optimizer.step()?")
    first, last = sum(got[:20]) / len(got[:20]), sum(got[-20:]) / len(got[-20:])
    assert last < first - 0.1, (f"The loss did not fall (mean {first:.3f} over the first 20 steps, {last:.3f} over "
                                "the last 20): train on the batches given, with the optimizer given.")
    return got
