"""The learning-rate range test: an exponential ramp, a smoothed loss that stops on divergence, a
suggestion below the divergence, and the network put back as it was."""

import math

import torch

from cifar_helpers import TrainConfig
from cifar_helpers.lr_range import lr_range_test
from cifar_helpers.training import prepare

CONFIG = TrainConfig(model="lenet5", batch_size=64, subset=2000, precision="fp32")


def test_the_range_test_stops_on_divergence_and_restores_the_weights(cifar):
    config = CONFIG.replace(optimizer="sgd")
    setup = prepare(config, cifar, torch.device("cpu"))
    before = {k: v.clone() for k, v in setup.net.state_dict().items()}
    generator_before = setup.generator.get_state()
    result = lr_range_test(config, cifar, start=1e-4, end=1e3, steps=120, device="cpu", setup=setup)
    assert result.diverged and len(result.lrs) < 120  # SGD at lr 1e3 blows up before the end
    ratios = [b / a for a, b in zip(result.lrs, result.lrs[1:])]
    assert all(math.isclose(r, ratios[0]) for r in ratios) and math.isclose(result.lrs[0], 1e-4)
    lowest = min(result.smoothed)
    assert result.smoothed[-1] > 4 * lowest or not math.isfinite(result.losses[-1])
    after = setup.net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert torch.equal(setup.generator.get_state(), generator_before)
    assert setup.optimizer.state_dict()["state"] == {}  # a fresh optimizer stays fresh


def test_the_suggestion_is_a_tenth_of_the_rate_at_the_lowest_loss(cifar):
    result = lr_range_test(CONFIG, cifar, start=1e-6, end=1.0, steps=120, device="cpu")  # Adam
    lowest = min(range(len(result.smoothed)), key=result.smoothed.__getitem__)
    assert result.smoothed[lowest] < result.smoothed[0] - 0.03  # it learned something on the way
    assert result.suggestion == result.lrs[lowest] / 10
    assert 1e-4 < result.suggestion < 1e-2  # around the rates LeNet5 trains well with (1e-3)


def test_a_range_test_is_shipped_once_then_loaded_and_a_rerun_leaves_it_alone(cifar, tmp_path, capsys):
    from cifar_helpers import lr_range

    config, shipped, experiments = CONFIG.replace(subset=500), str(tmp_path / "shipped"), str(tmp_path / "runs")
    assert lr_range.load_or_run(config, cifar, folder=shipped, device="cpu") is None
    assert "set rerun_lr_range = True" in capsys.readouterr().out
    made = lr_range.load_or_run(config, cifar, rerun=True, folder=shipped, save_to=shipped, device="cpu")
    assert lr_range.result_path(config, shipped).name == "lenet5_adam_b64.json"
    loaded = lr_range.load_or_run(config.replace(lr=0.01, epochs=3), cifar, folder=shipped)  # any rate
    assert "Loading the range test" in capsys.readouterr().out
    assert loaded == made and loaded.lrs[0] == lr_range.RAMPS["adam"][0]
    before = lr_range.result_path(config, shipped).read_bytes()
    lr_range.load_or_run(config.replace(seed=1), cifar, rerun=True, folder=shipped, save_to=experiments, device="cpu")
    assert lr_range.result_path(config, shipped).read_bytes() == before  # the notebook's rerun is an experiment
    assert lr_range.result_path(config, experiments).is_file()
