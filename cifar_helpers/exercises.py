"""The exercises' reference versions and autograders: what the cells after an exercise use (so
they do not depend on the student's answer) and what its hidden tests check against.
An autograder fails with one sentence that says what to look at."""

from __future__ import annotations

import math

import torch
from torch import nn

from .batches import Batches
from .data import CIFAR10
from .evaluate import predict
from .models import OwnNetwork, build_model, count_parameters
from .paths import RESULTS_DIR
from .records import read_checkpoint, read_record
from .training import train_step

# The shipped run whose weights a student's own network must load (notebook 03, Exercise 3.1).
OWN_NETWORK_RUN = f"{RESULTS_DIR}/own-network_lr1e-3_e40_s0"
OWN_NETWORK_LAYERS = {"conv1": nn.Conv2d, "conv2": nn.Conv2d, "conv3": nn.Conv2d, "conv4": nn.Conv2d,
                      "conv5": nn.Conv2d, "conv6": nn.Conv2d, "fc1": nn.Linear, "fc2": nn.Linear}
ACCURACY_TOLERANCE = 0.05  # percentage points: five test images


# The layers whose output size Exercise 2.1 predicts on a 32 x 32 image, then measures: (kind,
# kernel, padding, stride); a max-pool's stride is its kernel unless given.
SIZED_LAYERS = [("conv", 5, 0, 1), ("conv", 3, 1, 1), ("conv", 5, 0, 2), ("conv", 4, 1, 2), ("pool", 2, 0, 2),
                ("pool", 3, 0, 2)]


def check_output_sizes(conv_output_size, size: int = 32) -> list[tuple[str, int, int]]:
    """Exercise 2.1: `conv_output_size(size, kernel, padding, stride)` predicts each of SIZED_LAYERS'
    output size; each layer then runs on a zero image and its real size is compared. Returns
    (layer, predicted, measured) rows; raises AssertionError at the first wrong prediction, naming
    what that layer adds (padding, stride) without the answer."""
    rows = []
    for kind, kernel, padding, stride in SIZED_LAYERS:
        layer = (nn.Conv2d(3, 8, kernel, stride, padding) if kind == "conv" else
                 nn.MaxPool2d(kernel, stride, padding))
        with torch.no_grad():
            measured = layer(torch.zeros(1, 3, size, size)).shape[-1]
        predicted = conv_output_size(size, kernel, padding, stride)
        assert isinstance(predicted, int), (f"conv_output_size({size}, {kernel}, {padding}, {stride}) returned "
                                            f"{predicted!r}: a size is a whole number of pixels (use //, not /)")
        what = ([f"a {kernel}x{kernel} window"] + [f"padding {padding}"] * bool(padding)
                + [f"stride {stride}"] * (stride > 1))
        assert predicted == measured, (f"{layer} on {size} x {size}: you predict {predicted} pixels a side, the layer "
                                       f"makes {measured}. Count the positions {', '.join(what)} can take in a row "
                                       f"of {size} (the padding and stride printout above shows the pattern).")
        name = f"{type(layer).__name__} {kernel}x{kernel}, padding {padding}, stride {stride}"
        rows.append((name, predicted, measured))
    return rows


