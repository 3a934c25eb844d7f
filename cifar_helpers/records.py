"""Run folders: a JSON record and a checkpoint per run, written so that no crash loses or breaks one.

Every write goes to a temporary file in the same folder and is renamed over the target, so a
reader sees the old version or the new one, never half of one. A new run never reuses a folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import warnings
from datetime import datetime, timezone
from pathlib import Path

import torch

from .errors import RunsFolderError
from .models import ALIASES
from .paths import project_path

RECORD = "record.json"
CHECKPOINT = "checkpoint.pt"
TRAINER_LOCK = ".trainer.lock"  # held by the one process training the run (an OS lock: dies with it)
TRAINER = ".trainer.json"  # who holds it, for the message another process shows
STATUSES = ("running", "complete", "interrupted", "diverged")
FORMAT = 1
COLLAPSE_SHARE = 0.9  # a run is "collapsed" when one class takes this share of its test answers


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def format_lr(lr: float) -> str:
    """0.001 -> '1e-3', 0.0025 -> '2.5e-3': short, and safe in file names."""
    mantissa, exponent = f"{lr:e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _signals_held():
    """Ctrl-C and SIGTERM wait until the block ends: raised inside torch.save, an interrupt breaks
    the zip writer, which then fails with an error of its own instead of ending the run as an
    interrupt. A write takes a fraction of a second; the signal's own handler runs right after it.
    (Python runs signal handlers in the main thread, so only there is anything to hold.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = (signal.SIGINT, signal.SIGTERM)
    before = {signum: signal.getsignal(signum) for signum in held}
    caught = []
    for signum in held:
        signal.signal(signum, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
    if caught:
        signum, handler = caught[0], before[caught[0]]
        if callable(handler):
            handler(signum, None)  # Ctrl-C's KeyboardInterrupt, or interrupt_on_sigterm's
        elif handler != signal.SIG_IGN:
            signal.raise_signal(signum)  # the default: end the process, as it would have


def _atomic_write(path: Path, write) -> None:
    with _signals_held():  # an interrupt comes after the file is in place, or before it was begun
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; a record is not a secret
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def new_record(run_dir: Path, config: dict, environment: dict, parameters: int,
               with_checkpoint: bool = True) -> dict:
    """The record of a run about to start: what it computes (config), where (environment), its
    network's size; status 'running', no epoch yet."""
    record = {"format": FORMAT, "name": Path(run_dir).name, "status": "running", "config": config,
              "environment": environment, "parameters": parameters, "created": now(), "history": []}
    if with_checkpoint:
        record["checkpoint"] = CHECKPOINT
    return record


def refresh_summary(record: dict, status: str) -> None:
    """Set a record's status and the fields derived from its history: final metrics, the best
    epoch (chosen on the validation split, when the run has one; never on the test set), the
    collapse flag."""
    if status not in STATUSES:
        raise ValueError(f"A run's status is one of {', '.join(STATUSES)}, not {status!r}.")
    history = record["history"]
    record["status"] = status
    record["updated"] = now()
    if not history:
        return
    record["final"] = dict(history[-1])
    record.pop("best", None)
    if "val_acc" in history[-1]:
        best = max(history, key=lambda h: h["val_acc"])
        record["best"] = {"val_acc": best["val_acc"], "epoch": best["epoch"], "test_acc": best["test_acc"]}
    # A network that gives one answer for (nearly) every test image has collapsed: on balanced
    # CIFAR-10 it scores about 10%, whatever it "learned".
    record["collapsed"] = history[-1]["test_top_class_share"] >= COLLAPSE_SHARE


def write_record(run_dir: Path, record: dict) -> None:
    text = json.dumps(record, indent=1, allow_nan=True).encode()
    _atomic_write(Path(run_dir) / RECORD, lambda f: f.write(text))


def write_checkpoint(run_dir: Path, state: dict) -> None:
    _atomic_write(Path(run_dir) / CHECKPOINT, lambda f: torch.save(state, f))


def write_file(run_dir: Path, name: str, data: bytes) -> None:
    """A file of a run received as bytes (a sweep's worker sent it), written atomically."""
    _atomic_write(Path(run_dir) / name, lambda f: f.write(data))


def slim_checkpoint(run_dir: Path) -> tuple[int, int]:
    """Keep only the weights and history in a complete run's checkpoint, to ship it: the optimizer
    and random states only serve a resume, and a complete run has nothing left to resume.
    Returns the sizes in bytes before and after."""
    run_dir = Path(run_dir)
    status = read_record(run_dir).get("status")
    if status != "complete":
        raise RunsFolderError(f"The run {run_dir} is {status}, not complete: its checkpoint's optimizer "
                              "state is what resumes it, so it stays whole. Finish the run first.")
    state = read_checkpoint(run_dir)  # a missing or damaged checkpoint is reported as such
    before = (run_dir / CHECKPOINT).stat().st_size
    write_checkpoint(run_dir, {k: state[k] for k in ("epoch", "history", "model")})
    return before, (run_dir / CHECKPOINT).stat().st_size


def ensure_writable(folder: Path) -> Path:
    """Create `folder` if needed and prove it writable now, before any training time is spent.
    Returns it as an absolute path (a relative one is taken from the repository root)."""
    folder = project_path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise RunsFolderError(
            f"Cannot write into {folder} ({exc.strerror or exc}). Nothing was trained. Choose a "
            "folder you can write to (the runs_dir or figures_dir parameter, or --runs-dir on the "
            "command line), or fix the folder's permissions."
        ) from None
    return folder


def new_run_dir(runs_dir: Path, name: str) -> Path:
    """A fresh folder runs_dir/name, or name-2, name-3... if taken: old runs are never overwritten."""
    runs_dir = ensure_writable(runs_dir)
    for i in range(1, 10_000):
        candidate = runs_dir / (name if i == 1 else f"{name}-{i}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise RunsFolderError(f"Too many runs named {name!r} in {runs_dir}; choose another name.")


def upgrade(record: dict) -> dict:
    """A record as this version names things: model names older versions wrote (see
    models.ALIASES) are translated in memory; the file is left as it is."""
    config = record.get("config")
    if isinstance(config, dict) and config.get("model") in ALIASES:
        config["model"] = ALIASES[config["model"]]
    return record


def read_record(run_dir: Path) -> dict:
    path = project_path(run_dir) / RECORD
    try:
        return upgrade(json.loads(path.read_text()))
    except FileNotFoundError:
        raise RunsFolderError(f"There is no run record at {path}. Give the folder of a run "
                              "(one that holds record.json), as written by fit().") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunsFolderError(f"The run record {path} is unreadable ({exc}); that run cannot be "
                              "used. Delete its folder or train it again.") from None


def read_checkpoint(run_dir: Path) -> dict:
    """The checkpoint of a run, on the CPU whatever device saved it. A checkpoint is a pickle, and
    a pickle can name any function to call: it is read with PyTorch's restricted loader, which
    builds tensors, numbers and plain containers only (all that fit saves), so one from elsewhere
    cannot run code."""
    path = project_path(run_dir) / CHECKPOINT
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RunsFolderError(f"The run {run_dir} has no checkpoint ({CHECKPOINT}); it stopped "
                              "before its first epoch ended. Train it again.") from None
    except Exception as exc:  # a damaged zip raises RuntimeError, EOFError; a hostile one UnpicklingError
        raise RunsFolderError(
            f"The checkpoint {path} is damaged or unsafe ({type(exc).__name__}: {_reason(exc)}). Nothing in "
            "it was run: checkpoints are read with PyTorch's restricted loader, which only builds tensors "
            "and plain data. If the file came from someone else, do not load it another way; train that "
            "run again, or ask for a good copy."
        ) from None


def _reason(exc: Exception) -> str:
    """One line of a loader's error (PyTorch's restricted-loader error runs to paragraphs)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    refused = [line for line in lines if "Unsupported global" in line or "WeightsUnpickler" in line]
    line = (refused or lines or ["no details"])[0]
    return line if len(line) <= 200 else line[:197] + "..."


@contextlib.contextmanager
def one_trainer(run_dir: Path):
    """Hold the run folder's trainer lock while training it: a second process (another terminal,
    a notebook, a sweep) that tries to train the same run is refused and told who has it, instead
    of both writing one checkpoint. The operating system releases the lock when its process ends,
    however it ends, so a killed trainer never blocks the next resume."""
    from filelock import FileLock, Timeout

    run_dir = Path(run_dir)
    lock = FileLock(run_dir / TRAINER_LOCK, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RunsFolderError(
            f"The run {run_dir} is being trained right now by another process ({_holder(run_dir)}). Two "
            "trainers would overwrite each other's checkpoint, so this one stopped and changed nothing. Wait "
            "for that one to finish (its record then says 'complete'), or stop it (Ctrl-C in its terminal, "
            "interrupt its notebook kernel, or end that process) and resume again: a process that has ended "
            "holds no lock."
        ) from None
    try:
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": now(),
                  "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else ""}
        text = json.dumps(holder).encode()
        _atomic_write(run_dir / TRAINER, lambda f: f.write(text))
        yield
    finally:
        lock.release()


def _holder(run_dir: Path) -> str:
    try:
        holder = json.loads((run_dir / TRAINER).read_text())
        return (f"process {holder['pid']} on {holder['host']}, training since {holder['since']}: "
                f"{holder['command'] or 'a Python process'}")
    except (OSError, ValueError, KeyError):
        return "a process that has not yet said which"


def _is_run(folder: Path) -> bool:
    """A run folder holds a record or a checkpoint (fit writes the record as it creates the
    folder), or the temporary file of one being written. Anything else (a folder of executed
    notebooks, of figures, of other runs) is not a run, broken or not."""
    return any(p.name in (RECORD, CHECKPOINT) or p.name.startswith((f".{RECORD}.", f".{CHECKPOINT}."))
               for p in folder.iterdir())


def iter_records(folders) -> list[tuple[Path, dict]]:
    """(run folder, record) for every readable run directly under the given folders (relative
    ones are taken from the repository root); a run folder whose record is missing or torn is
    skipped with a warning that names it."""
    if isinstance(folders, (str, os.PathLike)):
        folders = [folders]
    found, skipped = [], []
    for folder in map(project_path, folders):
        if not folder.is_dir():
            continue
        for run_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if not _is_run(run_dir):
                continue
            try:
                record = json.loads((run_dir / RECORD).read_text())
                if not isinstance(record, dict) or "config" not in record:
                    raise ValueError("not a run record")
            except (OSError, ValueError):
                skipped.append(str(run_dir))
                continue
            found.append((run_dir, upgrade(record)))
    if skipped:
        warnings.warn(f"Skipped {len(skipped)} run folder(s) whose {RECORD} is missing or unreadable "
                      f"(a run killed while its first record was written, or a damaged file): "
                      f"{', '.join(skipped)}. Delete them, or ignore this.", stacklevel=2)
    return found


def isa_of(record: dict) -> str | None:
    """The instruction set a run trained with (device.cpu_isa, or "GPU"). Records older than the
    `cpu_isa` field name torch's capability; on the AMD EPYCs that trained them in bf16, "AVX512" was
    the AVX512-BF16 kind (bf16 is only "auto" where it is native)."""
    env, precision = record.get("environment", {}), record.get("config", {}).get("precision")
    if not env:
        return None
    if env.get("cpu_isa") or env.get("device_type", "cpu") != "cpu":
        return env.get("cpu_isa") or "GPU"
    capability = env.get("cpu_capability")
    return "AVX512-BF16" if capability == "AVX512" and precision == "bf16" else capability


def machine_of(record: dict) -> str | None:
    """Where a run trained, as its speed and arithmetic depend on it: "AMD EPYC, AVX2, fp32"."""
    isa = isa_of(record)
    return isa and f"{record['environment'].get('device_name')}, {isa}, {record['config'].get('precision')}"


def summarize(run_dir: Path, record: dict) -> dict:
    """One row of the runs table."""
    config, final, best = record["config"], record.get("final") or {}, record.get("best") or {}
    env = record.get("environment", {})
    history = record.get("history", [])
    return {
        "run": run_dir.name,
        "model": config["model"],
        "lr": config["lr"],
        "epochs": config["epochs"],
        "epochs_done": len(history),
        "seed": config["seed"],
        "normalization": config["normalization"],
        "optimizer": config.get("optimizer"),
        "batch_size": config.get("batch_size"),
        "subset": config.get("subset"),
        "augment": config.get("augment", False),
        "precision": config.get("precision"),
        "status": record.get("status"),
        "collapsed": record.get("collapsed", False),
        "test_acc": final.get("test_acc"),
        "test_tta_acc": final.get("test_tta_acc"),
        "train_eval_acc": final.get("train_eval_acc"),
        "val_size": config.get("val_size", 0),
        "val_acc": final.get("val_acc"),
        "best_val_epoch": best.get("epoch") if "val_acc" in best else None,
        "test_acc_at_best_val": best.get("test_acc") if "val_acc" in best else None,
        "wall_s": sum(h["seconds"] for h in history),
        "device": env.get("device_name"),
        "machine": machine_of(record),
        "path": str(run_dir),
    }


def load_runs(*folders):
    """All run records under the given folders (default 'runs') as a pandas DataFrame, one row
    per run. Accuracies are in percent; `path` is the run folder, for `load_run`."""
    import pandas as pd

    rows = [summarize(run_dir, record) for run_dir, record in iter_records(folders or ("runs",))]
    return pd.DataFrame(rows, columns=list(summarize(Path("x"), _EMPTY).keys()))


_EMPTY = {"config": {"model": None, "lr": None, "epochs": None, "seed": None, "normalization": None}}
