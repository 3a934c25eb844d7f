import json
import math
import os
import subprocess
import warnings

import pytest
import torch

from cifar_helpers import (ConfigError, DivergenceError, RunsFolderError, TrainConfig, build_model, find_run,
                           fit, fit_or_load, load_run, load_runs)
from cifar_helpers import records
from cifar_helpers.paths import REPO

QUICK = dict(subset=2000, test_subset=1000)


def train(data, runs_dir, device="auto", **config):
    """fit() of a TrainConfig built from keywords, quietly."""
    return fit(TrainConfig(**config), data, runs_dir=runs_dir, device=device, progress=False)


def test_one_lenet5_epoch_lowers_the_loss_and_beats_chance(cifar, tmp_path):
    run = train(cifar, tmp_path, model="lenet5", epochs=1, batch_size=64, **QUICK)
    row = run.record["history"][0]
    assert row["test_loss"] < math.log(10) - 0.05  # an untrained network scores about ln 10
    assert row["test_acc"] > 20 and row["train_eval_acc"] > 20
    assert run.record["status"] == "complete" and not run.record["collapsed"]


def test_record_and_checkpoint_are_complete(cifar, tmp_path):
    run = train(cifar, tmp_path, model="lenet5", epochs=2, lr=3e-3, **QUICK)
    record = json.loads((run.path / "record.json").read_text())
    assert record["config"]["lr"] == 3e-3 and record["config"]["epochs"] == 2
    assert record["config"]["precision"] in ("fp32", "bf16", "fp16")
    assert {"torch", "torchvision", "device_name", "cpu_count"} <= set(record["environment"])
    # The code that made it: this checkout's commit, and whether tracked files differed from it.
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert record["environment"]["git_commit"] == head.strip()
    assert isinstance(record["environment"]["git_uncommitted_changes"], bool)
    assert [h["epoch"] for h in record["history"]] == [1, 2]
    assert {"train_loss", "train_acc", "test_loss", "test_acc", "train_eval_acc", "seconds",
            "images_per_s"} <= set(record["history"][0])
    assert record["final"] == record["history"][-1]
    assert "best" not in record  # without a validation split no epoch is singled out
    assert record["parameters"] == 62_006
    checkpoint = records.read_checkpoint(run.path)
    assert checkpoint["epoch"] == 2 and {"model", "optimizer"} <= set(checkpoint)
    loaded = load_run(run.path)
    assert next(loaded.model.parameters()).device.type == "cpu"
    x = torch.randn(3, 3, 32, 32)
    assert torch.allclose(loaded.model(x), run.model.cpu()(x), atol=1e-6)


def test_same_seed_same_history_on_the_cpu(cifar, tmp_path):
    small = dict(epochs=1, device="cpu", batch_size=128, subset=512, test_subset=256)
    runs = [train(cifar, tmp_path, model="own-network", seed=7, **small) for _ in range(2)]
    strip = [[{k: v for k, v in h.items() if k not in ("seconds", "images_per_s")}
              for h in run.record["history"]] for run in runs]
    assert strip[0] == strip[1]
    assert runs[0].path != runs[1].path  # the second run did not overwrite the first
    other = train(cifar, tmp_path, model="own-network", seed=8, **small)
    assert other.record["history"][0]["train_loss"] != strip[0][0]["train_loss"]


def test_collapsed_run_is_flagged(cifar, tmp_path):
    # On 50,000 images the original variant collapses at lr 1e-2 after about ten epochs (see
    # results/); on a 5,000-image subset a larger rate gets there in one epoch.
    run = train(cifar, tmp_path, model="lenet5-original", epochs=1, lr=3e-2, batch_size=256,
                normalization="imagenet", subset=5000, test_subset=1000, eval_train=False)
    assert run.record["collapsed"], run.record["history"]
    assert run.record["final"]["test_top_class_share"] >= 0.9
    assert run.record["final"]["test_acc"] == pytest.approx(10.0, abs=1.0)
    assert load_runs(tmp_path)["collapsed"].tolist() == [True]
    healthy = train(cifar, tmp_path, model="lenet5", epochs=1, batch_size=64, **QUICK)
    assert not healthy.record["collapsed"]


