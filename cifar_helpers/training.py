"""fit(): train a network on CIFAR-10 and keep a record of every epoch.

The loop keeps loss sums and correct counts on the device and reads them once per epoch, so a
GPU is never made to wait for the host mid-epoch. After each epoch the checkpoint (model,
optimizer, random states) and the record are written atomically: an interrupted run keeps its
last complete epoch and can be resumed to the same result.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from . import records
from .batches import Batches
from .config import TrainConfig
from .data import CIFAR10, load_cifar10
from .device import environment, resolve_device, resolve_precision
from .errors import DivergenceError
from .evaluate import tta_logits
from .live import LiveCurve
from .models import WhitenedNet, apply_batchnorm, build_model, canonical_model, count_parameters
from .optim import Lookahead, build_optimizer, build_schedule
from .paths import RESULTS_DIR, project_path, shown

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
WHITENING_IMAGES = 5000  # training images whose 2x2 patches set a WhitenedNet's first layer


@dataclass
class Run:
    """A trained (or loaded) run: its record, its model in eval mode, and its folder."""

    record: dict
    model: nn.Module
    path: Path

    @property
    def history(self):
        """Per-epoch history as a pandas DataFrame (accuracies in percent)."""
        import pandas as pd

        return pd.DataFrame(self.record["history"])

    @property
    def config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.record["config"])


def fit(config: TrainConfig, data: CIFAR10 | None = None, *, device: str = "auto",
        runs_dir: str | os.PathLike = "runs", name: str | None = None, progress: bool = True,
        resume: str | os.PathLike | None = None) -> Run:
    """Train the run that `config` describes and return it as a Run.

    Each epoch records train loss and running train accuracy, test loss and accuracy, validation
    accuracy (when config.val_size), eval-mode accuracy on the training set (the original
    experiment's "Accuracy"; config.eval_train), seconds and images per second. The run goes to
    a new folder under `runs_dir` (record.json and checkpoint.pt). `resume` names an interrupted
    run's folder instead: training continues from its last complete epoch with the configuration
    in its record (`config` may then be None).
    """
    if resume is not None:
        return _resume(project_path(resume), data, device=device, progress=progress)
    if not isinstance(config, TrainConfig):
        raise TypeError(f"fit() takes a TrainConfig, not {type(config).__name__}: for example "
                        "fit(TrainConfig(model='lenet5', epochs=40, lr=1e-3)).")
    target = resolve_device(device)
    config = resolved(config, target)
    run_dir = records.new_run_dir(runs_dir, name or default_name(config))
    record = records.new_record(run_dir, config.to_dict(), environment(target),
                                count_parameters(build_model(config.model)))
    with records.one_trainer(run_dir):
        records.write_record(run_dir, record)  # from its first moment a run folder says what it is
        return _train(run_dir, record, data, target, progress, checkpoint=None)


def resolved(config: TrainConfig, target: torch.device) -> TrainConfig:
    """The configuration with its 'auto' choices made for this device, as fit records them."""
    return config.replace(
        precision=resolve_precision(config.precision, target),
        channels_last=(target.type in ("cuda", "cpu") if config.channels_last is None  # faster there
                       else config.channels_last))


def mixed_precision(config: TrainConfig, target: torch.device):
    """(autocast, scaler) for a resolved configuration's precision: what train_step and measure take."""
    dtype = AUTOCAST_DTYPES.get(config.precision)
    autocast = (lambda: torch.autocast(target.type, dtype=dtype)) if dtype else contextlib.nullcontext
    scaler = torch.amp.GradScaler(target.type) if config.precision == "fp16" else None
    return autocast, scaler


def default_name(config: TrainConfig) -> str:
    size = f"_n{config.subset}" if config.subset else ""
    return f"{config.model}_lr{records.format_lr(config.lr)}_e{config.epochs}_s{config.seed}{size}"


def _resume(run_dir: Path, data, device: str, progress: bool) -> Run:
    records.read_record(run_dir)  # a folder that is no run is told so before any lock is taken
    with records.one_trainer(run_dir):
        return _continue(run_dir, data, device, progress)


def _continue(run_dir: Path, data, device: str, progress: bool) -> Run:
    record = records.read_record(run_dir)
    if record["status"] == "complete":
        print(f"{run_dir} is already complete; nothing to resume.")
        return load_run(run_dir)
    has_checkpoint = (Path(run_dir) / records.CHECKPOINT).is_file()
    checkpoint = records.read_checkpoint(run_dir) if has_checkpoint else None
    if checkpoint is None:
        record["history"] = []
    target = resolve_device(device)
    done = checkpoint["epoch"] if checkpoint else 0
    print(f"Resuming {run_dir} after epoch {done} of {record['config']['epochs']}.")
    return _train(run_dir, record, data, target, progress, checkpoint)


def train_step(net: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               autocast=contextlib.nullcontext, scaler: torch.amp.GradScaler | None = None,
               label_smoothing: float = 0.0):
    """One step of training on one batch: forward, loss, backward, update. Returns the loss and
    the outputs, detached (for the running loss and accuracy).

    `autocast` runs the forward pass in mixed precision where fit chose it; `scaler` (fp16 only)
    scales the loss so that small gradients survive half precision; `label_smoothing` spreads
    that share of each target over all classes (notebook 05)."""
    with autocast():
        out = net(x)                    # 10 scores (logits) per image
        loss = F.cross_entropy(out, y, label_smoothing=label_smoothing)  # how wrong, batch average
    optimizer.zero_grad()               # forget the previous step's gradients
    if scaler is None:
        loss.backward()                 # the gradient of the loss for every weight
        optimizer.step()                # move every weight a little downhill
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return loss.detach(), out.detach()


@dataclass
class Setup:
    """A run's working parts, exactly as fit starts them (see prepare)."""

    net: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    batches: dict
    generator: torch.Generator
    lookahead: Lookahead | None


def prepare(config: TrainConfig, data: CIFAR10, target: torch.device) -> Setup:
    """Model, optimizer, schedule, the batch iterators and the shuffling generator, exactly as fit
    starts them: public so that a diagnostic (scripts/dead_starts.py) can look at the first steps
    of a run without copying this. Setup.batches holds 'train', 'test', 'train_eval' and, with a
    validation split, 'val'."""
    torch.manual_seed(config.seed)
    net = build_model(config.model)
    train_x, train_y = data.split("train", config.subset, val_size=config.val_size)
    mean, std = data.normalization(config.normalization)
    if isinstance(net, WhitenedNet):  # its first layer is set from the training images
        net.whiten_from(Batches(train_x[:WHITENING_IMAGES], train_y[:WHITENING_IMAGES], WHITENING_IMAGES,
                                mean, std, "cpu").first()[0])
        if config.whiten_bias_epochs is not None:
            torch.nn.init.zeros_(net.whiten.bias)
    apply_batchnorm(net, config.batchnorm)
    memory_format = torch.channels_last if config.channels_last else torch.preserve_format
    net = net.to(target).to(memory_format=memory_format)
    opt = build_optimizer(config, net)
    generator = torch.Generator(device=target).manual_seed(config.seed)
    common = dict(mean=mean, std=std, device=target, channels_last=bool(config.channels_last))
    # Evaluation needs no gradients, so it can use larger batches.
    eval_size = max(config.batch_size, 2048)
    batches = {
        "train": Batches(train_x, train_y, config.batch_size, shuffle=True, augment=config.augment,
                         translate=config.translate, flip=config.flip, padding=config.padding,
                         generator=generator, **common),
        "test": Batches(*data.split("test", config.test_subset), eval_size, **common),
        "train_eval": Batches(train_x, train_y, eval_size, **common),
    }
    if config.val_size:
        batches["val"] = Batches(*data.split("val", val_size=config.val_size), eval_size, **common)
    steps = config.epochs * len(batches["train"])
    return Setup(net, opt, build_schedule(config, opt, steps), batches, generator,
                 Lookahead(net, steps) if config.lookahead else None)


@dataclass
class Training:
    """One run being trained: its folder and record, configuration, working parts and arithmetic."""

    run_dir: Path
    record: dict
    config: TrainConfig
    setup: Setup
    target: torch.device
    autocast: object
    scaler: torch.amp.GradScaler | None
    step_net: nn.Module


def _train(run_dir: Path, record: dict, data, target, progress: bool, checkpoint) -> Run:
    """Set up, restore a checkpoint if resuming, train the remaining epochs, and mark it complete."""
    config = TrainConfig.from_dict(record["config"])
    data = data if data is not None else load_cifar10()
    config.check_sizes(len(data.train_labels), len(data.test_labels))
    setup = prepare(config, data, target)
    autocast, scaler = mixed_precision(config, target)
    if target.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if checkpoint is not None:
        restore(setup, scaler, target, checkpoint, record)
    step_net = torch.compile(setup.net) if config.compile else setup.net
    run = Training(run_dir, record, config, setup, target, autocast, scaler, step_net)
    _epochs(run, progress)
    records.refresh_summary(record, "complete")
    records.write_record(run_dir, record)
    setup.net.eval()
    return Run(record=record, model=setup.net, path=run_dir)


def restore(setup: Setup, scaler, target: torch.device, checkpoint: dict, record: dict) -> None:
    """Put a run back where its checkpoint left it: history, weights, optimizer, schedule,
    lookahead, loss scaler and every random state, so the resumed run computes what an
    uninterrupted one would."""
    record["history"] = list(checkpoint["history"])
    setup.net.load_state_dict(checkpoint["model"])
    setup.optimizer.load_state_dict(checkpoint["optimizer"])
    if checkpoint.get("scheduler"):
        setup.scheduler.load_state_dict(checkpoint["scheduler"])
    if setup.lookahead is not None and checkpoint.get("lookahead"):
        setup.lookahead.load_state_dict(checkpoint["lookahead"])
    if scaler is not None and checkpoint.get("scaler"):
        scaler.load_state_dict(checkpoint["scaler"])
    setup.generator.set_state(checkpoint["generator"])
    torch.set_rng_state(checkpoint["torch_rng"])
    if target.type == "cuda" and checkpoint.get("cuda_rng") is not None:
        torch.cuda.set_rng_state(checkpoint["cuda_rng"], target)


def _epochs(run: Training, progress: bool) -> None:
    """The remaining epochs, each saved as it ends; Ctrl-C keeps the last saved one."""
    config, record = run.config, run.record
    start = saved = len(record["history"])
    desc = f"{config.model} lr={records.format_lr(config.lr)}"
    bar = progress_bar(progress, total=(config.epochs - start) * len(run.setup.batches["train"]), desc=desc)
    curve = (LiveCurve(desc, config.epochs, history=record["history"], smoothed=bool(config.label_smoothing))
             if bar is not None else None)
    try:
        for epoch in range(start + 1, config.epochs + 1):
            row = _epoch(run, epoch, bar)
            _stop_if_diverged(run, row)
            _save_epoch(run, row)
            saved = epoch
            if bar is not None:
                bar.set_postfix(epoch=epoch, loss=f"{row['train_loss']:.3f}", test_acc=f"{row['test_acc']:.1f}")
                curve.add(row)
    except KeyboardInterrupt:
        del record["history"][saved:]  # keep only what the checkpoint can resume from
        records.refresh_summary(record, "interrupted")
        records.write_record(run.run_dir, record)
        print(f"\nInterrupted: {run.run_dir} keeps epoch {len(record['history'])} of {config.epochs}. Resume it "
              f"with fit(None, resume={str(run.run_dir)!r}) or `python -m cifar_helpers train --resume "
              f"{run.run_dir}`.", file=sys.stderr)
        raise
    finally:
        if bar is not None:
            bar.close()
            curve.close()


def _epoch(run: Training, epoch: int, bar) -> dict:
    """One pass over the training batches, then the epoch's measurements: its history row."""
    train, setup, target = run.setup.batches["train"], run.setup, run.target
    began = time.perf_counter()
    train.epoch = epoch - 1  # alternating flips: which half of the images is mirrored
    if run.config.whiten_bias_epochs is not None:  # trained for the first epochs, then frozen
        setup.net.whiten.bias.requires_grad_(epoch <= run.config.whiten_bias_epochs)
    setup.net.train()
    loss_sum = torch.zeros((), device=target)
    correct = torch.zeros((), dtype=torch.int64, device=target)
    for x, y in train:
        loss, out = train_step(run.step_net, setup.optimizer, x, y, run.autocast, run.scaler,
                               run.config.label_smoothing)
        setup.scheduler.step()
        if setup.lookahead is not None:
            setup.lookahead.step()
        loss_sum += loss.float() * len(y)
        correct += (out.argmax(1) == y).sum()
        if bar is not None:
            bar.update(1)
    train_seconds = time.perf_counter() - began
    row = {"epoch": epoch, "train_loss": loss_sum.item() / train.num_images,
           "train_acc": 100.0 * correct.item() / train.num_images}
    row.update(_measurements(run, last=epoch == run.config.epochs))
    row["seconds"] = time.perf_counter() - began
    row["images_per_s"] = train.num_images / train_seconds
    return row


def _measurements(run: Training, last: bool) -> dict:
    """Test loss and accuracy; test-time augmentation once, after the last epoch (the recipe's own
    figure); validation accuracy with a validation split; the original's training-set accuracy."""
    batches, net, autocast, config = run.setup.batches, run.step_net, run.autocast, run.config
    row = measure(net, batches["test"], autocast, prefix="test")
    if config.tta and last:
        row["test_tta_acc"] = measure(net, batches["test"], autocast, "test", config.tta,
                                      config.tta_weights)["test_acc"]
    if "val" in batches:
        row.update(measure(net, batches["val"], autocast, prefix="val"))
    if config.eval_train:
        row["train_eval_acc"] = measure(net, batches["train_eval"], autocast, prefix="train_eval")["train_eval_acc"]
    return row


def _stop_if_diverged(run: Training, row: dict) -> None:
    """A non-finite loss ends the run: its record keeps the epoch, marked 'diverged'; the
    checkpoint keeps the last finite one."""
    loss, config = row["train_loss"], run.config
    if math.isfinite(loss):
        return
    run.record["history"].append(row)
    records.refresh_summary(run.record, "diverged")
    records.write_record(run.run_dir, run.record)
    raise DivergenceError(
        f"The training loss became {loss} in epoch {row['epoch']} of run {run.run_dir}: the "
        f"learning rate lr={records.format_lr(config.lr)} is too high for {config.model}. "
        f"Try a lower one (for example lr={records.format_lr(config.lr / 10)}). The record "
        "is kept, marked 'diverged'; the checkpoint holds the last epoch with a finite loss."
    )


def _save_epoch(run: Training, row: dict) -> None:
    """The checkpoint first, then the record: a kill in between leaves the checkpoint one epoch
    ahead, which a resume trusts."""
    run.record["history"].append(row)
    records.write_checkpoint(run.run_dir, _checkpoint_state(run.setup, run.scaler, run.target, run.record))
    records.refresh_summary(run.record, "running")
    records.write_record(run.run_dir, run.record)


def _checkpoint_state(setup: Setup, scaler, target, record: dict) -> dict:
    """Everything a resume needs, the history included: a kill between writing the checkpoint
    and the record leaves the checkpoint one epoch ahead, and it is the one trusted."""
    return {
        "epoch": len(record["history"]),
        "history": list(record["history"]),
        "model": setup.net.state_dict(),
        "optimizer": setup.optimizer.state_dict(),
        "scheduler": setup.scheduler.state_dict(),
        "lookahead": setup.lookahead.state_dict() if setup.lookahead is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "generator": setup.generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state(target) if target.type == "cuda" else None,
    }


@torch.no_grad()
def measure(net, batches: Batches, autocast, prefix: str, tta: int = 0, tta_weights: str = "equal") -> dict:
    """Eval-mode loss and accuracy (percent), and how many classes were predicted at all; with
    `tta`, of the logits averaged over the test-time views (evaluate.tta_logits)."""
    net.eval()
    loss_sum = torch.zeros((), device=batches.images.device)
    counts = torch.zeros(10, dtype=torch.int64, device=batches.images.device)
    correct = torch.zeros((), dtype=torch.int64, device=batches.images.device)
    for x, y in batches:
        with autocast():
            out = tta_logits(net, x, tta, tta_weights)
        loss_sum += F.cross_entropy(out.float(), y, reduction="sum")
        predicted = out.argmax(1)
        correct += (predicted == y).sum()
        counts += torch.bincount(predicted, minlength=10)
    n = batches.num_images
    return {f"{prefix}_loss": loss_sum.item() / n, f"{prefix}_acc": 100.0 * correct.item() / n,
            f"{prefix}_classes_predicted": int((counts > 0).sum()),
            f"{prefix}_top_class_share": counts.max().item() / n}


def progress_bar(enabled: bool, total: int, desc: str):
    """A tqdm bar: a widget in JupyterLab, text in a terminal or under papermill.

    Papermill saves widgets as unreadable placeholders, so CIFAR_PROGRESS=text (set by the
    series runner) forces the text bar."""
    if not enabled or os.environ.get("CIFAR_PROGRESS") == "off":
        return None
    if os.environ.get("CIFAR_PROGRESS") == "text":
        from tqdm.std import tqdm
        return tqdm(total=total, desc=desc, unit="batch", file=sys.stdout, mininterval=2.0)
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="batch")


