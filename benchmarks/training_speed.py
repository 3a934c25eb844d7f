"""Training speed, side by side in one run: the original's DataLoader pipeline against fit()'s
device-resident fast path and against pure compute.

    .venv/bin/python benchmarks/training_speed.py [--models lenet5 own-network] [--images 10000]

For each model at batch 1024 it times (a) the reference: torchvision's CIFAR10 dataset (PIL image,
ToTensor, Normalize per image) in a DataLoader with 0 workers and with as many workers as CPUs, in
the original training loop (a .item() per batch); (b) the fast path: fit() itself, whose records
give the images per second of each epoch's training phase; (c) pure compute: the same training
steps on one batch that is already normalized on the device (the floor on this device). Warm-up
epochs are excluded; each figure is the median of the repeats. Epoch seconds are extrapolated to
50,000 images from the images per second. Results go to benchmarks/results/<device>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torchvision

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cifar_helpers import flags  # noqa: E402
from cifar_helpers import TrainConfig, build_model, fit, load_cifar10  # noqa: E402
from cifar_helpers.batches import Batches  # noqa: E402
from cifar_helpers.device import code_version, device_name, machine, resolve_device, resolve_precision  # noqa: E402
from cifar_helpers.training import AUTOCAST_DTYPES, train_step  # noqa: E402

from reference import BATCH, reference_epoch, reference_loader  # noqa: E402



def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process-wide, Linux KiB


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reference(model_name, data, data_root, indices, device, workers, repeats):
    """The original pipeline (benchmarks/reference.py), timed per epoch."""
    loader = reference_loader(data_root, indices, *data.normalization("imagenet"), device, workers)
    torch.manual_seed(0)
    model = build_model(model_name).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rates = []
    reset_peak(device)
    for epoch in range(repeats + 1):
        started = time.perf_counter()
        reference_epoch(model, loader, opt, device)
        sync(device)
        if epoch:  # the first epoch warms up workers, kernels and caches
            rates.append(len(indices) / (time.perf_counter() - started))
    return statistics.median(rates), peak_memory_mb(device)


def fast_path(model_name, data, subset, device, repeats, runs_dir):
    """fit() as the notebooks call it; its records time each epoch's training phase."""
    reset_peak(device)
    config = TrainConfig(model=model_name, epochs=repeats + 1, subset=subset, test_subset=1000, eval_train=False,
                         normalization="imagenet")
    run = fit(config, data, device=str(device.type), progress=False, runs_dir=runs_dir)
    rates = [h["images_per_s"] for h in run.record["history"][1:]]
    return statistics.median(rates), peak_memory_mb(device), run.record["config"]


