"""Files from elsewhere run no code: a hostile checkpoint or CIFAR-10 batch is refused with its
paragraph and leaves the marker its payload would create untouched; one trainer per run folder,
and a killed trainer's lock blocks nothing."""

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from cifar_helpers import DatasetError, RunsFolderError, fit, load_cifar10, load_run
from cifar_helpers.paths import REPO
from cifar_helpers.records import TRAINER, read_checkpoint, slim_checkpoint, write_record
from conftest import make_fake_cifar


class Payload:
    """Unpickled by a trusting loader, this creates the marker file (a stand-in for any code)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def hostile_run(folder: Path, marker: Path, as_torch_file: bool) -> Path:
    """A run folder whose checkpoint, in either format torch.load reads, carries the payload."""
    folder.mkdir()
    write_record(folder, {"name": folder.name, "status": "complete", "history": [],
                          "config": {"model": "lenet5", "lr": 1e-3, "epochs": 1, "seed": 0}})
    state = {"epoch": 1, "history": [], "model": Payload(marker)}
    if as_torch_file:
        torch.save(state, folder / "checkpoint.pt")
    else:
        (folder / "checkpoint.pt").write_bytes(pickle.dumps(state, protocol=2))
    return folder


@pytest.mark.parametrize("as_torch_file", [True, False], ids=["torch.save", "plain-pickle"])
def test_a_hostile_checkpoint_runs_nothing(tmp_path, as_torch_file):
    marker = tmp_path / "marker"
    run_dir = hostile_run(tmp_path / "run", marker, as_torch_file)
    assert not marker.exists()
    for load in (read_checkpoint, load_run, slim_checkpoint):
        with pytest.raises(RunsFolderError, match=r"damaged or unsafe.*Nothing in it was run") as error:
            load(run_dir)
        assert "\n" not in str(error.value)
    with pytest.raises(RunsFolderError, match="damaged or unsafe"):  # a resume reads it too
        write_record(run_dir, dict(json.loads((run_dir / "record.json").read_text()), status="interrupted"))
        fit(None, resume=run_dir, progress=False)
    assert not marker.exists()


def test_a_hostile_data_batch_runs_nothing_and_is_named(tmp_path):
    marker = tmp_path / "marker"
    folder = make_fake_cifar(tmp_path / "data")
    (folder / "data_batch_3").write_bytes(pickle.dumps({"data": Payload(marker), "labels": []}))
    with pytest.raises(DatasetError, match=r"data_batch_3 is unusable: it asks to call (io|builtins).open") as error:
        load_cifar10(tmp_path / "data")
    assert "\n" not in str(error.value) and "nothing of it was run" in str(error.value)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_batches_pickled_with_any_protocol_still_load(tmp_path, protocol):
    """The restricted unpickler allows what numpy arrays need under each pickle protocol."""
    folder = make_fake_cifar(tmp_path / "data")
    images = np.arange(10000 * 3072, dtype=np.int64).astype(np.uint8).reshape(10000, 3072)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({"data": images, "labels": list(np.tile(np.arange(10), 1000))}, f, protocol=protocol)
    data = load_cifar10(tmp_path / "data")
    assert torch.equal(data.test_images.reshape(10000, 3072), torch.from_numpy(images))


SMALL = ["--subset", "384", "--test-subset", "200", "--batch-size", "128", "--no-progress"]


def _wait_for(condition, seconds: float) -> None:
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def test_one_trainer_per_run_and_a_killed_trainers_lock_blocks_nothing(cifar, tmp_path):
    run_dir = tmp_path / "run"
    record_path = run_dir / "record.json"
    train = [sys.executable, "-m", "cifar_helpers", "train"]
    killed = subprocess.Popen([*train, "--model", "lenet5", "--epochs", "500", "--runs-dir", str(tmp_path),
                               "--name", "run", *SMALL], cwd=REPO)
    _wait_for(lambda: record_path.exists() and json.loads(record_path.read_text())["history"], 120)
    os.kill(killed.pid, signal.SIGKILL)  # its lock file stays behind, its lock does not
    killed.wait()
    assert (run_dir / ".trainer.lock").exists()

    # Enough epochs left for the first resume to be busy for about ten seconds.
    done = read_checkpoint(run_dir)["epoch"]
    record = json.loads(record_path.read_text())
    seconds = record["history"][0]["seconds"]
    record["config"]["epochs"] = done + max(3, round(10 / seconds))
    write_record(run_dir, record)

    first = subprocess.Popen([*train, "--resume", str(run_dir), "--no-progress"], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: (run_dir / TRAINER).exists()
                  and json.loads((run_dir / TRAINER).read_text())["pid"] == first.pid, 120)
        assert first.poll() is None, "the first resume finished before the second could try"
        with pytest.raises(RunsFolderError, match=rf"being trained right now by another process \(process "
                                                  rf"{first.pid} on .*train --resume") as error:
            fit(None, resume=run_dir, progress=False)
        assert "\n" not in str(error.value)
        out, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err[-3000:]
    record = json.loads(record_path.read_text())
    assert record["status"] == "complete"
    assert [h["epoch"] for h in record["history"]] == list(range(1, record["config"]["epochs"] + 1))
