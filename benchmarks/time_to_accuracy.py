"""Time to accuracy, side by side in one run: the own network under the original's recipe (Adam,
lr 1e-3, 40 epochs) against notebook 05's recipe at both widths.

    .venv/bin/python benchmarks/time_to_accuracy.py [--steps 6] [--rounds 3]

The epochs each needs to reach 60/70/77/90/94% test accuracy come from the committed run records:
one view of the test images after each epoch, for the mean over the seeds and for each seed (so every
time and ratio carries its spread over the seeds). The recipe's figure with test-time augmentation
is a separate entry, its whole run with its six-view evaluation, never one of the thresholds, so
that no comparison mixes one view with six. The seconds per epoch are measured here and now, for all three
in the same process: `steps` training steps of each (fit's step, with its augmentation, schedule
and lookahead, batch 1024 of real images) in interleaved rounds, the median round extrapolated to
50,000 images; then the final evaluation each one's figure needs (one view of the 10,000 test
images, or the recipe's six views) is timed once. Seconds to an accuracy = epochs x seconds per
epoch + one view's evaluation. Results: benchmarks/results/time_to_accuracy.json and .md, with the
machine, the commit, and the machine and commits of each contestant's records (the own network's
from the like-for-like table, the recipe's from results/recipe/). No accuracy is
measured here: the records hold them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cifar_helpers import flags  # noqa: E402
from cifar_helpers import load_cifar10, original, recipe  # noqa: E402
from cifar_helpers.device import code_version, device_name, machine, resolve_device  # noqa: E402
from cifar_helpers.models import build_model, count_macs, count_parameters  # noqa: E402
from cifar_helpers.records import iter_records, machine_of  # noqa: E402
from cifar_helpers.tables import TABLE_DIR  # noqa: E402
from cifar_helpers.training import measure, mixed_precision, prepare, resolved, train_step  # noqa: E402

ACCURACIES = (60, 70, 77, 90, 94)


def accuracy_curve(runs: list[dict]) -> list[float]:
    """Test accuracy (one view) after each epoch, averaged over runs (seeds) of one configuration."""
    histories = [record["history"] for record in runs]
    epochs = min(len(h) for h in histories)
    return [sum(h[e]["test_acc"] for h in histories) / len(histories) for e in range(epochs)]


def epochs_to(curve: list[float], accuracy: float) -> int | None:
    """The first epoch (1-based) whose accuracy in `curve` reaches `accuracy`; None if none does."""
    return next((epoch for epoch, value in enumerate(curve, 1) if value >= accuracy), None)


def training_flops(model: str, epochs: int, images: int = 50_000) -> float:
    """Floating-point operations of training: 2 per multiply-accumulate, and a backward pass
    costing about twice the forward one, so 6 per MAC per image."""
    return 6.0 * count_macs(build_model(model)) * images * epochs
CONTESTANTS = {  # name -> (configuration, folder of its committed runs)
    "own-network, the original's recipe": (original.config("own-network", 1e-3), TABLE_DIR),
    "whitened-net, notebook 05's recipe": (recipe.RECIPE, recipe.RUNS_DIR),
    "whitened-net-small, notebook 05's recipe": (recipe.CPU_RECIPE, recipe.RUNS_DIR),
}


def committed_runs(config, folder: str) -> list[dict]:
    """The complete records in `folder` of this configuration, any seed."""
    return [record for _, record in iter_records(folder)
            if record.get("status") == "complete"
            and config.replace(seed=record["config"]["seed"]).matches(record["config"])]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Timed:
    """One contestant's training steps, exactly as fit takes them."""

    def __init__(self, config, data, device: torch.device, test_subset: int | None = None):
        self.config = resolved(config, device).replace(test_subset=test_subset)
        self.setup = prepare(self.config, data, device)
        self.batches = iter(())
        self.autocast, self.scaler = mixed_precision(self.config, device)
        self.device = device

    def step(self) -> None:
        try:
            x, y = next(self.batches)
        except StopIteration:
            self.batches = iter(self.setup.batches["train"])
            x, y = next(self.batches)
        setup = self.setup
        train_step(setup.net, setup.optimizer, x, y, self.autocast, self.scaler, self.config.label_smoothing)
        setup.scheduler.step()
        if setup.lookahead is not None:
            setup.lookahead.step()

    def images_per_s(self, steps: int) -> float:
        sync(self.device)
        started = time.perf_counter()
        for _ in range(steps):
            self.step()
        sync(self.device)
        return steps * self.config.batch_size / (time.perf_counter() - started)

    def evaluation_seconds(self, tta: int) -> float:
        sync(self.device)
        started = time.perf_counter()
        measure(self.setup.net, self.setup.batches["test"], self.autocast, "test", tta)
        sync(self.device)
        return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6, help="timed training steps per contestant and round")
    parser.add_argument("--rounds", type=int, default=3)
    flags.add_device(parser)
    parser.add_argument("--test-subset", type=int, help="time the final evaluation on part of the test set "
                        "(a quick check; the seconds are then not the full evaluation's)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()

    device = resolve_device(args.device)
    data = load_cifar10()
    timed = {name: Timed(config, data, device, args.test_subset) for name, (config, _) in CONTESTANTS.items()}
    for contestant in timed.values():
        contestant.step()  # warm-up: first-call allocations and kernel choices
    rates = {name: [] for name in timed}
    for round_ in range(args.rounds):
        for name, contestant in timed.items():
            rates[name].append(contestant.images_per_s(args.steps))
        print(f"round {round_ + 1}: " + ", ".join(f"{n.split(',')[0]} {r[-1]:.0f} img/s" for n, r in rates.items()),
              flush=True)

    results = {"machine": machine(device), **code_version(), "device": device_name(device), "torch": torch.__version__,
               "torch_threads": torch.get_num_threads(),
               "steps": args.steps, "rounds": args.rounds, "test_subset": args.test_subset, "contestants": {}}
    for name, contestant in timed.items():
        config, folder = CONTESTANTS[name]
        runs = committed_runs(config, folder)
        curve = accuracy_curve(runs) if runs else []
        epoch_s = 50_000 / statistics.median(rates[name])
        evaluation_s = {"one view": contestant.evaluation_seconds(0)}
        to = {}
        for accuracy in ACCURACIES:
            epochs = epochs_to(curve, accuracy)
            per_seed = [epochs_to(accuracy_curve([run]), accuracy) for run in runs]
            reached = [e * epoch_s + evaluation_s["one view"] for e in per_seed if e is not None]
            to[str(accuracy)] = None if epochs is None else {
                "epochs": epochs, "seconds": epochs * epoch_s + evaluation_s["one view"],
                "seeds_epochs": per_seed, "seeds_seconds": reached}
        entry = {"model": config.model, "epochs": config.epochs, "precision": contestant.config.precision,
                 "records": {"folder": folder, "machines": sorted({machine_of(r) for r in runs}),
                             "commits": sorted({r["environment"].get("git_commit", "none")[:12] for r in runs})},
                 "seeds": sorted(r["config"]["seed"] for r in runs), "accuracy_curve": curve,
                 "images_per_s": statistics.median(rates[name]), "seconds_per_epoch": epoch_s,
                 "evaluation_seconds": evaluation_s, "tta": config.tta,
                 "training_seconds": config.epochs * epoch_s + evaluation_s["one view"], "to_accuracy": to}
        if config.tta:  # the whole run read with the recipe's six views: its own entry, never a threshold
            evaluation_s["test-time augmentation"] = contestant.evaluation_seconds(config.tta)
            tta = [r["final"]["test_tta_acc"] for r in runs if "test_tta_acc" in r["final"]]
            entry["with_tta"] = {"accuracy": sum(tta) / len(tta) if tta else None, "seeds_accuracy": tta,
                                 "seconds": config.epochs * epoch_s + evaluation_s["test-time augmentation"]}
        model = build_model(config.model)
        entry.update({"parameters": count_parameters(model), "macs_per_image": count_macs(model),
                      "training_tflops": training_flops(config.model, config.epochs) / 1e12})
        results["contestants"][name] = entry
    own, full, small = (results["contestants"][name] for name in CONTESTANTS)
    results["goals"] = {  # the goals: at least 10 and at least 10; at most 0.6
        "77%: the own network's seconds / the CPU width's": ratio(own, small, 77),
        "77%: the own network's seconds / the full width's": ratio(own, full, 77),
        "the full width's whole run with test-time augmentation / the own network's 40 epochs": {
            "ratio": full["with_tta"]["seconds"] / own["training_seconds"], "range": None,
            "accuracies": [full["with_tta"]["accuracy"], own["accuracy_curve"][-1] if own["accuracy_curve"] else None]},
    }
    write(results, Path(args.out))
    return 0


def ratio(slow: dict, fast: dict, accuracy: int) -> dict | None:
    """Seconds to `accuracy` of one contestant over another's: for the mean curves, and the range
    over the seeds (the slowest seed of one against the fastest of the other, and the reverse)."""
    a, b = slow["to_accuracy"][str(accuracy)], fast["to_accuracy"][str(accuracy)]
    if not (a and b):
        return None
    spread = ([min(a["seeds_seconds"]) / max(b["seeds_seconds"]), max(a["seeds_seconds"]) / min(b["seeds_seconds"])]
              if a["seeds_seconds"] and b["seeds_seconds"] else None)
    return {"ratio": a["seconds"] / b["seconds"], "range": spread,
            "seeds_reaching": [len(a["seeds_seconds"]), len(b["seeds_seconds"])]}


def write(results: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "time_to_accuracy.json").write_text(json.dumps(results, indent=1) + "\n")
    m = results["machine"]
    lines = [f"# Time to accuracy on {m['device_name']} ({m['isa']}, {m['precision']}, {m['threads']} threads)", "",
             f"torch {results['torch']}, commit {results.get('git_commit', 'unknown')[:12]}"
             f"{' with uncommitted changes' if results.get('git_uncommitted_changes') else ''}; seconds per epoch "
             f"from the median of {results['rounds']} interleaved rounds of {results['steps']} steps; epochs from the "
             "committed records (one view, mean over seeds; in brackets the range over the seeds); seconds = epochs "
             "x seconds per epoch + one view's evaluation. The recipe's figure with test-time augmentation is its "
             "own column: its whole run plus the six-view evaluation.", "",
             "| | params | TFLOPs (training) | s / epoch | epochs | total (min) | final test, one view (%) | "
             + " | ".join(f"to {a}%" for a in ACCURACIES) + " | with test-time augmentation | records |",
             "|" + " --- |" * (9 + len(ACCURACIES))]
    for name, c in results["contestants"].items():
        reached = []
        for r in c["to_accuracy"].values():
            if not r:
                reached.append("never")
                continue
            seeds = r["seeds_seconds"]
            spread = (f" [{min(seeds) / 60:.1f}-{max(seeds) / 60:.1f}; {len(seeds)}/{len(r['seeds_epochs'])} seeds]"
                      if len(r["seeds_epochs"]) > 1 else "")
            reached.append(f"{r['seconds'] / 60:.1f} min (epoch {r['epochs']}){spread}")
        final = f"{c['accuracy_curve'][-1]:.2f}" if c["accuracy_curve"] else "-"
        tta = c.get("with_tta")
        tta_cell = f"{tta['accuracy']:.2f}% in {tta['seconds'] / 60:.1f} min" if tta and tta["accuracy"] else "-"
        records = f"{', '.join(c['records']['machines'])}; seeds {', '.join(map(str, c['seeds']))}"
        lines.append(f"| {name} | {c['parameters'] / 1e6:.2f}M | {c['training_tflops']:.0f} | "
                     f"{c['seconds_per_epoch']:.1f} | {c['epochs']} | {c['training_seconds'] / 60:.1f} | {final} | "
                     + " | ".join(reached) + f" | {tta_cell} | {records} |")
    lines += ["", "Goals:"]
    for goal, value in results["goals"].items():
        if value is None:
            lines.append(f"- {goal}: not reached")
        else:
            spread = f" (over the seeds: {value['range'][0]:.2f} to {value['range'][1]:.2f})" if value["range"] else ""
            lines.append(f"- {goal}: {value['ratio']:.2f}{spread}")
    (out / "time_to_accuracy.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
