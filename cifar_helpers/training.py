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
from .models import WhitenedNet, build_model, canonical_model, count_parameters
from .paths import project_path

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
COLLAPSE_SHARE = 0.9  # a run is "collapsed" when one class takes this share of its test answers
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
    record = {
        "format": 1,
        "name": run_dir.name,
        "status": "running",
        "config": config.to_dict(),
        "environment": environment(target),
        "parameters": count_parameters(build_model(config.model)),
        "created": records.now(),
        "history": [],
        "checkpoint": records.CHECKPOINT,
    }
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


def step_rate(config: TrainConfig, steps: int):
    """The learning rate of each step as a share of config.lr: constant, or 'warmup-linear': a
    linear rise over the first `warmup` share of the steps, then a linear fall to `final_lr`."""
    if config.schedule == "constant":
        return lambda step: 1.0
    warm = max(1, round(config.warmup * steps))

    def rate(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 1.0 - (1.0 - config.final_lr) * min(1.0, (step - warm) / max(1, steps - 1 - warm))
    return rate


class Lookahead:
    """Slow weights: every `every` steps they move toward the network's weights by a share that
    shrinks as training goes on (a cubic ramp of `decay`), and the network restarts from them. The
    averaging smooths the noise of the last, small steps."""

    def __init__(self, net: nn.Module, total_steps: int, every: int = 5, decay: float = 0.95 ** 5):
        self.tensors = [t for t in net.state_dict().values() if t.is_floating_point()]
        self.slow = [t.detach().clone() for t in self.tensors]
        self.total, self.every, self.decay, self.steps = total_steps, every, decay, 0

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        if self.steps % self.every and self.steps != self.total:
            return
        keep = self.decay * (self.steps / self.total) ** 3
        for slow, fast in zip(self.slow, self.tensors):
            slow.lerp_(fast, 1 - keep)
            fast.copy_(slow)

    def state_dict(self) -> dict:
        return {"steps": self.steps, "slow": self.slow}

    def load_state_dict(self, state: dict) -> None:
        self.steps = state["steps"]
        for slow, saved in zip(self.slow, state["slow"]):
            slow.copy_(saved)


def _optimizer(config: TrainConfig, net: nn.Module) -> torch.optim.Optimizer:
    """Weights at lr; with bias_lr_scale, BatchNorm's parameters at lr * bias_lr_scale, their
    weight decay divided by the same factor, so that every parameter decays alike per step."""
    trained = [p for p in net.parameters() if p.requires_grad]
    groups = [{"params": trained}]
    if config.bias_lr_scale != 1:
        norms = {id(p) for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                 for p in m.parameters()}
        groups = [{"params": [p for p in trained if id(p) not in norms]},
                  {"params": [p for p in trained if id(p) in norms], "lr": config.lr * config.bias_lr_scale,
                   "weight_decay": config.weight_decay / config.bias_lr_scale}]
    groups = [g for g in groups if g["params"]]
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov,
                           weight_decay=config.weight_decay)


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
    if config.batchnorm == "recipe":
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.momentum, module.eps = 0.4, 1e-12
                module.weight.requires_grad_(False)
    net = net.to(target)
    memory_format = torch.channels_last if config.channels_last else torch.preserve_format
    net = net.to(memory_format=memory_format)
    opt = _optimizer(config, net)
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
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, step_rate(config, steps))
    return Setup(net, opt, scheduler, batches, generator, Lookahead(net, steps) if config.lookahead else None)


