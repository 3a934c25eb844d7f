"""Learning-rate sweeps on Dask: one papermill execution of notebook 02 or 03 per (model, lr,
seed), fanned out to a Dask cluster (`distributed`): a LocalCluster sized to this machine by
default, or any running scheduler by address (`--scheduler tcp://host:8786`: SSH, SLURM through
dask-jobqueue, Kubernetes). Plain TCP is neither encrypted nor authenticated: anyone who reaches
the scheduler can submit work to it, so beyond one machine or a private network use
`--scheduler tls://host:8786` with `--tls-ca-file`, `--tls-cert` and `--tls-key` (mutual TLS: the
scheduler accepts only clients and workers whose certificate its CA signed). Each worker
executes its notebook into a temporary folder and sends the run's record, checkpoint and
executed notebook back; the client writes them into the runs folder, so the workers share no file
system (each needs CIFAR-10: CIFAR10_ROOT or the download). Finished runs are skipped on a rerun;
a failing run is reported with its error and loses none of the others. Every run holds a
validation split out of training (`--val-size`), and `summary` chooses each network's rate on it,
never on the test set."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import flags, records
from .command import interrupt_on_sigterm, run_command
from .errors import CifarHelpersError
from .paths import RESULTS_DIR, project_path
from .records import format_lr
from .runner import execute_notebook

SWEEP_LRS = (3e-4, 1e-3, 3e-3, 1e-2)
VAL_SIZE = 5000  # training images held out: the best rate is chosen on them, never on the test set
NOTEBOOKS = {"lenet5": "02_lenet5.ipynb", "own-network": "03_own_network.ipynb"}
NOTEBOOK_FILE = "notebook.ipynb"  # the executed notebook, beside the run's record and checkpoint
RUNS_DIR = f"{RESULTS_DIR}/sweep"  # the shipped sweep


@dataclass(frozen=True)
class SweepRun:
    """One point of the sweep: the notebook that trains it and its papermill parameters."""

    model: str
    lr: float
    seed: int
    parameters: dict

    @property
    def label(self) -> str:
        return f"{self.model} lr={format_lr(self.lr)} seed={self.seed}"


def plan(models, lrs, seeds, epochs: int, subset: int | None = None, test_subset: int | None = None,
         val_size: int = VAL_SIZE) -> list[SweepRun]:
    runs = []
    for model in models:
        if model not in NOTEBOOKS:
            raise CifarHelpersError(f"The sweep trains {' and '.join(NOTEBOOKS)} (notebooks 02 and 03), not "
                                    f"{model!r}. Use --models with those names.")
        for lr in lrs:
            for seed in seeds:
                parameters = dict(model=model, lr=lr, seed=seed, epochs=epochs, subset=subset,
                                  test_subset=test_subset, val_size=val_size, reuse=False)
                if model == "lenet5":
                    parameters["original_variant"] = False  # notebook 02 would train it too
                    parameters["loop_epochs"] = 0  # and the student's first run
                runs.append(SweepRun(model, lr, seed, parameters))
    return runs


def execute_run(notebook: str, parameters: dict) -> dict:
    """On a worker: execute one notebook into a temporary folder and return the run it trained
    (record, checkpoint and executed notebook, as text and bytes). A failing cell raises
    CifarHelpersError with its error."""
    with tempfile.TemporaryDirectory(prefix="cifar-sweep-") as tmp:
        tmp = Path(tmp)
        executed = execute_notebook(notebook, tmp / NOTEBOOK_FILE, dict(parameters, runs_dir=str(tmp / "runs"),
                                                                         figures_dir=str(tmp / "asset")))
        (run_dir,) = [d for d in (tmp / "runs").iterdir() if (d / records.RECORD).is_file()]
        return {"name": run_dir.name, "record": (run_dir / records.RECORD).read_text(),
                "checkpoint": (run_dir / records.CHECKPOINT).read_bytes(), "notebook": executed.read_bytes()}


def _finished(runs_dir: Path, run: SweepRun) -> Path | None:
    from .training import find_run

    fields = {k: run.parameters[k] for k in ("model", "lr", "seed", "epochs", "subset", "test_subset", "val_size")}
    return find_run([runs_dir], with_checkpoint=False, **fields)


def _save(runs_dir: Path, result: dict) -> Path:
    run_dir = records.new_run_dir(runs_dir, result["name"])
    records.write_file(run_dir, records.CHECKPOINT, result["checkpoint"])
    records.write_file(run_dir, NOTEBOOK_FILE, result["notebook"])
    records.write_record(run_dir, json.loads(result["record"]))  # last: a record says the run is whole
    return run_dir


@dataclass(frozen=True)
class TLSFiles:
    """The client's side of mutual TLS: the CA that signed the scheduler's and workers'
    certificates, and this client's certificate and private key (PEM files)."""

    ca_file: str
    cert: str
    key: str


