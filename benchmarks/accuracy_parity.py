"""Does the fast path learn what the original pipeline learns? Test accuracy after the same epochs
with the same seed: fit()'s fast path against the plain fp32 path (benchmarks/reference.py: the
original's DataLoader, PIL, ToTensor and Normalize, contiguous tensors, no autocast).

    .venv/bin/python benchmarks/accuracy_parity.py --model lenet5 --epochs 40
    .venv/bin/python benchmarks/accuracy_parity.py --model own-network --epochs 10

Both start from the same initial weights (torch.manual_seed(seed) before build_model, as fit does);
the order of the batches differs, since each path draws its own permutations. Both networks are
scored by the same evaluator (cifar_helpers.training.measure on the test set, fp32), so the
difference comes from training alone. The fast side is a committed record in results/ with the same
configuration and at least that many epochs, when there is one (its epoch N is read, Adam has no
schedule), else fit() trains it into results/parity/. The plain run's record (config, environment,
per-epoch history) goes to results/parity/, the comparison to
benchmarks/results/parity-<device>.json and .md (one entry per model and epochs, updated in place).
The target: the two final test accuracies within 1 percentage point.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cifar_helpers import flags  # noqa: E402
from cifar_helpers import TrainConfig, build_model, count_parameters, fit, load_cifar10, records  # noqa: E402
from cifar_helpers.batches import Batches  # noqa: E402
from cifar_helpers.data import balanced_subset  # noqa: E402
from cifar_helpers.device import code_version, device_name, environment, machine, resolve_device  # noqa: E402
from cifar_helpers.training import default_name, measure  # noqa: E402

from reference import BATCH, reference_epoch, reference_loader  # noqa: E402

TARGET_PP = 1.0
MATCH = ("model", "lr", "batch_size", "optimizer", "seed", "normalization", "subset", "test_subset", "augment")


def fast_history(config: dict, epochs: int, data, device, runs_dir: Path) -> tuple[list, Path]:
    """The first `epochs` epochs of a fast-path run with this configuration: shipped, or trained now."""
    for run_dir, record in records.iter_records([ROOT / "results", runs_dir]):
        same = all(record["config"].get(k) == config[k] for k in MATCH)
        if same and record["config"]["compile"] is False and len(record["history"]) >= epochs:
            return record["history"][:epochs], run_dir
    run = fit(TrainConfig(epochs=epochs, eval_train=False, **{k: config[k] for k in MATCH}), data,
              device=device.type, runs_dir=runs_dir)
    return run.record["history"], run.path


def plain_run(config: dict, epochs: int, data, device, runs_dir: Path) -> tuple[list, Path]:
    """The plain fp32 path for `epochs` epochs; its record is rewritten after every epoch."""
    plain_config = dict(config, epochs=epochs, precision="fp32", channels_last=False, compile=False,
                        eval_train=False, pipeline="reference DataLoader, 0 workers")
    run_dir = records.new_run_dir(runs_dir, default_name(TrainConfig.from_dict(plain_config)) + "_plain")
    record = records.new_record(run_dir, plain_config, environment(device),
                                count_parameters(build_model(config["model"])), with_checkpoint=False)
    train_indices = (balanced_subset(data.train_labels, config["subset"]) if config["subset"]
                     else torch.arange(len(data.train_labels))).tolist()
    mean, std = data.normalization(config["normalization"])
    loader = reference_loader(str(Path(data.source).parent), train_indices, mean, std, device, workers=0,
                              seed=config["seed"])
    test = Batches(*data.split("test", config["test_subset"]), 2048, mean, std, device, channels_last=False)
    torch.manual_seed(config["seed"])
    net = build_model(config["model"]).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=config["lr"])
    for epoch in range(1, epochs + 1):
        began = time.perf_counter()
        loss_sum, correct = reference_epoch(net, loader, opt, device)
        row = {"epoch": epoch, "train_loss": loss_sum / len(loader),
               "train_acc": 100.0 * correct / len(train_indices)}
        row.update(measure(net, test, contextlib.nullcontext, prefix="test"))
        row["seconds"] = time.perf_counter() - began
        record["history"].append(row)
        records.refresh_summary(record, "running")
        records.write_record(run_dir, record)
        print(f"plain {config['model']} epoch {epoch}/{epochs}: test {row['test_acc']:.2f}%", flush=True)
    records.refresh_summary(record, "complete")
    records.write_record(run_dir, record)
    return record["history"], run_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="lenet5")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--subset", type=int, default=None, help="train on a class-balanced subset")
    parser.add_argument("--test-subset", type=int, default=None)
    flags.add_device(parser)
    parser.add_argument("--runs-dir", default=str(ROOT / "results" / "parity"),
                        help="where the plain run's record (and a fast run, if none is shipped) go")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()

    runs_dir = Path(args.runs_dir).resolve()
    device = resolve_device(args.device)
    data = load_cifar10()
    config = dict(model=args.model, lr=args.lr, batch_size=BATCH, optimizer="adam", seed=args.seed,
                  normalization="imagenet", subset=args.subset, test_subset=args.test_subset, augment=False)
    fast, fast_dir = fast_history(config, args.epochs, data, device, runs_dir)
    print(f"fast path: {fast_dir} (epoch {args.epochs}: {fast[-1]['test_acc']:.2f}%)", flush=True)
    plain, plain_dir = plain_run(config, args.epochs, data, device, runs_dir)
    fast_record = records.read_record(fast_dir)
    entry = {
        "machine": machine(device), **code_version(),
        "model": args.model, "epochs": args.epochs, "lr": args.lr, "seed": args.seed,
        "subset": args.subset, "test_subset": args.test_subset,
        "fast": {"run": _shown(fast_dir), "precision": fast_record["config"]["precision"],
                 "channels_last": fast_record["config"]["channels_last"],
                 "final_test_acc": fast[-1]["test_acc"]},
        "plain": {"run": _shown(plain_dir), "precision": "fp32", "channels_last": False,
                  "final_test_acc": plain[-1]["test_acc"]},
    }
    entry["difference_pp"] = entry["fast"]["final_test_acc"] - entry["plain"]["final_test_acc"]
    entry["within_target"] = abs(entry["difference_pp"]) <= TARGET_PP
    print(json.dumps(entry, indent=1))
    write(entry, device, Path(args.out))
    return 0


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def write(entry: dict, device, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    named = f"{device_name(device)} {entry['machine']['isa']}"
    stem = "parity-" + re.sub(r"[^A-Za-z0-9._-]+", "-", named).strip("-").lower()
    path = out / f"{stem}.json"
    results = json.loads(path.read_text()) if path.exists() else {"device": device_name(device), "entries": []}
    key = ("model", "epochs", "lr", "seed", "subset", "test_subset")
    results["entries"] = [e for e in results["entries"] if any(e[k] != entry[k] for k in key)] + [entry]
    path.write_text(json.dumps(results, indent=1) + "\n")
    lines = [f"# Accuracy parity on {results['device']}", "",
             "Test accuracy after the same epochs with the same seed and initial weights: fit()'s fast path "
             "against the plain fp32 path (the original's DataLoader pipeline, contiguous tensors, no autocast). "
             f"Target: within {TARGET_PP:g} percentage point. Written by benchmarks/accuracy_parity.py.", "",
             "| model | lr | epochs | train images | fast path (precision, channels_last) | fast: test % | "
             "plain fp32: test % | difference (pp) | within target | machine, threads, commit |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for e in results["entries"]:
        f, p = e["fast"], e["plain"]
        lines.append(f"| {e['model']} | {e['lr']:g} | {e['epochs']} | {e['subset'] or 50000} | "
                     f"{f['precision']}, {f['channels_last']} | {f['final_test_acc']:.2f} | "
                     f"{p['final_test_acc']:.2f} | {e['difference_pp']:+.2f} | "
                     f"{'yes' if e['within_target'] else 'no'} | {e['machine']['isa']}, {e['machine']['threads']}, "
                     f"{str(e.get('git_commit'))[:12]} |")
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {path} and .md")


if __name__ == "__main__":
    sys.exit(main())