def check_conv_loops(conv2d_loops, data: CIFAR10, *, image: int = 11, channels: int = 3, out_channels: int = 6,
                     kernel: int = 5, crop: tuple[int, int] = (32, 32), seed: int = 0) -> torch.Tensor:
    """Exercise 2.2: `conv2d_loops(image, weight, bias)` must compute F.conv2d's feature maps of one
    image (in_channels, H, W) for `weight` (out_channels, in_channels, k, k) and `bias`, no padding,
    stride 1, without calling a convolution. Checked on a test image (normalized, its first
    `channels` channels, cropped to `crop`) with seeded random kernels; the likely mistakes (bias
    left out, one channel instead of the sum over all, a flipped kernel, rows and columns swapped)
    are named. Returns the maps."""
    from torch.nn import functional as F

    mean, std = data.normalization("cifar10")
    mean, std = torch.tensor(mean).view(3, 1, 1), torch.tensor(std).view(3, 1, 1)
    x = ((data.test_images[image].float() / 255 - mean) / std)[:channels, :crop[0], :crop[1]].contiguous()
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(out_channels, channels, kernel, kernel, generator=generator) / kernel
    bias = torch.randn(out_channels, generator=generator)
    expected = F.conv2d(x[None], weight, bias)[0]
    forbidden = AssertionError("write the loops yourself: conv2d_loops must not call a convolution "
                               "(F.conv2d, nn.Conv2d)")
    from unittest import mock

    with mock.patch.object(F, "conv2d", side_effect=forbidden), \
            mock.patch.object(torch, "conv2d", side_effect=forbidden):
        got = conv2d_loops(x.clone(), weight.clone(), bias.clone())
    assert isinstance(got, torch.Tensor), f"conv2d_loops returned {type(got).__name__}: return the tensor of maps"
    assert tuple(got.shape) == tuple(expected.shape), (
        f"your maps have the shape {tuple(got.shape)}, F.conv2d's {tuple(expected.shape)}: one map per output "
        f"channel (weight.shape[0]), and a {kernel}-wide kernel fits {crop[1] - kernel + 1} positions in a row "
        f"of {crop[1]}")

    def near(a):
        return a.shape == got.shape and torch.allclose(got.float(), a, atol=1e-4)

    if near(expected):
        return got
    assert not near(expected - bias.view(-1, 1, 1)), "add each map's bias (bias[o]) to every one of its values"
    assert not near(F.conv2d(x[None], weight.flip(2, 3), bias)[0]), (
        "your kernel is flipped: PyTorch does not flip it, weight[o, c, 0, 0] multiplies the patch's top-left pixel")
    one = F.conv2d(x[None, :1], weight[:, :1], bias)[0]
    assert not near(one), ("map o sums over every input channel, not only the first: the whole patch "
                           "image[:, i:i+k, j:j+k]")
    if crop[0] == crop[1]:
        assert not near(F.conv2d(x.transpose(1, 2)[None], weight, bias)[0].transpose(1, 2)), (
            "rows and columns are swapped: out[o, i, j] is row i (height, the image's axis 1), column j (axis 2)")
    wrong = ~torch.isclose(got.float(), expected, atol=1e-4)  # NaN too: a value never filled in
    o, i, j = (int(v[0]) for v in torch.nonzero(wrong, as_tuple=True))
    raise AssertionError(f"map {o}, row {i}, column {j}: yours is {float(got[o, i, j]):.4f}, F.conv2d's "
                         f"{float(expected[o, i, j]):.4f}. Which weights and which pixels meet at that position?")


def check_own_network(cls: type, data: CIFAR10) -> float:
    """Exercise 3.1: `cls` is the student's own network. Checked against OwnNetwork, cheapest
    first: the layers' names and types; the shape before and after each layer for one image; the
    parameter count; the shipped run's weights load strictly; with them, the same numbers reach
    every layer (this catches a missing ReLU and a softmax at the end); in training mode the same
    dropout; and the run's recorded test accuracy, reproduced on the 10,000 test images. Returns
    that accuracy; raises AssertionError at the first mistake."""
    assert not issubclass(cls, OwnNetwork), \
        "write the class yourself: it must not be (or extend) the library's OwnNetwork"
    net, reference = cls(), OwnNetwork()
    _check_layers(net)
    _check_shapes(net, reference)
    _check_parameters(net, reference)
    state = read_checkpoint(OWN_NETWORK_RUN)["model"]
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise AssertionError(f"the shipped weights do not load into your network: {_first_line(exc)}") from None
    reference.load_state_dict(state)
    x = _test_batch(data)
    _check_values(net, reference, x)
    _check_dropout(net, reference, x)
    return _check_accuracy(net, data)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _check_layers(net: nn.Module) -> None:
    for name, kind in OWN_NETWORK_LAYERS.items():
        layer = getattr(net, name, None)
        assert layer is not None, (f"your network has no layer named {name}: name them conv1 to conv6, fc1 and fc2, "
                                   "the names the shipped weights are stored under")
        assert isinstance(layer, kind), \
            f"{name} is a {type(layer).__name__}, the description's is an nn.{kind.__name__}"


