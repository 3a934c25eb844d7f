"""The command line: a run, a SIGTERM that keeps the last epoch, a resume, and slimming a checkpoint."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from cifar_helpers.paths import REPO

SMALL = ["--subset", "384", "--test-subset", "200", "--batch-size", "128", "--no-progress"]


def cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "cifar_helpers", *args], cwd=REPO,
                          capture_output=True, text=True, **kwargs)


def test_train_prints_the_result_and_writes_a_record(cifar, tmp_path):
    result = cli("train", "--model", "lenet5", "--lr", "0.003", "--runs-dir", str(tmp_path), *SMALL)
    assert result.returncode == 0, result.stderr
    assert "test accuracy" in result.stdout
    (record,) = tmp_path.glob("*/record.json")
    assert json.loads(record.read_text())["config"]["lr"] == 0.003


def test_bad_input_is_one_line_on_stderr(tmp_path):
    result = cli("train", "--model", "lenet5", "--lr", "-1", "--runs-dir", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.startswith("error: lr (the learning rate) must be a positive")
    assert "Traceback" not in result.stderr
    result = cli("train", "--resume", str(tmp_path / "nothing-here"))
    assert result.returncode == 1 and "no run record" in result.stderr
    # Every subcommand reports a helper error with the same exit code.
    result = cli("reproduce", "--lrs", "3e-3", "--runs-dir", str(tmp_path))
    assert result.returncode == 1 and "no row at lr 3e-3" in result.stderr
    result = cli("slim-checkpoint", str(tmp_path / "nothing-here"))
    assert result.returncode == 1 and result.stderr.startswith("error: ")


def test_train_flags_are_the_config_fields():
    import dataclasses

    from cifar_helpers import TrainConfig

    help_text = cli("train", "--help").stdout
    for field in dataclasses.fields(TrainConfig):
        assert "--" + field.name.replace("_", "-") in help_text, field.name
    assert "--no-augment" in help_text and "--val-size" in help_text


def test_sigterm_keeps_the_last_epoch_and_resume_finishes(cifar, tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "cifar_helpers", "train", "--model", "own-network", "--epochs", "50",
         "--runs-dir", str(tmp_path), "--name", "cut", *SMALL],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    record_path = tmp_path / "cut" / "record.json"
    deadline = time.time() + 120
    while time.time() < deadline and not (record_path.exists() and json.loads(record_path.read_text())["history"]):
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    record = json.loads(record_path.read_text())
    assert record["status"] == "interrupted" and 1 <= len(record["history"]) < 50
    assert "--resume" in stderr
    refused = cli("slim-checkpoint", str(tmp_path / "cut"))  # its optimizer state is what resumes it
    assert refused.returncode == 1 and "not complete" in refused.stderr

    # Resuming continues from the kept epoch; cut it short by lowering epochs in the record.
    done = len(record["history"])
    record["config"]["epochs"] = done + 1
    record_path.write_text(json.dumps(record))
    result = cli("train", "--resume", str(tmp_path / "cut"), "--no-progress")
    assert result.returncode == 0, result.stderr
    record = json.loads(record_path.read_text())
    assert record["status"] == "complete" and [h["epoch"] for h in record["history"]] == list(range(1, done + 2))

    # A complete run's checkpoint can be slimmed for shipping: the same weights, without the resume-only state.
    from cifar_helpers import load_run
    from cifar_helpers.records import read_checkpoint

    weights = load_run(tmp_path / "cut").model.state_dict()
    result = cli("slim-checkpoint", str(tmp_path / "cut"))
    assert result.returncode == 0, result.stderr
    assert set(read_checkpoint(tmp_path / "cut")) == {"epoch", "history", "model"}
    slimmed = load_run(tmp_path / "cut").model.state_dict()
    assert all(torch.equal(weights[k], slimmed[k]) for k in weights)


def test_sigkill_leaves_a_readable_run(cifar, tmp_path):
    from cifar_helpers import load_runs
    from cifar_helpers.records import read_checkpoint

    process = subprocess.Popen(
        [sys.executable, "-m", "cifar_helpers", "train", "--model", "lenet5", "--epochs", "500",
         "--runs-dir", str(tmp_path), "--name", "killed", *SMALL], cwd=REPO)
    record_path = tmp_path / "killed" / "record.json"
    deadline = time.time() + 120
    def epochs_done():
        return len(json.loads(record_path.read_text())["history"]) if record_path.exists() else 0

    while time.time() < deadline and epochs_done() < 3:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    table = load_runs(tmp_path)
    assert table["status"].tolist() == ["running"]  # killed: never marked complete
    epochs = table["epochs_done"].item()
    # The checkpoint is written just before the record: it may be one epoch ahead, never behind.
    assert read_checkpoint(tmp_path / "killed")["epoch"] in (epochs, epochs + 1)


def test_readme_table_says_it_regenerates_the_readme_and_docs(capsys):
    from cifar_helpers.cli import main

    for argv in (["--help"], ["readme-table", "--help"]):  # --help regenerates nothing: it exits first
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 0
        assert "regenerate the generated tables of README.md and docs/" in " ".join(capsys.readouterr().out.split())
