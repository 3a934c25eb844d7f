"""The original README's results table, and ours beside it under both protocols."""

from __future__ import annotations

import pandas as pd

from . import original
from .records import format_lr

NETWORKS = {"lenet5": ("LeNet5", "classic"), "lenet5-original": ("LeNet5", "original variant"),
            "own-network": ("Own Network", "")}


def _mean_std(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return "-"
    if len(values) == 1:
        return f"{values.iloc[0]:.2f}"
    return f"{values.mean():.2f} ± {values.std(ddof=1):.2f}"


def results_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, lr, epochs, subset) over the complete runs of `runs` (from load_runs):
    the original's figure, ours under the original's protocol, ours on the test set at the last
    epoch (no epoch is picked by its test accuracy), mean ± std over seeds (listed by number)."""
    done = runs[runs["status"] == "complete"].copy()
    done["subset"] = done["subset"].fillna(0).astype(int)
    rows = []
    for (model, lr, epochs, subset), group in done.groupby(["model", "lr", "epochs", "subset"]):
        family, variant = NETWORKS[model]
        figure = original.README_ACCURACY.get((family, lr))
        rows.append({
            "Network": family + (f" ({variant})" if variant else ""),
            "lr": format_lr(lr),
            "Epochs": epochs,
            "Train images": subset or 50000,
            "Seeds": ", ".join(str(int(s)) for s in sorted(group["seed"])),
            "Original README (%)": f"{figure:.2f}" if figure is not None and original.EPOCHS.get(lr) == epochs else "-",
            "Ours, original's protocol: train set (%)": _mean_std(group["train_eval_acc"]),
            "Ours, test set (%)": _mean_std(group["test_acc"]),
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