def _trace(net: nn.Module, x: torch.Tensor) -> tuple[list[list], torch.Tensor | Exception]:
    """[name, input, output] for every call of the named layers, in order, and the network's output
    (or the exception its forward raised; a layer that raised has output None)."""
    calls = []
    handles = []
    for name in OWN_NETWORK_LAYERS:
        layer = getattr(net, name)
        handles.append(layer.register_forward_pre_hook(
            lambda _m, inputs, name=name: calls.append([name, inputs[0], None])))
        handles.append(layer.register_forward_hook(lambda _m, _inputs, output: calls[-1].__setitem__(2, output)))
    try:
        with torch.no_grad():
            out = net(x)
    except Exception as exc:  # a shape mismatch inside forward: report it as the student's mistake
        out = exc
    finally:
        for handle in handles:
            handle.remove()
    return calls, out


def _check_shapes(net: nn.Module, reference: nn.Module) -> None:
    """(a) The shape before and after each layer, for one image, in eval mode."""
    x = torch.zeros(1, 3, 32, 32)
    mine, out = _trace(net.eval(), x)
    expected, _ = _trace(reference.eval(), x)
    previous = "the image"
    for i, (name, want_in, want_out) in enumerate(expected):
        if i >= len(mine):
            assert not isinstance(out, Exception), f"your forward fails after {previous}: {_first_line(out)}"
            raise AssertionError(f"your forward never calls {name}; the description goes conv1 to conv6, fc1, fc2")
        got_name, got_in, got_out = mine[i]
        assert got_name == name, f"after {previous} your forward calls {got_name}, the description calls {name}"
        assert got_in.shape == want_in.shape, _input_hint(name, previous, tuple(got_in.shape), tuple(want_in.shape))
        if got_out is None:
            raise AssertionError(f"{name} fails on its input {tuple(got_in.shape)} ({_first_line(out)}): "
                                 f"{_size_hint(name, getattr(reference, name))}")
        assert got_out.shape == want_out.shape, (
            f"after {name} your tensor is {tuple(got_out.shape)}, the description gives {tuple(want_out.shape)}: "
            f"{_size_hint(name, getattr(reference, name))}")
        previous = name
    assert not isinstance(out, Exception), f"your forward fails after fc2: {_first_line(out)}"
    assert len(mine) == len(expected), f"your forward calls {mine[len(expected)][0]} again after fc2"
    assert tuple(out.shape) == (1, 10), \
        f"your network returns {tuple(out.shape)}, the description (1, 10): fc2's logits"


def _input_hint(name: str, previous: str, got: tuple, want: tuple) -> str:
    """What enters a layer has the wrong shape: something between it and the layer before is off."""
    said = f"what enters {name} is {got}, the description gives {want}"
    if len(want) == 2 and len(got) != 2:
        return f"{said}: flatten the feature maps (torch.flatten(x, 1)) before {name}"
    got_size, want_size = torch.Size(got).numel(), torch.Size(want).numel()
    if len(got) == len(want) and got[:2] == want[:2] or len(want) == 2 and got[0] == want[0]:
        if got_size == 4 * want_size:
            return f"{said}: is the max-pool after {previous} missing?"
        if 4 * got_size == want_size:
            return f"{said}: is there a max-pool too many after {previous}? The description pools after conv2, 4 and 6"
    return f"{said}: check what forward does between {previous} and {name}"


def _size_hint(name: str, layer: nn.Module) -> str:
    if isinstance(layer, nn.Conv2d):
        return (f"{name} is nn.Conv2d({layer.in_channels}, {layer.out_channels}, 3, padding=1) in the description "
                "(3x3 kernels, padding 1 keeps the size)")
    return f"{name} is nn.Linear({layer.in_features}, {layer.out_features}) in the description"


def _check_parameters(net: nn.Module, reference: nn.Module) -> None:
    """(b) The parameter count, and the first parameter that makes it differ."""
    mine, theirs = count_parameters(net), count_parameters(reference)
    if mine == theirs:
        return
    got = {name: tuple(p.shape) for name, p in net.named_parameters() if p.requires_grad}
    want = {name: tuple(p.shape) for name, p in reference.named_parameters()}
    differ = [f"{n} is {got.get(n, 'missing')}, the description's is {s}" for n, s in want.items() if got.get(n) != s]
    differ += [f"{n} is not in the description" for n in got if n not in want]
    raise AssertionError(f"your network has {mine:,} parameters, the description's {theirs:,}: {differ[0]}")


