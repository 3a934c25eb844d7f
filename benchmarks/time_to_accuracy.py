"""Time to accuracy, side by side in one run: the own network under the original's recipe (Adam,
lr 1e-3, 40 epochs) against notebook 05's recipe at both widths.

    .venv/bin/python benchmarks/time_to_accuracy.py [--steps 6] [--rounds 3]

The epochs each needs to reach 60/70/77/90/94% test accuracy come from the committed run records
(test accuracy after each epoch, averaged over the seeds; after the recipe's last epoch, its own
figure with test-time augmentation). The seconds per epoch are measured here and now, for all three
in the same process: `steps` training steps of each (fit's step, with its augmentation, schedule
and lookahead, batch 1024 of real images) in interleaved rounds, the median round extrapolated to
50,000 images; then the final evaluation each one's figure needs (one view of the 10,000 test
images, or the recipe's six views) is timed once. Seconds to an accuracy = epochs x seconds per
epoch + the evaluation that reads it (one view, or the recipe's six after its last epoch).
Results: benchmarks/results/time_to_accuracy.json and .md. No accuracy is measured here: the
records hold them.
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
from cifar_helpers.device import device_name, machine, resolve_device  # noqa: E402
from cifar_helpers.models import build_model, count_macs, count_parameters  # noqa: E402
from cifar_helpers.records import iter_records  # noqa: E402
from cifar_helpers.training import measure, mixed_precision, prepare, resolved, train_step  # noqa: E402

ACCURACIES = (60, 70, 77, 90, 94)


def accuracy_curve(runs: list[dict]) -> list[float]:
    """Test accuracy after each epoch, averaged over runs (seeds) of one configuration; after the
    last epoch, the recipe's own figure (with test-time augmentation) where the runs measured it."""
    histories = [record["history"] for record in runs]
    epochs = min(len(h) for h in histories)
    curve = [sum(h[e]["test_acc"] for h in histories) / len(histories) for e in range(epochs)]
    if all("test_tta_acc" in h[-1] and len(h) == epochs for h in histories):
        curve[-1] = sum(h[-1]["test_tta_acc"] for h in histories) / len(histories)
    return curve


def epochs_to(curve: list[float], accuracy: float) -> int | None:
    """The first epoch (1-based) whose accuracy in `curve` reaches `accuracy`; None if none does."""
    return next((epoch for epoch, value in enumerate(curve, 1) if value >= accuracy), None)


def training_flops(model: str, epochs: int, images: int = 50_000) -> float:
    """Floating-point operations of training: 2 per multiply-accumulate, and a backward pass
    costing about twice the forward one, so 6 per MAC per image."""
    return 6.0 * count_macs(build_model(model)) * images * epochs
CONTESTANTS = {  # name -> (configuration, folder of its committed runs)
    "own-network, the original's recipe": (original.config("own-network", 1e-3), "results"),
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

    results = {"machine": machine(device), "device": device_name(device), "torch": torch.__version__,
               "torch_threads": torch.get_num_threads(),
               "steps": args.steps, "rounds": args.rounds, "test_subset": args.test_subset, "contestants": {}}
    for name, contestant in timed.items():
        config, folder = CONTESTANTS[name]
        runs = committed_runs(config, folder)
        curve = accuracy_curve(runs) if runs else []
        epoch_s = 50_000 / statistics.median(rates[name])
        # One view reads an epoch's accuracy; the recipe's last epoch is read with its six.
        evaluation_s = {"one view": contestant.evaluation_seconds(0)}
        if config.tta:
            evaluation_s["test-time augmentation"] = contestant.evaluation_seconds(config.tta)
        final_s = evaluation_s["test-time augmentation" if config.tta else "one view"]
        to = {}
        for accuracy in ACCURACIES:
            epochs = epochs_to(curve, accuracy)
            read_s = final_s if epochs == len(curve) else evaluation_s["one view"]
            to[str(accuracy)] = None if epochs is None else {"epochs": epochs, "seconds": epochs * epoch_s + read_s}
        model = build_model(config.model)
        results["contestants"][name] = {
            "model": config.model, "epochs": config.epochs, "precision": contestant.config.precision,
            "parameters": count_parameters(model), "macs_per_image": count_macs(model),
            "training_tflops": training_flops(config.model, config.epochs) / 1e12,
            "seeds": sorted(r["config"]["seed"] for r in runs), "accuracy_curve": curve,
            "images_per_s": statistics.median(rates[name]), "seconds_per_epoch": epoch_s,
            "evaluation_seconds": evaluation_s, "tta": config.tta,
            "training_seconds": config.epochs * epoch_s + final_s, "to_accuracy": to,
        }
    own, full, small = (results["contestants"][name] for name in CONTESTANTS)

    def seconds(entry, accuracy):
        reached = entry["to_accuracy"][str(accuracy)]
        return reached["seconds"] if reached else None

    def ratio(a, b):
        return a / b if a and b else None

    results["goals"] = {  # the goals: at least 10 and at least 10; at most 0.6
        "77%: the own network's seconds / the CPU width's": ratio(seconds(own, 77), seconds(small, 77)),
        "77%: the own network's seconds / the full width's": ratio(seconds(own, 77), seconds(full, 77)),
        "the full width's seconds to 94% / the own network's 40 epochs": ratio(seconds(full, 94),
                                                                              own["training_seconds"]),
    }
    write(results, Path(args.out))
    return 0


def write(results: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "time_to_accuracy.json").write_text(json.dumps(results, indent=1) + "\n")
    lines = [f"# Time to accuracy on {results['device']}", "",
             f"torch {results['torch']}, {results['torch_threads']} threads; seconds per epoch from the median of "
             f"{results['rounds']} interleaved rounds of {results['steps']} steps; epochs from the committed records "
             "(mean over seeds, the last epoch with the recipe's test-time augmentation); seconds = epochs x "
             "seconds per epoch + the evaluation that reads the accuracy.", "",
             "| | params | TFLOPs (training) | s / epoch | epochs | total (min) | final test (%) | "
             + " | ".join(f"to {a}%" for a in ACCURACIES) + " |",
             "|" + " --- |" * (7 + len(ACCURACIES))]
    for name, c in results["contestants"].items():
        reached = [f"{r['seconds'] / 60:.1f} min (epoch {r['epochs']})" if r else "never"
                   for r in c["to_accuracy"].values()]
        final = f"{c['accuracy_curve'][-1]:.2f}" if c["accuracy_curve"] else "-"
        lines.append(f"| {name} | {c['parameters'] / 1e6:.2f}M | {c['training_tflops']:.0f} | "
                     f"{c['seconds_per_epoch']:.1f} | {c['epochs']} | {c['training_seconds'] / 60:.1f} | {final} | "
                     + " | ".join(reached) + " |")
    lines += ["", "Goals:"] + [f"- {goal}: " + (f"{value:.2f}" if value is not None else "not reached")
                               for goal, value in results["goals"].items()]
    (out / "time_to_accuracy.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
