"""Reference histories of a few tiny fp32 runs, so that a refactor of the training code can be shown
to change no number: LeNet5 and the recipe's CPU width on 1,024 training images for two epochs, and
the same LeNet5 run interrupted after its first epoch and resumed. tests/test_golden_histories.py
trains them again and compares every epoch exactly, on a machine like the one that wrote them (the
same processor, instruction set, threads and torch; fp32 arithmetic differs in its last bits
between kinds of CPU).

    .venv/bin/python scripts/golden_histories.py

Writes results/golden_histories.json, with the machine and the commit.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cifar_helpers import TrainConfig, fit, load_cifar10, recipe, records  # noqa: E402
from cifar_helpers.device import code_version, machine  # noqa: E402

OUT = ROOT / "results" / "golden_histories.json"
KEYS = ("train_loss", "train_acc", "test_loss", "test_acc")
CASES = {
    "lenet5": TrainConfig(model="lenet5", epochs=2, subset=1024, test_subset=500, batch_size=256, precision="fp32"),
    "whitened-net-small, the recipe": recipe.CPU_RECIPE.replace(epochs=2, subset=1024, test_subset=500,
                                                                 batch_size=256, precision="fp32", tta=0),
}


def history(config: TrainConfig, data, resumed: bool = False) -> list[dict]:
    """Each epoch's losses and accuracies of `config` trained on the CPU, whole, or cut after its first
    epoch (as a Ctrl-C while the second epoch's checkpoint is written) and resumed."""
    with tempfile.TemporaryDirectory() as runs_dir:
        if not resumed:
            run = fit(config, data, device="cpu", runs_dir=runs_dir, progress=False)
        else:
            write = records.write_checkpoint

            def cut_at_epoch_two(run_dir, state):
                if state["epoch"] == 2:
                    raise KeyboardInterrupt
                write(run_dir, state)

            records.write_checkpoint = cut_at_epoch_two
            try:
                fit(config, data, device="cpu", runs_dir=runs_dir, progress=False)
            except KeyboardInterrupt:
                pass
            finally:
                records.write_checkpoint = write
            (cut,) = Path(runs_dir).iterdir()
            run = fit(None, data, device="cpu", resume=cut, progress=False)
        return [{key: epoch[key] for key in KEYS} for epoch in run.record["history"]]


def histories(data) -> dict:
    out = {name: history(config, data) for name, config in CASES.items()}
    out["lenet5, interrupted after epoch 1 and resumed"] = history(CASES["lenet5"], data, resumed=True)
    return out


def main() -> int:
    import torch

    data = load_cifar10()
    result = {"machine": {**machine(torch.device("cpu")), "precision": "fp32"}, **code_version(),
              "configs": {name: config.to_dict() for name, config in CASES.items()}, "histories": histories(data)}
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