def pure_compute(model_name, data, config, device, steps, repeats):
    """The same training steps on one ready batch: no indexing, conversion or host work."""
    mean, std = data.normalization("imagenet")
    x, y = next(iter(Batches(data.train_images[:BATCH], data.train_labels[:BATCH], BATCH, mean, std,
                             device, channels_last=config["channels_last"])))
    torch.manual_seed(0)
    model = build_model(model_name).to(device)
    if config["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    dtype = AUTOCAST_DTYPES.get(config["precision"])
    scaler = torch.amp.GradScaler(device.type) if config["precision"] == "fp16" else None

    def autocast():
        return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)

    rates = []
    for repeat in range(repeats + 1):
        sync(device)
        started = time.perf_counter()
        for _ in range(steps):
            train_step(model, opt, x, y, autocast, scaler)  # fit's step
        sync(device)
        if repeat:
            rates.append(steps * BATCH / (time.perf_counter() - started))
    return statistics.median(rates)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["lenet5", "own-network"])
    parser.add_argument("--images", type=int, default=10240,
                        help="training images per timed epoch (a class-balanced subset)")
    parser.add_argument("--repeats", type=int, default=3)
    flags.add_device(parser)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()

    device = resolve_device(args.device)
    data = load_cifar10()
    from cifar_helpers.data import balanced_subset

    indices = balanced_subset(data.train_labels, args.images).tolist()
    data_root = str(Path(data.source).parent)
    cpus = os.cpu_count() or 1
    results = {"machine": machine(device), **code_version(), "device": device_name(device), "device_type": device.type,
               "torch": torch.__version__,
               "torchvision": torchvision.__version__, "python": platform.python_version(),
               "cpu_count": cpus, "torch_threads": torch.get_num_threads(), "batch_size": BATCH,
               "images_per_epoch_timed": args.images, "repeats": args.repeats,
               "precision": resolve_precision("auto", device), "models": {}}
    for model_name in args.models:
        print(f"{model_name}: reference, 0 workers ...", flush=True)
        ref0, ref0_mem = reference(model_name, data, data_root, indices, device, 0, args.repeats)
        print(f"{model_name}: reference, {cpus} workers ...", flush=True)
        refn, refn_mem = reference(model_name, data, data_root, indices, device, cpus, args.repeats)
        print(f"{model_name}: fast path ...", flush=True)
        with tempfile.TemporaryDirectory() as runs_dir:
            fast, fast_mem, config = fast_path(model_name, data, args.images, device, args.repeats, runs_dir)
        print(f"{model_name}: pure compute ...", flush=True)
        steps = max(2, args.images // BATCH)
        compute = pure_compute(model_name, data, config, device, steps=steps, repeats=args.repeats)
        best_ref = max(ref0, refn)
        results["models"][model_name] = {
            "images_per_s": {"reference_0_workers": ref0, f"reference_{cpus}_workers": refn,
                             "fast": fast, "compute": compute},
            "seconds_per_epoch": {"reference_0_workers": 50000 / ref0, f"reference_{cpus}_workers": 50000 / refn,
                                  "fast": 50000 / fast, "compute": 50000 / compute},
            "peak_memory_mb": {"reference_0_workers": ref0_mem, f"reference_{cpus}_workers": refn_mem,
                               "fast": fast_mem},
            "speedup_vs_reference": fast / best_ref,
            "compute_over_fast": compute / fast,
            "fast_config": {k: config[k] for k in ("precision", "channels_last", "compile")},
        }
        print(json.dumps(results["models"][model_name], indent=1), flush=True)
    write(results, Path(args.out))
    return 0


def write(results: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    # The instruction set is in the name: two machines with one CPU name can train 1.8x apart.
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{results['device']} {results['machine']['isa']}").strip("-").lower()
    (out / f"{stem}.json").write_text(json.dumps(results, indent=1) + "\n")
    cpus = results["cpu_count"]
    lines = [f"# Training speed on {results['device']} ({results['machine']['isa']})",
             "",
             f"torch {results['torch']}, torchvision {results['torchvision']}, {results['torch_threads']} threads, "
             f"batch {results['batch_size']}, fast path precision {results['precision']}; median of "
             f"{results['repeats']} epochs of {results['images_per_epoch_timed']} images after one warm-up epoch. "
             "Seconds per epoch are extrapolated to 50,000 images. Commit "
             f"{str(results.get('git_commit'))[:12]}"
             f"{' with uncommitted changes' if results.get('git_uncommitted_changes') else ''}.",
             "",
             f"| model | reference, 0 workers | reference, {cpus} workers | fast path | pure compute | "
             "fast / best reference | compute / fast |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, m in results["models"].items():
        rate, secs = m["images_per_s"], m["seconds_per_epoch"]
        cells = [f"{rate[k]:,.0f} img/s ({secs[k]:.1f} s)" for k in rate]
        lines.append(f"| {name} | " + " | ".join(cells)
                     + f" | {m['speedup_vs_reference']:.2f}x | {m['compute_over_fast']:.2f} |")
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / (stem + '.json')} and .md")


if __name__ == "__main__":
    sys.exit(main())
