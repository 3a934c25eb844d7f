"""The original README's results table, and ours beside it under both protocols."""

from __future__ import annotations

import pandas as pd

from . import original
from .records import format_lr

NETWORKS = {"lenet5": ("LeNet5", "classic"), "lenet5-original": ("LeNet5", "original variant"),
            "own-network": ("Own Network", "")}


def mean_std(values: pd.Series) -> str:
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
            "Ours, original's protocol: train set (%)": mean_std(group["train_eval_acc"]),
            "Ours, test set (%)": mean_std(group["test_acc"]),
            "Collapsed": int(group["collapsed"].sum()),
            "Wall time (min)": f"{group['wall_s'].mean() / 60:.1f}",
            "Device": ", ".join(sorted(set(group["device"].dropna()))),
        })
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    """A pandas table as a GitHub markdown table."""
    lines = ["| " + " | ".join(table.columns) + " |", "|" + " --- |" * len(table.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def readme_blocks(results_dir) -> dict[str, str]:
    """The README's generated tables, from the committed run records: the original's table
    (results/), notebook 05's recipe (results/recipe/) and the learning-rate sweep
    (results/sweep/), each between its two markers."""
    from pathlib import Path

    from . import recipe, sweep
    from .records import load_runs

    results_dir = Path(results_dir)
    swept = load_runs(results_dir / "sweep")
    tables = {"results-table": results_table(load_runs(results_dir)).drop(columns=["Device"]),
              "recipe-table": recipe.results_table(load_runs(results_dir / "recipe")).drop(columns=["Device"]),
              "sweep-table": sweep.summary(swept),
              "sweep-choice": sweep.against_range_tests(swept, results_dir / "lr_range")}
    return {name: f"<!-- {name}: generated -->\n{markdown(table)}\n<!-- /{name} -->"
            for name, table in tables.items()}


def update_readme(readme, results_dir) -> bool:
    """Rewrite the generated blocks of the README; True if any changed."""
    from pathlib import Path

    readme = Path(readme)
    text = new = readme.read_text()
    for name, block in readme_blocks(results_dir).items():
        start, end_marker = new.index(f"<!-- {name}: generated -->"), f"<!-- /{name} -->"
        end = new.index(end_marker) + len(end_marker)
        new = new[:start] + block + new[end:]
    readme.write_text(new)
    return new != text
