"""The seed README's results table, and ours beside it under both protocols."""

from __future__ import annotations

import pandas as pd

# (model family, lr) -> (epochs, the seed README's "Accuracy"), which FACTS.md shows was eval-mode
# accuracy on the 50,000 training images, not on the test set.
SEED_RESULTS = {("LeNet5", 1e-2): (20, 10.00), ("LeNet5", 1e-3): (40, 75.18),
                ("Own Network", 1e-2): (20, 67.88), ("Own Network", 1e-3): (40, 99.54)}
NETWORKS = {"lenet5": ("LeNet5", "classic"), "lenet5-seed": ("LeNet5", "original variant"),
            "mycnn": ("Own Network", "")}


def _mean_std(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return "-"
    if len(values) == 1:
        return f"{values.iloc[0]:.2f}"
    return f"{values.mean():.2f} ± {values.std(ddof=1):.2f}"


def results_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, lr, epochs, subset) over the complete runs of `runs` (from load_runs):
    the seed's figure, ours under the seed's protocol, ours on the test set (last and best epoch),
    mean ± std over seeds (listed by number: a row of one seed says which)."""
    done = runs[runs["status"] == "complete"].copy()
    done["subset"] = done["subset"].fillna(0).astype(int)
    rows = []
    for (model, lr, epochs, subset), group in done.groupby(["model", "lr", "epochs", "subset"]):
        family, variant = NETWORKS[model]
        seed_epochs, seed_acc = SEED_RESULTS.get((family, lr), (None, None))
        rows.append({
            "Network": family + (f" ({variant})" if variant else ""),
            "lr": f"{lr:g}",
            "Epochs": epochs,
            "Train images": subset or 50000,
            "Seeds": ", ".join(str(int(s)) for s in sorted(group["seed"])),
            "Seed README (%)": f"{seed_acc:.2f}" if seed_acc is not None and seed_epochs == epochs else "-",
            "Ours, seed's protocol: train set (%)": _mean_std(group["train_eval_acc"]),
            "Ours, test set, last epoch (%)": _mean_std(group["test_acc"]),
            "Ours, test set, best epoch (%)": _mean_std(group["best_test_acc"]),
            "Best epoch": ", ".join(str(int(e)) for e in group["best_test_epoch"]),
            "Collapsed": int(group["collapsed"].sum()),
            "Wall time (min)": f"{group['wall_s'].mean() / 60:.1f}",
            "Device": ", ".join(sorted(set(group["device"].dropna()))),
        })
    return pd.DataFrame(rows)


README_START, README_END = "<!-- results-table: generated -->", "<!-- /results-table -->"


def markdown(table: pd.DataFrame) -> str:
    """A pandas table as a GitHub markdown table."""
    lines = ["| " + " | ".join(table.columns) + " |", "|" + " --- |" * len(table.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def readme_block(runs_dir) -> str:
    """The README's results table, generated from the committed run records."""
    from .records import load_runs

    table = results_table(load_runs(runs_dir)).drop(columns=["Device"])
    return f"{README_START}\n{markdown(table)}\n{README_END}"


def update_readme(readme, runs_dir) -> bool:
    """Rewrite the generated block of the README; True if it changed."""
    from pathlib import Path

    readme = Path(readme)
    text = readme.read_text()
    start, end = text.index(README_START), text.index(README_END) + len(README_END)
    new = text[:start] + readme_block(runs_dir) + text[end:]
    readme.write_text(new)
    return new != text
