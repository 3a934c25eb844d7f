"""The learning-rate sweep on Dask: a local cluster by default, any scheduler by address; records
come back to the client, finished runs are skipped, a failing run fails alone."""

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cifar_helpers.errors import CifarHelpersError
from cifar_helpers.paths import REPO
from cifar_helpers.sweep import plan, sweep
from cifar_helpers.tables import against_range_tests, chosen_rates, sweep_table

TINY = dict(epochs=1, subset=200, test_subset=200, val_size=100, progress=False)


def _records(folder: Path) -> dict:
    return {p.parent.name: json.loads(p.read_text()) for p in folder.glob("*/record.json")}


def test_a_local_cluster_sweep_collects_every_run_a_bad_one_fails_alone_and_finished_ones_are_skipped(
        cifar, tmp_path, capsys):
    runs = tmp_path / "runs"
    with pytest.raises(CifarHelpersError, match=r"1 of 3 sweep runs failed \(lenet5 lr=-1e0 seed=0: .*lr"):
        sweep(["lenet5"], [1e-3, 3e-3, -1.0], [0], runs_dir=str(runs), workers=2, **TINY)
    records = _records(runs)  # the bad value lost none of the others
    assert sorted((r["config"]["lr"], r["config"]["seed"]) for r in records.values()) == [(1e-3, 0), (3e-3, 0)]
    assert all(r["status"] == "complete" and r["config"]["model"] == "lenet5" for r in records.values())
    assert all(r["config"]["val_size"] == 100 and "val_acc" in r["final"] for r in records.values())
    for name in records:  # everything the worker wrote came back to the client
        assert (runs / name / "checkpoint.pt").stat().st_size > 0
        assert "papermill" in (runs / name / "notebook.ipynb").read_text()
    assert "local Dask cluster: 2 worker(s) x 1 torch thread(s)" in capsys.readouterr().out
    sweep(["lenet5"], [1e-3, 3e-3], [0], runs_dir=str(runs), workers=2, **TINY)
    assert capsys.readouterr().out.count("done already") == 2 and _records(runs).keys() == records.keys()


def test_the_plan_is_every_model_lr_and_seed():
    runs = plan(["lenet5", "own-network"], [1e-3, 1e-2], [0, 1, 2], epochs=2)
    assert [(r.model, r.lr, r.seed) for r in runs][:4] == [("lenet5", 1e-3, 0), ("lenet5", 1e-3, 1),
                                                          ("lenet5", 1e-3, 2), ("lenet5", 1e-2, 0)]
    assert len(runs) == 12 and all(r.parameters["epochs"] == 2 and not r.parameters["reuse"] for r in runs)
    assert runs[0].parameters["original_variant"] is False and "original_variant" not in runs[-1].parameters
    assert runs[0].parameters["loop_epochs"] == 0 and "loop_epochs" not in runs[-1].parameters  # no first run
    with pytest.raises(CifarHelpersError, match="not 'whitened-net'"):
        plan(["whitened-net"], [1e-3], [0], epochs=1)


@contextlib.contextmanager
def scheduler_and_worker(folder: Path, tls: list[str] = ()):
    """A Dask scheduler and one worker started apart, as on a cluster (tls: their certificate
    options, which also makes the scheduler speak TLS); yields the scheduler's address."""
    dask = Path(sys.executable).parent / "dask"
    address_file = folder / "scheduler.json"
    protocol = ["--protocol", "tls", "--host", "127.0.0.1"] if tls else []
    scheduler = subprocess.Popen([dask, "scheduler", "--scheduler-file", address_file, "--no-dashboard", "--port", "0",
                                  *protocol, *tls], cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        for _ in range(300):
            if address_file.is_file() and address_file.stat().st_size:
                break
            time.sleep(0.1)
        address = json.loads(address_file.read_text())["address"]
        worker = subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-dashboard", *tls], cwd=folder,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        yield address
    finally:
        for process in (worker, scheduler):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)


def sweep_command(address: str, runs: Path, *options: str, timeout: int = 300):
    return subprocess.run([sys.executable, "-m", "cifar_helpers", "sweep", "--models", "lenet5", "--lrs", "1e-3",
                           "--seeds", "0", "--epochs", "1", "--subset", "200", "--test-subset", "200",
                           "--runs-dir", str(runs), "--scheduler", address, "--no-progress", *options],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout)