def _train(run_dir: Path, record: dict, data, target, progress: bool, checkpoint) -> Run:
    config = TrainConfig.from_dict(record["config"])
    data = data if data is not None else load_cifar10()
    config.check_sizes(len(data.train_labels), len(data.test_labels))
    setup = prepare(config, data, target)
    net, opt, scheduler, batches, generator = (setup.net, setup.optimizer, setup.scheduler, setup.batches,
                                               setup.generator)
    train = batches["train"]
    autocast, scaler = mixed_precision(config, target)
    if target.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if checkpoint is not None:
        record["history"] = list(checkpoint["history"])
        net.load_state_dict(checkpoint["model"])
        opt.load_state_dict(checkpoint["optimizer"])
        if checkpoint.get("scheduler"):
            scheduler.load_state_dict(checkpoint["scheduler"])
        if setup.lookahead is not None and checkpoint.get("lookahead"):
            setup.lookahead.load_state_dict(checkpoint["lookahead"])
        if scaler is not None and checkpoint.get("scaler"):
            scaler.load_state_dict(checkpoint["scaler"])
        generator.set_state(checkpoint["generator"])
        torch.set_rng_state(checkpoint["torch_rng"])
        if target.type == "cuda" and checkpoint.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(checkpoint["cuda_rng"], target)
    step_net = torch.compile(net) if config.compile else net

    start = saved = len(record["history"])
    bar = progress_bar(progress, total=(config.epochs - start) * len(train),
                        desc=f"{config.model} lr={records.format_lr(config.lr)}")
    try:
        for epoch in range(start + 1, config.epochs + 1):
            began = time.perf_counter()
            train.epoch = epoch - 1  # alternating flips: which half of the images is mirrored
            net.train()
            loss_sum = torch.zeros((), device=target)
            correct = torch.zeros((), dtype=torch.int64, device=target)
            for x, y in train:
                loss, out = train_step(step_net, opt, x, y, autocast, scaler, config.label_smoothing)
                scheduler.step()
                if setup.lookahead is not None:
                    setup.lookahead.step()
                loss_sum += loss.float() * len(y)
                correct += (out.argmax(1) == y).sum()
                if bar is not None:
                    bar.update(1)
            train_loss = loss_sum.item() / train.num_images
            train_seconds = time.perf_counter() - began
            row = {"epoch": epoch, "train_loss": train_loss,
                   "train_acc": 100.0 * correct.item() / train.num_images}
            row.update(measure(step_net, batches["test"], autocast, prefix="test"))
            if config.tta and epoch == config.epochs:  # the recipe's own figure, measured once, at the end
                row["test_tta_acc"] = measure(step_net, batches["test"], autocast, "test", config.tta)["test_acc"]
            if "val" in batches:
                row.update(measure(step_net, batches["val"], autocast, prefix="val"))
            if config.eval_train:
                row["train_eval_acc"] = measure(step_net, batches["train_eval"], autocast,
                                                prefix="train_eval")["train_eval_acc"]
            row["seconds"] = time.perf_counter() - began
            row["images_per_s"] = train.num_images / train_seconds
            if not math.isfinite(train_loss):
                record["history"].append(row)
                finish(record, "diverged")
                records.write_record(run_dir, record)
                raise DivergenceError(
                    f"The training loss became {train_loss} in epoch {epoch} of run {run_dir}: the "
                    f"learning rate lr={records.format_lr(config.lr)} is too high for {config.model}. "
                    f"Try a lower one (for example lr={records.format_lr(config.lr / 10)}). The record "
                    "is kept, marked 'diverged'; the checkpoint holds the last epoch with a finite loss."
                )
            record["history"].append(row)
            records.write_checkpoint(run_dir, _checkpoint_state(setup, scaler, target, record))
            saved = epoch
            finish(record, "running")
            records.write_record(run_dir, record)
            if bar is not None:
                bar.set_postfix(epoch=epoch, loss=f"{train_loss:.3f}", test_acc=f"{row['test_acc']:.1f}")
    except KeyboardInterrupt:
        del record["history"][saved:]  # keep only what the checkpoint can resume from
        finish(record, "interrupted")
        records.write_record(run_dir, record)
        done = len(record["history"])
        print(f"\nInterrupted: {run_dir} keeps epoch {done} of {config.epochs}. Resume it with "
              f"fit(None, resume={str(run_dir)!r}) or `python -m cifar_helpers train --resume {run_dir}`.",
              file=sys.stderr)
        raise
    finally:
        if bar is not None:
            bar.close()
    finish(record, "complete")
    records.write_record(run_dir, record)
    net.eval()
    return Run(record=record, model=net, path=run_dir)


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
def measure(net, batches: Batches, autocast, prefix: str, tta: int = 0) -> dict:
    """Eval-mode loss and accuracy (percent), and how many classes were predicted at all; with
    `tta`, of the logits averaged over the test-time views (evaluate.tta_logits)."""
    net.eval()
    loss_sum = torch.zeros((), device=batches.images.device)
    counts = torch.zeros(10, dtype=torch.int64, device=batches.images.device)
    correct = torch.zeros((), dtype=torch.int64, device=batches.images.device)
    for x, y in batches:
        with autocast():
            out = tta_logits(net, x, tta)
        loss_sum += F.cross_entropy(out.float(), y, reduction="sum")
        predicted = out.argmax(1)
        correct += (predicted == y).sum()
        counts += torch.bincount(predicted, minlength=10)
    n = batches.num_images
    return {f"{prefix}_loss": loss_sum.item() / n, f"{prefix}_acc": 100.0 * correct.item() / n,
            f"{prefix}_classes_predicted": int((counts > 0).sum()),
            f"{prefix}_top_class_share": counts.max().item() / n}


def finish(record: dict, status: str) -> None:
    """Refresh the derived fields of a record: status, final metrics, the best epoch (chosen on
    the validation split, when the run has one; never on the test set), collapse flag."""
    history = record["history"]
    record["status"] = status
    record["updated"] = records.now()
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


def fit_or_load(config: TrainConfig, data: CIFAR10 | None = None, *, folders=("results", "runs"),
                reuse: bool = True, device: str = "auto", runs_dir: str | os.PathLike = "runs",
                progress: bool = True) -> Run:
    """Load a complete run of this whole configuration if one exists under `folders` (and
    `reuse`), else train it with fit. Keeps a CPU laptop from retraining for minutes. Relative
    folders are taken from the repository root, wherever the kernel started."""
    if reuse:
        found = find_run(folders, config)
        if found is not None:
            print(f"Loading the finished run {found} instead of training (set reuse=False to retrain).")
            return load_run(found)
    return fit(config, data, device=device, runs_dir=runs_dir, progress=progress)
