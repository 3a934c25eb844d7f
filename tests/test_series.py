"""The main job's plan, its time estimate, and how it reports a failing notebook."""

import json

import nbformat
import pytest

from cifar_helpers import CifarHelpersError
from cifar_helpers import runner, series
from cifar_helpers.reproduce import configurations


def test_plan_follows_the_seed_table(tmp_path):
    steps = series.plan(tmp_path / "records", tmp_path / "asset", quick=False, reuse=True)
    assert [s.notebook[:2] for s in steps] == ["01", "02", "02", "03", "03", "04", "05"]
    assert (steps[6].parameters["model"], steps[6].parameters["epochs"]) == ("whitened-net", 10)
    trained = [(s.parameters["model"], s.parameters["lr"], s.parameters["epochs"]) for s in steps[1:5]]
    assert trained == [("lenet5", 1e-2, 20), ("lenet5", 1e-3, 40), ("own-network", 1e-2, 20), ("own-network", 1e-3, 40)]
    # the own network at lr 1e-2 with a seed that learns (seed 0 dies in its first steps)
    assert [s.parameters["seed"] for s in steps[1:5]] == [0, 0, 3, 0]
    assert len({s.output for s in steps}) == len(steps)
    quick = series.plan(tmp_path / "records", tmp_path / "asset", quick=True, reuse=True)
    assert all(s.parameters["subset"] == 2000 and s.parameters["epochs"] == 1 for s in quick[1:5] + quick[6:])
    assert quick[6].parameters["model"] == "whitened-net-small"
    # 02's first run on the quick profile's images too; 03 has no such loop
    assert [s.parameters.get("loop_images") for s in quick[1:5]] == [2000, 2000, None, None]


def test_estimate_uses_the_epochs_timed_so_far(tmp_path):
    run_dir = tmp_path / "lenet5_run"
    run_dir.mkdir()
    history = [{"epoch": 1, "seconds": 10.0}, {"epoch": 2, "seconds": 12.0}]
    (run_dir / "record.json").write_text(json.dumps({"config": {"model": "lenet5"}, "history": history}))
    steps = series.plan(tmp_path, tmp_path / "asset", quick=False, reuse=True)
    # lenet5 at 11 s an epoch; lenet5-original and own-network scaled by their multiply-accumulates.
    left = series.estimate_left(steps[2:3], tmp_path, notebook_overhead=5.0)
    assert left == pytest.approx(5 + 40 * 11 + 40 * 11 * series.macs("lenet5-original") / series.macs("lenet5"))
    assert series.estimate_left(steps, tmp_path / "empty", 5.0) is None


def test_failing_notebook_stops_the_job_and_keeps_its_copy(tmp_path, monkeypatch, capfd, fake_cifar):
    monkeypatch.setenv("CIFAR10_ROOT", str(fake_cifar))
    broken = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('raise ValueError("The data is gone.")')],
                                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                               "language": "python"}})
    (tmp_path / "notebooks").mkdir()
    nbformat.write(broken, tmp_path / "notebooks" / "01_dataset_tour.ipynb")
    monkeypatch.setattr(runner, "NOTEBOOKS", tmp_path / "notebooks")
    with pytest.raises(CifarHelpersError, match="01_dataset_tour.ipynb failed in cell .*ValueError") as info:
        series.run_series(str(tmp_path / "out"), quick=True, reuse=True, only=["01"])
    assert "The data is gone. The executed notebook" in str(info.value)  # one period, not two
    assert (tmp_path / "out" / "01_dataset_tour.ipynb").exists()
    # The job's own lines, not the kernel's transport warning on every notebook.
    printed = capfd.readouterr()
    assert "[1/1] 01_dataset_tour.ipynb" in printed.out
    assert "without encryption" not in printed.out + printed.err