def check_transport(scheduler: str | None, tls: TLSFiles | None) -> None:
    """A tls:// scheduler with all three files, each readable; TLS files with no tls:// scheduler
    are a mistake, not something to ignore."""
    wants_tls = bool(scheduler) and scheduler.startswith("tls://")
    if tls is not None and not wants_tls:
        raise CifarHelpersError(
            f"--tls-ca-file, --tls-cert and --tls-key secure a tls:// scheduler, but the scheduler is "
            f"{scheduler or 'a local cluster'}. Give the scheduler's address as tls://HOST:PORT (started with "
            "`dask scheduler --protocol tls` and its own certificate), or leave the TLS options out.")
    if not wants_tls:
        return
    missing = [flag for flag, value in (("--tls-ca-file", tls and tls.ca_file), ("--tls-cert", tls and tls.cert),
                                        ("--tls-key", tls and tls.key)) if not value]
    if missing:
        raise CifarHelpersError(
            f"The scheduler {scheduler} speaks TLS, which needs {', '.join(missing)} as well: the CA "
            "certificate that signed the cluster's certificates, and this client's certificate and key "
            "(PEM files, from whoever runs the cluster). Nothing was sent.")
    unreadable = [path for path in (tls.ca_file, tls.cert, tls.key) if not os.access(path, os.R_OK)]
    if unreadable:
        raise CifarHelpersError(f"Cannot read {', '.join(unreadable)}: check the paths given to --tls-ca-file, "
                                "--tls-cert and --tls-key. Nothing was sent.")


def connect(scheduler: str, tls: TLSFiles | None, timeout: str = "30s"):
    """A Dask client of the scheduler; over TLS, encrypted and with this client's certificate,
    and nothing else accepted. A refused or unreachable scheduler is one paragraph."""
    from distributed import Client, Security

    security = (Security(tls_ca_file=tls.ca_file, tls_client_cert=tls.cert, tls_client_key=tls.key,
                         require_encryption=True) if tls else None)
    try:
        return Client(scheduler, security=security, timeout=timeout)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        hint = ("the scheduler refuses clients whose certificate its CA did not sign, and this client "
                "trusts only a scheduler certificate signed by --tls-ca-file: check that the three files "
                "come from that cluster's CA" if tls else
                "check the address, and that the scheduler is running and reachable from here")
        raise CifarHelpersError(f"Could not connect to the Dask scheduler at {scheduler} ({why}): {hint}. "
                                "Nothing was sent; finished runs are kept.") from None


def local_cluster(runs: int, workers: int | None = None):
    """A LocalCluster of worker processes, one run at a time each, with workers x torch threads
    no more than this machine's cores."""
    from distributed import LocalCluster

    cores = os.cpu_count() or 1
    workers = max(1, min(workers or cores, runs, cores))
    threads = max(1, cores // workers)
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                        env={"OMP_NUM_THREADS": str(threads)}), workers, threads


