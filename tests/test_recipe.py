"""Notebook 05's network and training ingredients: each does what it says, and a run that uses
them all resumes to the same result."""

import pytest
import torch

from cifar_helpers import TrainConfig, build_model, fit, records, recipe
from cifar_helpers.evaluate import tta_logits, tta_views
from cifar_helpers.training import Lookahead, step_rate

TINY = dict(epochs=3, subset=512, test_subset=256, batch_size=128, device="cpu")


def test_whitening_filters_decorrelate_2x2_patches():
    torch.manual_seed(0)
    mixing = torch.randn(3, 3)
    images = torch.einsum("ij,njhw->nihw", mixing, torch.randn(200, 3, 32, 32))  # correlated channels
    net = build_model("whitened-net-small")
    net.whiten_from(images)
    with torch.no_grad():
        out = torch.nn.functional.conv2d(images, net.whiten.weight[:12])  # the 12 directions, no bias
    flat = out.permute(1, 0, 2, 3).reshape(12, -1)
    covariance = torch.cov(flat)
    assert torch.allclose(covariance, torch.eye(12), atol=0.05)
    assert torch.equal(net.whiten.weight[12:], -net.whiten.weight[:12])  # and their negatives
    assert not net.whiten.weight.requires_grad


def test_the_two_widths():
    from cifar_helpers import count_parameters

    assert 1.9e6 < count_parameters(build_model("whitened-net")) < 2.1e6  # "about 2M parameters"
    assert count_parameters(build_model("whitened-net-small")) < 0.6e6


def test_warmup_then_linear_decay_per_step():
    rate = step_rate(TrainConfig(schedule="warmup-linear", warmup=0.2, final_lr=0.1), 100)
    values = [rate(step) for step in range(100)]
    assert values[0] == pytest.approx(0.05) and max(values) == pytest.approx(1.0)
    assert values.index(max(values)) == 19
    assert values[-1] == pytest.approx(0.1, abs=0.01) and values == sorted(values[:20]) + values[20:]
    assert all(a >= b for a, b in zip(values[19:], values[20:]))
    assert step_rate(TrainConfig(), 100)(57) == 1.0


def test_test_time_views():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    assert len(tta_views(x, 0)) == 1 and len(tta_views(x, 1)) == 2 and len(tta_views(x, 2)) == 6
    flipped = tta_views(x, 1)[1]
    assert torch.equal(flipped[..., 0], x[..., -1])
    shifted = tta_views(x, 2)[2]  # one pixel: row and column 1 of the image land at 2 (reflected edge)
    assert torch.equal(shifted[..., 2, 2], x[..., 1, 1]) and torch.equal(shifted[..., 0, 0], x[..., 1, 1])
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 10))
    assert torch.allclose(tta_logits(net, x, 1), (net(x) + net(x.flip(3))) / 2)


def test_lookahead_ends_on_its_slow_weights():
    net = torch.nn.Linear(3, 2)
    lookahead = Lookahead(net, total_steps=10)
    for _ in range(10):
        with torch.no_grad():
            net.weight.add_(1.0)
        lookahead.step()
    assert torch.equal(net.weight, lookahead.slow[0])
    assert net.weight.mean() < 11  # pulled back toward the earlier weights on the way


def test_every_ingredient_switches_off_alone():
    base = recipe.CPU_RECIPE
    for name, off in recipe.INGREDIENTS.items():
        changed = {k for k, v in recipe.without(name).to_dict().items() if v != base.to_dict()[k]}
        assert changed == set(off), name


def test_a_recipe_run_resumes_to_the_same_result(cifar, tmp_path, monkeypatch):
    config = recipe.CPU_RECIPE.replace(epochs=3, subset=512, test_subset=256, batch_size=128, tta=1)
    whole = fit(config, cifar, runs_dir=tmp_path / "whole", device="cpu", progress=False)
    real_write = records.write_checkpoint

    def ctrl_c_in_epoch_two(run_dir, state):
        if state["epoch"] == 2:
            raise KeyboardInterrupt
        real_write(run_dir, state)

    monkeypatch.setattr(records, "write_checkpoint", ctrl_c_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        fit(config, cifar, runs_dir=tmp_path / "cut", device="cpu", progress=False)
    monkeypatch.setattr(records, "write_checkpoint", real_write)
    (cut,) = (tmp_path / "cut").iterdir()
    resumed = fit(None, cifar, resume=cut, device="cpu", progress=False)
    for a, b in zip(resumed.record["history"], whole.record["history"]):
        for key in ("train_loss", "train_acc", "test_loss", "test_acc"):
            assert a[key] == b[key], (key, a, b)


def test_old_records_read_as_the_defaults_of_new_fields():
    old = dict(model="mycnn", epochs=40, lr=0.001, batch_size=1024, optimizer="adam", seed=0,
               normalization="imagenet", subset=None, test_subset=None, augment=False, eval_train=True,
               precision="fp32", channels_last=True, compile=False)
    config = TrainConfig.from_dict(old)
    assert config.model == "own-network" and config.schedule == "constant" and config.tta == 0
    assert TrainConfig(model="own-network", epochs=40, normalization="imagenet").matches(old)