def load_run(run_dir: str | os.PathLike, with_model: bool = True) -> Run:
    """A finished (or interrupted) run from its folder, its model on the CPU in eval mode.
    with_model=False reads the record alone (runs shipped without their checkpoint)."""
    run_dir = project_path(run_dir)
    record = records.read_record(run_dir)
    if not with_model:
        return Run(record=record, model=None, path=run_dir)
    state = records.read_checkpoint(run_dir)
    net = build_model(record["config"]["model"])
    net.load_state_dict(state["model"])
    net.eval()
    return Run(record=record, model=net, path=run_dir)


def find_run(folders, match: TrainConfig | None = None, *, with_checkpoint: bool = True,
             status: str = "complete", **fields) -> Path | None:
    """The newest run under `folders` with this status (with a checkpoint, unless
    with_checkpoint=False) whose configuration answers `match` (TrainConfig.matches) and has
    every given field, e.g. find_run(["results"], model="lenet5", lr=1e-3)."""
    if "model" in fields:
        fields["model"] = canonical_model(fields["model"])
    matches = [(record.get("updated", ""), run_dir)
               for run_dir, record in records.iter_records(folders)
               if record.get("status") == status
               and (not with_checkpoint or (run_dir / records.CHECKPOINT).is_file())
               and (match is None or match.matches(record["config"]))
               and all(record["config"].get(k) == v for k, v in fields.items())]
    return max(matches)[1] if matches else None


def fit_or_load(config: TrainConfig, data: CIFAR10 | None = None, *, folders=(RESULTS_DIR, "runs"),
                reuse: bool = True, device: str = "auto", runs_dir: str | os.PathLike = "runs",
                progress: bool = True) -> Run:
    """Load a complete run of this whole configuration if one exists under `folders` (and
    `reuse`), else train it with fit. Keeps a CPU laptop from retraining for minutes. Relative
    folders are taken from the repository root, wherever the kernel started."""
    if reuse:
        found = find_run(folders, config)
        if found is not None:
            print(f"Loading the finished run {shown(found)} instead of training (set reuse=False to retrain).")
            return load_run(found)
    return fit(config, data, device=device, runs_dir=runs_dir, progress=progress)
