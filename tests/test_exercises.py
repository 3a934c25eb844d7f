"""cifar_helpers.exercises: its reference versions are right, and its autograders pass a correct
answer and fail plausible wrong ones with a message that names the mistake. Only the correct
network pays for the whole test set: the wrong ones fail on one image or on 32, before the
accuracy. A softmax at the end and a forgotten dropout would pass the accuracy (neither changes an
eval-mode answer): the layer-by-layer values and the training-mode comparison are what catch them."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from cifar_helpers import OwnNetwork
from cifar_helpers import exercises
from cifar_helpers.exercises import check_training_loop, early_stop
from cifar_helpers.records import iter_records


class Written(nn.Module):
    """The own network as a student writes it from the description (nn.Dropout, F.relu, F.max_pool2d)."""

    def __init__(self):
        super().__init__()
        channels = [3, 16, 32, 64, 64, 128, 128]
        for i, (a, b) in enumerate(zip(channels, channels[1:]), start=1):
            setattr(self, f"conv{i}", nn.Conv2d(a, b, 3, padding=1))
        self.fc1 = nn.Linear(2048, 512)
        self.dropout1 = nn.Dropout(0.5)
        self.fc2 = nn.Linear(512, 10)

    def features(self, x, pool_after=(2, 4, 6), relu_after=(1, 2, 3, 4, 5, 6)):
        for i in range(1, 7):
            x = getattr(self, f"conv{i}")(x)
            x = F.relu(x) if i in relu_after else x
            x = F.max_pool2d(x, 2) if i in pool_after else x
        return torch.flatten(x, 1)

    def forward(self, x):
        return self.fc2(self.dropout1(F.relu(self.fc1(self.features(x)))))


class MissingPool(Written):
    def forward(self, x):
        return self.fc2(self.dropout1(F.relu(self.fc1(self.features(x, pool_after=(4, 6))))))


class WrongFc1(Written):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(128 * 8 * 8, 512)  # as if the image were pooled twice, not three times


class NoDropout(Written):
    def forward(self, x):
        return self.fc2(F.relu(self.fc1(self.features(x))))


class NoRelu(Written):
    def forward(self, x):
        return self.fc2(self.dropout1(F.relu(self.fc1(self.features(x, relu_after=(1, 2, 4, 5, 6))))))


class Softmax(Written):
    def forward(self, x):
        return F.softmax(super().forward(x), dim=1)


class DropoutInEvalMode(Written):
    def forward(self, x):
        return self.fc2(F.dropout(F.relu(self.fc1(self.features(x))), 0.5))  # training=True unless told


class WeakDropout(Written):
    def __init__(self):
        super().__init__()
        self.dropout1 = nn.Dropout(0.2)


class NoPadding(Written):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3)


def test_a_correct_network_reproduces_the_shipped_accuracy(cifar):
    assert abs(exercises.check_own_network(Written, cifar) - 77.32) <= exercises.ACCURACY_TOLERANCE


@pytest.mark.parametrize("wrong, message", [
    (MissingPool, r"what enters conv3 is \(1, 32, 32, 32\), the description gives \(1, 32, 16, 16\): "
                  r"is the max-pool after conv2 missing\?"),
    (WrongFc1, r"fc1 fails on its input \(1, 2048\) .*fc1 is nn.Linear\(2048, 512\) in the description"),
    (NoRelu, r"what enters conv4 differs .*is the ReLU after conv3 missing"),
    (Softmax, r"returns probabilities, not fc2's logits"),
    (NoDropout, r"in training mode your network drops nothing"),
    (DropoutInEvalMode, r"in evaluation mode your network still drops units"),
    (WeakDropout, r"in training mode, what enters fc2 is not the description's: dropout1 with probability 0.5"),
    (NoPadding, r"after conv1 your tensor is \(1, 16, 30, 30\), the description gives \(1, 16, 32, 32\): .*padding=1"),
    (OwnNetwork, r"write the class yourself"),
])
def test_a_wrong_network_fails_with_its_message(cifar, wrong, message):
    with pytest.raises(AssertionError, match=message):
        exercises.check_own_network(wrong, cifar)


def _history(accuracies):
    return [{"epoch": i + 1, "val_acc": a} for i, a in enumerate(accuracies)]


def test_early_stop_on_a_small_history():
    history = _history([50, 60, 59, 58, 61, 57, 56, 55])
    assert early_stop(history, 2) == (4, 2)
    assert early_stop(history, 3) == (8, 5)
    assert early_stop(history, 10) == (8, 5)  # never out of patience: after the last epoch
    assert early_stop(_history([50, 50, 50]), 2) == (3, 1)  # an equal accuracy is no improvement


def test_early_stop_without_limit_chooses_the_records_best_epoch():
    """With more patience than epochs it runs to the end and picks the epoch `fit` recorded as best."""
    checked = 0
    for _, record in iter_records(["results/sweep"]):
        if record["status"] == "complete" and "best" in record:
            assert early_stop(record["history"], len(record["history"])) == (
                record["history"][-1]["epoch"], record["best"]["epoch"]), record["name"]
            checked += 1
    assert checked >= 24


SMALL = dict(images=500, batch_size=25, passes=3)  # 60 steps: about a second on a CPU


def correct_loop(net, optimizer, batches, passes):
    net.train()
    losses = []
    for _ in range(passes):
        for x, y in batches:
            optimizer.zero_grad()
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


def student_loop(zero_grad=True, step_before_backward=False, step=True, softmax=False, train=True):
    """A student's loop with one of the plausible mistakes switched on (written out, it is
    correct_loop with a line missing, moved or added)."""
    def loop(net, optimizer, batches, passes):
        if train:
            net.train()
        losses = []
        for _ in range(passes):
            for x, y in batches:
                if zero_grad:
                    optimizer.zero_grad()
                out = net(x)
                loss = F.cross_entropy(F.softmax(out, dim=1) if softmax else out, y)
                if step and step_before_backward:
                    optimizer.step()
                loss.backward()
                if step and not step_before_backward:
                    optimizer.step()
                losses.append(loss.item())
        return losses
    return loop


def loop_with_its_own_adam(net, optimizer, batches, passes):
    """Passes a check with Adam at lr 1e-3 (the visible one), fails with any other optimizer."""
    return correct_loop(net, torch.optim.Adam(net.parameters(), lr=1e-3), batches, passes)


def loop_returning_nothing(net, optimizer, batches, passes):
    correct_loop(net, optimizer, batches, passes)


def test_a_correct_loop_passes_and_its_loss_falls(cifar):
    losses = check_training_loop(correct_loop, cifar, **SMALL)
    assert len(losses) == 60 and sum(losses[-20:]) < sum(losses[:20])


def test_a_correct_loop_passes_with_sgd_and_another_seed(cifar):
    """The notebook's hidden test: a loop that builds its own Adam, or its own batches, fails it."""
    check_training_loop(correct_loop, cifar, images=2000, batch_size=50, passes=3, optimizer="sgd", lr=0.02, seed=1)