def sweep(models, lrs, seeds, epochs: int, runs_dir: str, *, subset: int | None = None,
          test_subset: int | None = None, val_size: int = VAL_SIZE, scheduler: str | None = None,
          tls: TLSFiles | None = None, workers: int | None = None, progress: bool = True) -> None:
    """Train every (model, lr, seed) not yet finished in runs_dir, on Dask; raise one
    CifarHelpersError naming the runs that failed, after every other run is saved. A tls://
    scheduler needs `tls`, the client's certificate files."""
    from distributed import Client, as_completed

    from .training import progress_bar

    check_transport(scheduler, tls)
    folder = records.ensure_writable(project_path(runs_dir))
    todo = []
    for run in plan(models, lrs, seeds, epochs, subset, test_subset, val_size):
        done = _finished(folder, run)
        if done is not None:
            print(f"done already: {run.label} ({done.name})", flush=True)
        else:
            todo.append(run)
    if not todo:
        return
    cluster = None
    if scheduler:
        client = connect(scheduler, tls)
        print(f"{len(todo)} runs on the Dask scheduler at {scheduler}", flush=True)
    else:
        cluster, n, threads = local_cluster(len(todo), workers)
        client = Client(cluster)
        print(f"{len(todo)} runs on a local Dask cluster: {n} worker(s) x {threads} torch thread(s)", flush=True)
    failures = []
    try:
        futures = {client.submit(execute_run, NOTEBOOKS[run.model], run.parameters, pure=False): run
                   for run in todo}
        bar = progress_bar(progress, total=len(futures), desc="sweep runs")
        for future in as_completed(futures):
            run = futures[future]
            try:
                run_dir = _save(folder, future.result())
                final = records.read_record(run_dir).get("final", {})
                print(f"finished: {run.label}: validation {final.get('val_acc', float('nan')):.2f}%, test "
                      f"{final.get('test_acc', float('nan')):.2f}% ({run_dir.name})", flush=True)
            except Exception as exc:  # a failing notebook, a lost worker: reported, the others go on
                failures.append(f"{run.label}: {type(exc).__name__}: {str(exc).rstrip('.')}")
                print(f"FAILED: {failures[-1]}", flush=True)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    if failures:
        raise CifarHelpersError(
            f"{len(failures)} of {len(todo)} sweep runs failed ({'; '.join(failures)}). The other runs are "
            f"saved in {folder}; fix the cause and run the sweep again: finished runs are skipped.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cifar_helpers sweep", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["lenet5", "own-network"])
    parser.add_argument("--lrs", nargs="+", type=float, default=list(SWEEP_LRS))
    flags.add_seeds(parser)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--subset", type=int, default=None)
    parser.add_argument("--test-subset", type=int, default=None)
    parser.add_argument("--val-size", type=int, default=VAL_SIZE,
                        help="training images held out to choose the rate on (0: none; the summary then has no choice)")
    parser.add_argument("--runs-dir", default=RUNS_DIR)
    parser.add_argument("--scheduler", help="address of a running Dask scheduler, tcp:// (unencrypted: one "
                        "machine or a private network) or tls:// (default: a local cluster)")
    parser.add_argument("--tls-ca-file", help="tls:// scheduler: the CA certificate that signed the cluster's")
    parser.add_argument("--tls-cert", help="tls:// scheduler: this client's certificate (PEM)")
    parser.add_argument("--tls-key", help="tls:// scheduler: this client's private key (PEM)")
    parser.add_argument("--workers", type=int, help="local cluster: worker processes (default: one per core)")
    flags.add_progress(parser)
    args = parser.parse_args(argv)
    interrupt_on_sigterm()
    given = (args.tls_ca_file, args.tls_cert, args.tls_key)
    tls = TLSFiles(*given) if any(given) else None
    return run_command(sweep, args.models, args.lrs, args.seeds, args.epochs, args.runs_dir, subset=args.subset,
                       test_subset=args.test_subset, val_size=args.val_size, scheduler=args.scheduler, tls=tls,
                       workers=args.workers, progress=args.progress)