def _certificates(folder: Path, name: str) -> list[str]:
    """A fresh CA and a certificate it signed for this machine, as the three TLS options."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    paths = [folder / f"{name}-{part}.pem" for part in ("ca", "cert", "key")]
    for blob, path in zip((ca.cert_pem, cert.cert_chain_pems[0], cert.private_key_pem), paths):
        blob.write_to_path(str(path))
    return [f"--tls-{option}={path}" for option, path in zip(("ca-file", "cert", "key"), paths)]


def test_a_tls_sweep_on_a_scheduler_and_worker_started_apart_refuses_a_client_without_its_certificate(
        cifar, tmp_path):
    """As on a cluster: scheduler and worker started apart (dask scheduler / dask worker), over TLS."""
    cluster = _certificates(tmp_path, "cluster")
    with scheduler_and_worker(tmp_path, cluster) as address:
        assert address.startswith("tls://")
        # No certificate at all: refused before anything is sent, with what to give.
        result = sweep_command(address, tmp_path / "runs")
        assert result.returncode == 1 and "needs --tls-ca-file, --tls-cert, --tls-key" in result.stderr
        # A certificate another CA signed: the scheduler refuses the client (and the client the scheduler).
        result = sweep_command(address, tmp_path / "runs", *_certificates(tmp_path, "stranger"))
        assert result.returncode == 1, result.stdout[-3000:]
        assert result.stderr.startswith(f"error: Could not connect to the Dask scheduler at {address}")
        assert "come from that cluster's CA" in result.stderr and result.stderr.count("\n") == 1
        assert not (tmp_path / "runs").exists() or not _records(tmp_path / "runs")
        # The cluster's own certificate: the run goes through, encrypted.
        result = sweep_command(address, tmp_path / "runs", *cluster)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"1 runs on the Dask scheduler at {address}" in result.stdout
    assert [r["config"]["lr"] for r in _records(tmp_path / "runs").values()] == [1e-3]


def test_tls_files_without_a_tls_scheduler_are_a_mistake(tmp_path):
    result = sweep_command("tcp://127.0.0.1:1", tmp_path / "runs", "--tls-ca-file", "ca.pem", timeout=60)
    assert result.returncode == 1 and "secure a tls:// scheduler, but the scheduler is tcp://" in result.stderr


def test_the_rate_is_chosen_on_the_validation_split_not_the_test_set(tmp_path):
    import pandas as pd

    # lr 1e-2 has the best test accuracy, 1e-3 the best validation accuracy: validation decides.
    rows = [dict(model="lenet5", lr=lr, epochs=40, seed=seed, status="complete", val_size=5000, val_acc=val,
                 test_acc=test, collapsed=test < 11, optimizer="adam", batch_size=1024)
            for lr, seed, val, test in [(1e-3, 0, 63.0, 62.0), (1e-3, 1, 64.0, 62.5), (1e-2, 0, 61.0, 66.0),
                                        (1e-2, 1, 60.0, 65.0), (1e-2, 2, 10.0, 10.0)]]
    rows.append(dict(rows[0], lr=3e-3, val_size=0, val_acc=None, test_acc=70.0))  # no split: not a sweep point
    runs = pd.DataFrame(rows)
    assert chosen_rates(runs) == {"lenet5": 1e-3}
    table = sweep_table(runs)
    assert table[["lr", "Seeds", "Validation (%)", "Collapsed", "Chosen on validation"]].values.tolist() == [
        ["1e-3", 2, "63.50 ± 0.71", 0, "yes"], ["1e-2", 3, "43.67 ± 29.16", 1, ""]]
    (tmp_path / "lenet5_adam_b1024.json").write_text(json.dumps(
        {"lrs": [1e-3], "losses": [2.0], "smoothed": [2.0], "suggestion": 2.5e-3, "diverged": False}))
    assert against_range_tests(runs, tmp_path).values.tolist() == [["lenet5", "1e-3", "0.0025", "2.5"]]