def test_the_loss_may_be_kept_as_tensors_and_zero_grad_may_come_after_the_forward_pass(cifar):
    def loop(net, optimizer, batches, passes):
        net.train()
        losses = []
        for _ in range(passes):
            for x, y in batches:
                loss = torch.nn.CrossEntropyLoss()(net(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.detach())
        return losses

    check_training_loop(loop, cifar, **SMALL)


@pytest.mark.parametrize("loop, message", [
    (student_loop(zero_grad=False), r"drift apart .* optimizer\.zero_grad\(\) before loss\.backward\(\)"),
    (student_loop(step_before_backward=True), r"first update is not train_step's .* after loss\.backward\(\)"),
    (student_loop(step=False), r"first update is not train_step's"),
    (student_loop(softmax=True), r"loss of your first step .*no softmax before it"),
    (student_loop(train=False), r"evaluation mode: call net\.train\(\)"),
    (loop_returning_nothing, r"returned NoneType instead of a list of 60 losses"),
], ids=["no zero_grad", "step before backward", "no step", "softmax before the loss", "eval mode", "returns nothing"])
def test_a_plausible_mistake_fails_with_a_message_that_names_it(cifar, loop, message):
    with pytest.raises(AssertionError, match=message):
        check_training_loop(loop, cifar, **SMALL)


def test_the_hidden_check_fails_a_loop_that_makes_its_own_optimizer(cifar):
    check_training_loop(loop_with_its_own_adam, cifar, **SMALL)
    with pytest.raises(AssertionError, match=r"first update is not train_step's .* the optimizer you are given"):
        check_training_loop(loop_with_its_own_adam, cifar, **SMALL, optimizer="sgd", lr=0.02, seed=1)


def rule(size, kernel, padding=0, stride=1):
    return (size + 2 * padding - kernel) // stride + 1


def test_the_size_rule_predicts_every_layer_it_then_runs():
    rows = exercises.check_output_sizes(rule)
    assert [(p, m) for _, p, m in rows] == [(28, 28), (32, 32), (14, 14), (16, 16), (16, 16), (15, 15)]


@pytest.mark.parametrize("wrong, message", [
    (lambda n, k, p=0, s=1: (n + 2 * p - k) / s + 1, "use //"),          # a float
    (lambda n, k, p=0, s=1: n - k + 1, "padding 1"),                      # padding forgotten
    (lambda n, k, p=0, s=1: (n + p - k) // s + 1, "padding 1"),           # padding at one end only
    (lambda n, k, p=0, s=1: (n + 2 * p - k + 1) // s, "stride 2"),        # the stride's rounding
])
def test_a_wrong_size_rule_fails_naming_the_layer_it_mispredicts(wrong, message):
    with pytest.raises(AssertionError, match=message):
        exercises.check_output_sizes(wrong)


def loops(image, weight, bias):
    out_channels, _, k, _ = weight.shape
    out = torch.zeros(out_channels, image.shape[1] - k + 1, image.shape[2] - k + 1, dtype=torch.float64)
    for i in range(out.shape[1]):  # another order, float64 and einsum: still right
        for j in range(out.shape[2]):
            out[:, i, j] = torch.einsum("ochw,chw->o", weight, image[:, i:i + k, j:j + k]) + bias
    return out


def test_a_convolution_written_as_loops_passes_both_checks(cifar):
    assert exercises.check_conv_loops(loops, cifar).shape == (6, 28, 28)
    exercises.check_conv_loops(loops, cifar, image=3, channels=2, out_channels=4, kernel=3, crop=(20, 25), seed=1)


@pytest.mark.parametrize("wrong, message", [
    (lambda x, w, b: loops(x, w, b * 0), "bias"),
    (lambda x, w, b: loops(x, w.flip(2, 3), b), "flipped"),
    (lambda x, w, b: loops(x[:1], w[:, :1], b), "every input channel"),
    (lambda x, w, b: loops(x.transpose(1, 2), w, b).transpose(1, 2), "swapped"),
    (lambda x, w, b: loops(x, w, b)[:, 1:], "shape"),
    (lambda x, w, b: F.conv2d(x[None], w, b)[0], "write the loops yourself"),
    (lambda x, w, b: loops(x, w, b).index_fill_(1, torch.tensor([4]), 0.0), "map 0, row 4"),
    (lambda x, w, b: loops(x, w, b).index_fill_(1, torch.tensor([7]), float("nan")), "map 0, row 7"),  # never filled
])
def test_a_plausible_convolution_mistake_fails_with_a_message_that_names_it(cifar, wrong, message):
    with pytest.raises(AssertionError, match=message):
        exercises.check_conv_loops(wrong, cifar)