def test_nan_loss_stops_with_advice_and_keeps_the_record(cifar, tmp_path):
    with pytest.raises(DivergenceError, match="lower one") as info:
        train(cifar, tmp_path, model="lenet5", epochs=3, lr=1e8, optimizer="sgd", **QUICK)
    assert "\n" not in str(info.value)
    (run_dir,) = tmp_path.iterdir()
    assert records.read_record(run_dir)["status"] == "diverged"


@pytest.mark.parametrize("bad, message", [
    (dict(lr=-1.0), "lr"), (dict(lr=float("nan")), "lr"), (dict(lr="abc"), "lr"),
    (dict(epochs=0), "epochs"), (dict(epochs=2.5), "epochs"), (dict(batch_size=-3), "batch_size"),
    (dict(model="vgg"), "model"), (dict(optimizer="rmsprop"), "optimizer"),
    (dict(normalization="mnist"), "normalization"), (dict(subset=0), "subset"),
    (dict(precision="fp8"), "precision"), (dict(val_size=-5), "val_size"), (dict(seed=-1), "seed"),
])
def test_bad_parameters_fail_when_the_config_is_built(bad, message):
    with pytest.raises(ConfigError, match=message) as info:
        TrainConfig(**{"model": "lenet5", **bad})
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("bad, message", [(dict(subset=60000), "subset"), (dict(test_subset=20000), "test_subset"),
                                          (dict(val_size=10000, subset=45000), "subset")])
def test_subsets_larger_than_the_data_fail_before_any_training(cifar, tmp_path, bad, message):
    with pytest.raises(ConfigError, match=f"{message}=.*more images than") as info:
        train(cifar, tmp_path / "runs", model="lenet5", **bad)
    assert "\n" not in str(info.value)
    assert not list((tmp_path / "runs").glob("*/checkpoint.pt"))