def _test_batch(data: CIFAR10, n: int = 32) -> torch.Tensor:
    images, labels = data.split("test", n)
    mean, std = data.normalization(read_record(OWN_NETWORK_RUN)["config"]["normalization"])
    return next(iter(Batches(images, labels, n, mean, std, "cpu")))[0]


def _same(a, b) -> bool:
    return isinstance(a, torch.Tensor) and a.shape == b.shape and torch.allclose(a, b, rtol=1e-4, atol=1e-5)


def _check_values(net: nn.Module, reference: nn.Module, x: torch.Tensor) -> None:
    """With the shipped weights, in eval mode, the same numbers enter every layer and come out."""
    mine, out = _trace(net.eval(), x)
    again, _ = _trace(net, x)
    assert all(_same(a[1], b[1]) for a, b in zip(mine, again)), (
        "in evaluation mode your network still drops units: use nn.Dropout (dropout1), which net.eval() switches off")
    expected, logits = _trace(reference.eval(), x)
    previous = "the image"
    for (name, got_in, _), (_, want_in, _) in zip(mine, expected):
        assert name != "conv1" or _same(got_in, want_in), "your forward changes the image before conv1: pass x as it is"
        if not _same(got_in, want_in):
            missing = "ReLU" if (want_in >= 0).all() and (got_in < 0).any() else "ReLU or the max-pool"
            raise AssertionError(f"with the shipped weights, what enters {name} differs from the description's: "
                                 f"is the {missing} after {previous} missing or in the wrong place?")
        previous = name
    if not _same(out, logits):
        probabilities = (out >= 0).all() and torch.allclose(out.sum(1), torch.ones(len(out)))
        raise AssertionError("your network returns probabilities, not fc2's logits: drop the softmax, the loss does it"
                             if probabilities else "your network changes fc2's output: return it as it is, the logits")


def _check_dropout(net: nn.Module, reference: nn.Module, x: torch.Tensor) -> None:
    """In training mode, dropout 0.5 on fc1's output: the same units dropped for the same seed."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        mine, _ = _trace(net.train(), x)
        torch.manual_seed(0)
        expected, _ = _trace(reference.train(), x)
    net.eval()
    quiet, _ = _trace(net, x)
    got, want, eval_mode = mine[-1][1], expected[-1][1], quiet[-1][1]
    assert not _same(got, eval_mode), \
        "in training mode your network drops nothing: apply dropout1 to fc1's output in forward"
    assert _same(got, want), ("in training mode, what enters fc2 is not the description's: dropout1 with "
                              "probability 0.5, on fc1's output after its ReLU")


def _check_accuracy(net: nn.Module, data: CIFAR10) -> float:
    """(c) The shipped run's recorded test accuracy, reproduced on the whole test set."""
    record = read_record(OWN_NETWORK_RUN)
    predicted, labels = predict(net, data, normalization=record["config"]["normalization"], batch_size=1000)
    got, want = 100 * (predicted == labels).float().mean().item(), record["final"]["test_acc"]
    assert abs(got - want) <= ACCURACY_TOLERANCE, (f"with the shipped weights your network scores {got:.2f}% on the "
                                                  f"test set, the run recorded {want:.2f}%: compare forward with the "
                                                  "description step by step")
    return got


def early_stop(history: list[dict], patience: int) -> tuple[int, int]:
    """(stopping epoch, chosen epoch) of early stopping on a record's history (notebook 04,
    Exercise 4.2): stop once the validation accuracy has not strictly improved for `patience`
    epochs in a row (or after the last epoch), and keep the first epoch with the best validation
    accuracy seen so far. The test set chooses nothing."""
    best_acc, best_epoch, waited = None, None, 0
    for entry in history:
        if best_acc is None or entry["val_acc"] > best_acc:
            best_acc, best_epoch, waited = entry["val_acc"], entry["epoch"], 0
        else:
            waited += 1
            if waited == patience:
                return entry["epoch"], best_epoch
    return history[-1]["epoch"], best_epoch


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
    """Exercise 2.3: `train_loop(net, optimizer, batches, passes)` must train LeNet5 as the library's
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
