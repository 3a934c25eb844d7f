"""The fast-training recipe of notebook 05, written here from the published ideas of the CIFAR-10
speed records (airbench, arXiv 2404.00498; hlb-CIFAR10; "How to train your ResNet"): every
ingredient is a TrainConfig field, so each can be switched off on its own (INGREDIENTS).

The rates are the published ones restated for a loss averaged over the batch: the records sum the
loss over 1,024 images and quote lr 11.5 and weight decay 0.0153 "per 1,024 examples", decoupled
from the momentum 0.85 by the factor 1 + 1/(1 - 0.85); for PyTorch's SGD on a mean loss that is
lr 11.5 / (1 + 1/0.15) = 1.5 and weight decay 0.0153 / 11.5 = 0.00133.
"""

from __future__ import annotations

from .config import TrainConfig

RECIPE = TrainConfig(
    model="whitened-net", epochs=10, batch_size=1024, normalization="cifar10",
    optimizer="sgd", lr=1.5, momentum=0.85, nesterov=True, weight_decay=0.00133,
    schedule="warmup-linear", warmup=0.23, final_lr=0.07, lookahead=True,
    label_smoothing=0.2, batchnorm="recipe", bias_lr_scale=64.0,
    augment=True, translate=2, padding="reflect", flip="alternating", tta=2, eval_train=False,
)
# The same recipe at half the width (32/128/128, a quarter of the compute): a CPU trains it in minutes.
CPU_RECIPE = RECIPE.replace(model="whitened-net-small")

# Each trained ingredient, and the fields that switch it off (notebook 05's ablation). Test-time
# augmentation changes no training: its row compares the recipe runs' own test_acc (one view) and
# test_tta_acc.
INGREDIENTS = {
    "flip and translate": dict(augment=False),
    "label smoothing": dict(label_smoothing=0.0),
    "lookahead": dict(lookahead=False),
    "warm-up and decay": dict(schedule="constant"),
    "Nesterov momentum": dict(nesterov=False),
    "weight decay": dict(weight_decay=0.0),
    "BatchNorm settings": dict(batchnorm="torch", bias_lr_scale=1.0),
}


RUNS_DIR = "results/recipe"              # the recipe's runs, both widths, over seeds
ABLATION_DIR = "results/recipe-ablation"  # the CPU width without one ingredient at a time


def ablation_name(ingredient: str, seed: int) -> str:
    """A run folder's name: 'without-label-smoothing_s0'."""
    return f"without-{ingredient.lower().replace(' ', '-')}_s{seed}"


def without(ingredient: str, base: TrainConfig = CPU_RECIPE) -> TrainConfig:
    """The recipe with one ingredient switched off."""
    return base.replace(**INGREDIENTS[ingredient])


def results_table(runs):
    """One row per width over the complete recipe runs in `runs` (records.load_runs): test
    accuracy after the last epoch, one view and with test-time augmentation, mean ± std over
    seeds (listed by number)."""
    import pandas as pd

    from .compare import mean_std

    done = runs[runs["status"] == "complete"]
    rows = []
    for (model, epochs), group in done.groupby(["model", "epochs"]):
        rows.append({
            "Network": model,
            "Epochs": epochs,
            "Seeds": ", ".join(str(int(s)) for s in sorted(group["seed"])),
            "Test set, one view (%)": mean_std(group["test_acc"]),
            "Test set, with test-time augmentation (%)": mean_std(group["test_tta_acc"]),
            "Wall time (min)": f"{group['wall_s'].mean() / 60:.1f}",
            "Device": ", ".join(sorted(set(group["device"].dropna()))),
        })
    return pd.DataFrame(rows)


def ablation_table(recipe_dir=RUNS_DIR, ablation_dir=ABLATION_DIR):
    """Test accuracy after the last epoch (with the recipe's test-time augmentation) of the CPU
    width's complete runs: the full recipe and the recipe without each ingredient, one row per
    run (columns run, seed, test_acc). The row without test-time augmentation is the full recipe
    runs' own one-view accuracy: that ingredient changes no training."""
    import pandas as pd

    from .records import iter_records

    rows = []
    for _, record in iter_records([recipe_dir, ablation_dir]):
        if record.get("status") != "complete":
            continue
        seed, final = record["config"]["seed"], record["final"]
        base = CPU_RECIPE.replace(seed=seed)
        if base.matches(record["config"]):
            rows += [("full recipe", seed, final["test_tta_acc"]),
                     ("without test-time augmentation", seed, final["test_acc"])]
        rows += [(f"without {name}", seed, final["test_tta_acc"])
                 for name in INGREDIENTS if without(name, base).matches(record["config"])]
    return pd.DataFrame(rows, columns=["run", "seed", "test_acc"])


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
    from .models import build_model, count_macs

    return 6.0 * count_macs(build_model(model)) * images * epochs