def test_fit_takes_a_config_and_says_how_to_make_one(tmp_path):
    with pytest.raises(TypeError, match="TrainConfig"):
        fit("lenet5", runs_dir=tmp_path)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_names_the_alternative(tmp_path):
    with pytest.raises(ConfigError, match="device='cpu'"):
        fit(TrainConfig(), device="cuda", runs_dir=tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere; see the chmod-free test")
def test_read_only_runs_folder_is_reported_before_training(cifar, tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(RunsFolderError, match="Nothing was trained"):
            train(cifar, tmp_path / "runs", **QUICK)
    finally:
        tmp_path.chmod(0o700)


def test_unwritable_runs_folder_is_reported_before_training(cifar, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(RunsFolderError, match="Cannot write into .*Nothing was trained"):
        train(cifar, blocker / "runs", **QUICK)


def test_interrupted_run_resumes_to_the_same_result(cifar, tmp_path, monkeypatch):
    config = dict(model="own-network", epochs=3, seed=3, device="cpu", batch_size=128, subset=384, test_subset=200)
    whole = train(cifar, tmp_path / "whole", **config)

    real_write = records.write_checkpoint
    calls = []

    def ctrl_c_in_epoch_two(run_dir, state):
        calls.append(state["epoch"])
        if state["epoch"] == 2:
            raise KeyboardInterrupt
        real_write(run_dir, state)

    monkeypatch.setattr(records, "write_checkpoint", ctrl_c_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        train(cifar, tmp_path / "cut", **config)
    monkeypatch.setattr(records, "write_checkpoint", real_write)
    (cut,) = (tmp_path / "cut").iterdir()
    record = records.read_record(cut)
    assert record["status"] == "interrupted" and len(record["history"]) == 1
    assert records.read_checkpoint(cut)["epoch"] == 1

    resumed = fit(None, cifar, resume=cut, progress=False)
    assert resumed.path == cut and resumed.record["status"] == "complete"
    for a, b in zip(resumed.record["history"], whole.record["history"]):
        for key in ("train_loss", "train_acc", "test_loss", "test_acc", "train_eval_acc"):
            assert a[key] == b[key], (key, a, b)


def test_half_written_runs_are_skipped_by_name(cifar, tmp_path):
    train(cifar, tmp_path, epochs=1, **QUICK)
    (tmp_path / "killed-writing-its-record").mkdir()
    (tmp_path / "killed-writing-its-record" / ".record.json.x1y2.tmp").write_text('{"conf')
    (tmp_path / "torn").mkdir()
    (tmp_path / "torn" / "record.json").write_text('{"config": {"model": "len')
    # Not runs at all, so not broken runs: the main job's executed notebooks, an empty folder.
    (tmp_path / "full" / "asset").mkdir(parents=True)
    (tmp_path / "full" / "01_dataset_tour.ipynb").write_text("{}")
    (tmp_path / "empty").mkdir()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = load_runs(tmp_path)
    assert len(table) == 1 and table["model"].tolist() == ["lenet5"]
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "killed-writing-its-record" in message and "torn" in message
    assert "full" not in message and "empty" not in message


def test_a_run_folder_has_its_record_from_the_start(cifar, tmp_path, monkeypatch):
    seen = {}

    def killed(run_dir, record, *args, **kwargs):
        seen.update(records.read_record(run_dir))
        raise KeyboardInterrupt

    monkeypatch.setattr("cifar_helpers.training._train", killed)
    with pytest.raises(KeyboardInterrupt):
        train(cifar, tmp_path, epochs=1, **QUICK)
    assert seen["status"] == "running" and seen["history"] == []
    assert load_runs(tmp_path)["status"].tolist() == ["running"]


def test_fit_or_load_reuses_a_finished_run_of_the_whole_config(cifar, tmp_path, capsys):
    config = TrainConfig(model="lenet5", epochs=1, **QUICK)
    first = fit_or_load(config, cifar, folders=[tmp_path], runs_dir=tmp_path, progress=False)
    assert find_run([tmp_path], model="lenet5", epochs=1) == first.path
    again = fit_or_load(config, cifar, folders=[tmp_path], runs_dir=tmp_path, progress=False)
    assert again.path == first.path and "Loading the finished run" in capsys.readouterr().out
    # Any field that differs is another run: the lr, and an explicit precision (auto takes any).
    assert find_run([tmp_path], config.replace(lr=3e-3)) is None
    assert find_run([tmp_path], config.replace(precision="fp16")) is None
    assert find_run([tmp_path], config.replace(precision=first.config.precision)) == first.path
    assert find_run([tmp_path], config.replace(val_size=1000)) is None


def test_a_record_that_says_an_old_model_name_still_loads(cifar, tmp_path):
    run = train(cifar, tmp_path, model="own-network", epochs=1, subset=256, test_subset=256, batch_size=128)
    record = json.loads((run.path / "record.json").read_text())
    record["config"]["model"] = "mycnn"  # as versions before the renaming wrote it
    (run.path / "record.json").write_text(json.dumps(record))
    assert load_runs(tmp_path)["model"].tolist() == ["own-network"]
    assert find_run([tmp_path], run.config) == run.path
    assert type(load_run(run.path).model).__name__ == "OwnNetwork"
    assert TrainConfig(model="lenet5-seed").model == "lenet5-original"


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_paths_train(cifar, tmp_path, precision):
    # These are the GPU defaults; on the CPU they run (slowly) through the same autocast code.
    run = train(cifar, tmp_path, epochs=1, batch_size=64, precision=precision, device="cpu", **QUICK)
    assert run.config.precision == precision
    assert run.record["final"]["test_acc"] > 15


def test_folders_of_runs_inside_a_runs_folder_are_not_mistaken_for_runs(cifar, tmp_path):
    train(cifar, tmp_path / "sweep", epochs=1, **QUICK)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_runs(tmp_path)) == 0
    assert len(load_runs(tmp_path / "sweep")) == 1


def test_active_units_finds_a_dead_layer(cifar):
    from cifar_helpers.evaluate import active_units

    torch.manual_seed(0)
    net = build_model("lenet5")
    alive = active_units(net, cifar, subset=200)
    assert list(alive.index) == ["conv1", "conv2", "fc1", "fc2"] and alive.min() > 50
    with torch.no_grad():
        net.conv2.bias.fill_(-1e3)  # no input can make these units positive
    assert active_units(net, cifar, subset=200)["conv2"] == 0.0


def test_dead_starts_reports_each_seed(cifar, tmp_path):
    import subprocess
    import sys


    out = tmp_path / "dead.json"
    result = subprocess.run([sys.executable, "scripts/dead_starts.py", "--model", "lenet5", "--lr", "1e-3",
                             "--seeds", "0", "1", "--steps", "3", "--subset", "3072", "--out", str(out)],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert [s["seed"] for s in report["seeds"]] == [0, 1]
    assert all(len(s["losses"]) == 3 and 0 < s["classes_predicted"] <= 10 for s in report["seeds"])
    assert report["seeds"][0]["losses"] != report["seeds"][1]["losses"]  # different initial weights
    assert report["config"]["normalization"] == "imagenet"  # as the original's table ran


def test_validation_split_is_held_out_and_picks_the_best_epoch(cifar, tmp_path):
    train_x, train_y = cifar.split("train", val_size=1000)
    val_x, val_y = cifar.split("val", val_size=1000)
    assert len(train_y) == 49000 and torch.bincount(val_y).tolist() == [100] * 10
    assert torch.equal(cifar.split("val", val_size=1000)[1], val_y)  # the same images every time
    run = train(cifar, tmp_path, epochs=2, val_size=1000, subset=2000, test_subset=500)
    assert run.record["config"]["val_size"] == 1000
    history = run.record["history"]
    best = max(history, key=lambda h: h["val_acc"])
    assert run.record["best"] == {"val_acc": best["val_acc"], "epoch": best["epoch"], "test_acc": best["test_acc"]}


def test_the_step_fit_takes_is_train_step(cifar, tmp_path):
    """The notebook's loop (Exercise 2.3's answer, written out by hand) and fit give the same
    weights (CPU, fp32)."""
    import nbformat
    import torch.nn.functional as F

    from cifar_helpers.batches import Batches

    nb = nbformat.read(REPO / "notebooks" / "02_lenet5.ipynb", as_version=4)
    loop = [c.source for c in nb.cells if "training-loop" in c.metadata.get("tags", [])]
    assert len(loop) == 1, "02's answer to Exercise 2.3 (train_loop) is tagged training-loop"
    namespace = dict(F=F)
    exec(loop[0], namespace)
    torch.manual_seed(5)  # as fit starts: the seed's weights, Adam, and the seed's batch order
    net = build_model("lenet5")
    images, labels = cifar.split("train", 1000)
    batches = Batches(images, labels, 100, *cifar.normalization("imagenet"), "cpu", shuffle=True,
                      generator=torch.Generator().manual_seed(5))
    namespace["train_loop"](net, torch.optim.Adam(net.parameters(), lr=1e-3), batches, 2)
    config = TrainConfig(model="lenet5", epochs=2, lr=1e-3, seed=5, normalization="imagenet", subset=1000,
                         batch_size=100, test_subset=100, precision="fp32", channels_last=False, eval_train=False)
    run = train(cifar, tmp_path, device="cpu", **config.to_dict())
    by_hand = net.state_dict()
    for name, tensor in run.model.state_dict().items():
        assert torch.equal(tensor, by_hand[name]), name


def test_an_interrupt_during_a_write_waits_until_the_file_is_in_place(tmp_path):
    # SIGTERM inside torch.save once broke its zip writer: the run then ended in an error, not as interrupted.
    import os
    import signal

    from cifar_helpers.command import interrupt_on_sigterm

    before = signal.getsignal(signal.SIGTERM)
    interrupt_on_sigterm()
    try:
        def write(f):
            os.kill(os.getpid(), signal.SIGTERM)  # arrives while the file is half written
            f.write(b"all of it")

        with pytest.raises(KeyboardInterrupt):
            records._atomic_write(tmp_path / "state", write)
        assert (tmp_path / "state").read_bytes() == b"all of it"
        assert [p.name for p in tmp_path.iterdir()] == ["state"]  # no temporary file left
    finally:
        signal.signal(signal.SIGTERM, before)