def test_the_job_shuts_a_kernel_down_without_interrupting_it():
    """jupyter_client sends SIGINT before every shutdown, and a kernel still inside a message handler
    then logs "ERROR | KeyboardInterrupt caught in kernel." after a notebook that succeeded. The
    job's kernels are shut down without it; an interrupt asked for still reaches them."""
    import asyncio
    import signal

    manager = runner.encrypted_kernel_manager()(kernel_name="python3")
    sent = []

    async def start_interrupt_and_shut_down():
        await manager.start_kernel()
        send = manager.provisioner.send_signal

        async def record(signum):
            sent.append(signum)
            await send(signum)

        manager.provisioner.send_signal = record
        await manager.interrupt_kernel()
        await manager.shutdown_kernel()

    asyncio.run(start_interrupt_and_shut_down())
    assert sent.count(signal.SIGINT) == 1 and sent[0] == signal.SIGINT


def test_no_data_and_no_network_stops_the_job_once_before_any_notebook(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("cifar_helpers.data.REPO_DATA", tmp_path / "data")
    monkeypatch.delenv("CIFAR10_ROOT", raising=False)
    monkeypatch.setattr("torchvision.datasets.CIFAR10.url", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    assert series.main(["--name", str(tmp_path / "out")]) == 1
    printed = capsys.readouterr()
    lines = [line for line in printed.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: CIFAR-10 was not found locally")
    assert "CIFAR10_ROOT is not set" in lines[0] and "downloading it from http://127.0.0.1:9/" in lines[0]
    assert "[1/" not in printed.out  # no notebook started
    assert not list((tmp_path / "out").glob("*.ipynb"))


def test_reproduce_covers_the_table_cheap_runs_first():
    configs = list(configurations(["lenet5-original", "own-network"], [0, 1]))
    assert len(configs) == 8
    assert {(c.lr, c.epochs) for c in configs} == {(1e-2, 20), (1e-3, 40)}
    assert all(c.normalization == "imagenet" and c.batch_size == 1024 for c in configs)
    assert [c.seed for c in configs] == [0] * 4 + [1] * 4


def test_reproduce_can_keep_one_row_of_the_table():
    configs = list(configurations(["own-network"], [4], lrs=[1e-2]))
    assert [(c.model, c.lr, c.epochs, c.seed) for c in configs] == [("own-network", 1e-2, 20, 4)]
    with pytest.raises(CifarHelpersError, match=r"no row at lr 3e-3: its learning rates are 1e-3 and 1e-2"):
        list(configurations(["own-network"], [4], lrs=[1e-2, 3e-3]))


def test_sweep_plot_labels_each_model_with_its_own_epochs_and_marks_the_choice():
    import pandas as pd

    from cifar_helpers import plots

    table = pd.DataFrame({"model": ["lenet5", "lenet5", "own-network", "own-network"], "lr": [1e-3, 1e-2, 1e-3, 1e-2],
                          "epochs": [10, 10, 3, 3], "test_acc": [60.0, 55.0, 65.0, 50.0],
                          "val_acc": [61.0, 54.0, 64.0, 52.0]})
    fig = plots.lr_sweep(table, chosen={"lenet5": 1e-3, "own-network": 1e-3}, suggestions={"lenet5": 2.3e-3})
    assert [ax.get_title() for ax in fig.axes] == ["validation split (chooses the rate)",
                                                   "test set (reported, never chooses)"]
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert sorted(labels) == ["lenet5, 10 epochs", "lenet5: chosen on validation", "lenet5: range test suggests 0.0023",
                              "own-network, 3 epochs", "own-network: chosen on validation"]


def test_the_main_job_ends_with_the_site_of_what_it_executed(tmp_path, monkeypatch, capsys):
    """The job builds the site from its own folder of executed notebooks and says where it is and
    how to serve it (the build itself: tests/test_site.py)."""
    from cifar_helpers import site

    built = []
    monkeypatch.setattr(series, "run_steps", lambda steps, out_dir, records_dir: None)
    monkeypatch.setattr(site, "build", lambda folder: built.append(folder) or folder / "site" / "index.html")
    out = series.run_series(str(tmp_path / "job"), quick=True, reuse=True)
    assert built == [out]
    printed = capsys.readouterr().out
    assert f"Website of the executed series: {out / 'site' / 'index.html'}" in printed
    assert f"python3 -m http.server 8000 --directory {out / 'site'}" in printed
