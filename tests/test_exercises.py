"""The notebooks' autograders (cifar_helpers.exercises): a correct answer, written here rather than
taken from a notebook, passes; each plausible mistake fails with the sentence that names it."""

import pytest
import torch
import torch.nn.functional as F

from cifar_helpers.exercises import check_training_loop

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


def loop_without_zero_grad(net, optimizer, batches, passes):
    net.train()
    losses = []
    for _ in range(passes):
        for x, y in batches:
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


def loop_stepping_before_backward(net, optimizer, batches, passes):
    net.train()
    losses = []
    for _ in range(passes):
        for x, y in batches:
            optimizer.zero_grad()
            loss = F.cross_entropy(net(x), y)
            optimizer.step()
            loss.backward()
            losses.append(loss.item())
    return losses


def loop_without_step(net, optimizer, batches, passes):
    net.train()
    losses = []
    for _ in range(passes):
        for x, y in batches:
            optimizer.zero_grad()
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            losses.append(loss.item())
    return losses


def loop_with_softmax_before_the_loss(net, optimizer, batches, passes):
    net.train()
    losses = []
    for _ in range(passes):
        for x, y in batches:
            optimizer.zero_grad()
            loss = F.cross_entropy(F.softmax(net(x), dim=1), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


def loop_in_eval_mode(net, optimizer, batches, passes):
    """LeNet5 has no dropout, so its weights come out right: the check looks at the mode itself."""
    losses = []
    for _ in range(passes):
        for x, y in batches:
            optimizer.zero_grad()
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


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
    (loop_without_zero_grad, r"drift apart .* optimizer\.zero_grad\(\) before loss\.backward\(\)"),
    (loop_stepping_before_backward, r"first update is not train_step's .* after loss\.backward\(\)"),
    (loop_without_step, r"first update is not train_step's"),
    (loop_with_softmax_before_the_loss, r"loss of your first step .*no softmax before it"),
    (loop_in_eval_mode, r"evaluation mode: call net\.train\(\)"),
    (loop_returning_nothing, r"returned NoneType instead of a list of 60 losses"),
], ids=lambda v: getattr(v, "__name__", ""))
def test_a_plausible_mistake_fails_with_a_message_that_names_it(cifar, loop, message):
    with pytest.raises(AssertionError, match=message):
        check_training_loop(loop, cifar, **SMALL)


def test_the_hidden_check_fails_a_loop_that_makes_its_own_optimizer(cifar):
    check_training_loop(loop_with_its_own_adam, cifar, **SMALL)
    with pytest.raises(AssertionError, match=r"first update is not train_step's .* the optimizer you are given"):
        check_training_loop(loop_with_its_own_adam, cifar, **SMALL, optimizer="sgd", lr=0.02, seed=1)
