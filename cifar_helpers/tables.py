"""The report's tables, from run records: the original's table and ours beside it under both
protocols, notebook 05's recipe and its ablation, the learning-rate sweep and the rate it
chooses; and the generated blocks of the README and docs/. Jobs (training, the sweep, the
recipe) write records; this module only reads them, and no job imports it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from . import colab, lr_range, original, recipe, sweep
from .config import TrainConfig
from .errors import CifarHelpersError
from .paths import RESULTS_DIR, project_path
from .records import format_lr, iter_records, load_runs, isa_of

NETWORKS = {"lenet5": ("LeNet5", "classic"), "lenet5-original": ("LeNet5", "original variant"),
            "own-network": ("Own Network", "")}


def mean_std(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return "-"
    if len(values) == 1:
        return f"{values.iloc[0]:.2f}"
    return f"{values.mean():.2f} ± {values.std(ddof=1):.2f}"


def markdown(table: pd.DataFrame) -> str:
    """A pandas table as a GitHub markdown table."""
    lines = ["| " + " | ".join(table.columns) + " |", "|" + " --- |" * len(table.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def _seeds(group: pd.DataFrame) -> str:
    return ", ".join(str(int(s)) for s in sorted(group["seed"]))


def results_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, lr, epochs, subset, machine) over the complete runs of `runs` (from load_runs):
    the original's figure, ours under the original's protocol, ours on the test set at the last
    epoch (no epoch is picked by its test accuracy), mean ± std over seeds (listed by number), and
    the machine and precision they trained on (runs of two machines are never one row). Only
    the original's networks: a folder may also hold notebook 05's runs (the quick profile's does)."""
    done = runs[(runs["status"] == "complete") & runs["model"].isin(NETWORKS)].copy()
    done["subset"] = done["subset"].fillna(0).astype(int)
    done["machine"] = done["machine"].fillna("unknown")  # a run of no known machine is shown, not dropped
    rows = []
    for (model, lr, epochs, subset, machine), group in done.groupby(["model", "lr", "epochs", "subset", "machine"]):
        family, variant = NETWORKS[model]
        figure = original.README_ACCURACY.get((model, lr))
        rows.append({
            "Network": family + (f" ({variant})" if variant else ""),
            "lr": format_lr(lr),
            "Epochs": epochs,
            "Train images": subset or 50000,
            "Seeds": _seeds(group),
            "Original README (%)": f"{figure:.2f}" if figure is not None and original.EPOCHS.get(lr) == epochs else "-",
            "Ours, original's protocol: train set (%)": mean_std(group["train_eval_acc"]),
            "Ours, test set (%)": mean_std(group["test_acc"]),
            "Collapsed": int(group["collapsed"].sum()),
            "Wall time (min)": f"{group['wall_s'].mean() / 60:.1f}",
            "Machine, precision": machine,
        })
    return pd.DataFrame(rows)


def recipe_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per width over the complete recipe runs in `runs` (load_runs): test accuracy after
    the last epoch, one view and with test-time augmentation, mean ± std over seeds (listed by
    number)."""
    done = runs[runs["status"] == "complete"].fillna({"machine": "unknown"})
    rows = []
    for (model, epochs, machine), group in done.groupby(["model", "epochs", "machine"]):
        rows.append({
            "Network": model,
            "Epochs": epochs,
            "Seeds": _seeds(group),
            "Test set, one view (%)": mean_std(group["test_acc"]),
            "Test set, with test-time augmentation (%)": mean_std(group["test_tta_acc"]),
            "Wall time (min)": f"{group['wall_s'].mean() / 60:.1f}",
            "Machine, precision": machine,
        })
    return pd.DataFrame(rows)


def ablation_table(recipe_dir=recipe.RUNS_DIR, ablation_dir=recipe.ABLATION_DIR) -> pd.DataFrame:
    """Test accuracy after the last epoch (with the recipe's test-time augmentation) of the CPU
    width's complete runs: the full recipe and the recipe without each ingredient, one row per
    run (columns run, seed, test_acc). The row without test-time augmentation is the full recipe
    runs' own one-view accuracy: that ingredient changes no training."""
    rows = []
    for _, record in iter_records([recipe_dir, ablation_dir]):
        if record.get("status") != "complete":
            continue
        seed, final = record["config"]["seed"], record["final"]
        base = recipe.CPU_RECIPE.replace(seed=seed)
        if base.matches(record["config"]):
            rows += [("full recipe", seed, final["test_tta_acc"]),
                     ("without test-time augmentation", seed, final["test_acc"])]
        rows += [(f"without {name}", seed, final["test_tta_acc"])
                 for name in recipe.INGREDIENTS if recipe.without(name, base).matches(record["config"])]
    return pd.DataFrame(rows, columns=["run", "seed", "test_acc"])


def ablation_rows() -> list[str]:
    """The ablation's rows: the full recipe, then one per ingredient switched off."""
    return ["full recipe", "without test-time augmentation"] + [f"without {name}" for name in recipe.INGREDIENTS]


CONFIDENCE = 0.95


def difference_interval(a, b, confidence: float = CONFIDENCE, paired: bool = False) -> tuple[float, float, float]:
    """mean(a) - mean(b) and its t interval: Welch's for two sets of runs (unequal variances: seeds of
    two settings need not spread alike), or the paired one where a[i] and b[i] are the same run (or
    seed) measured two ways. With three seeds a side the interval is wide; that is the honest width."""
    from scipy import stats

    a, b = pd.Series(a, dtype=float).reset_index(drop=True), pd.Series(b, dtype=float).reset_index(drop=True)
    test = stats.ttest_rel(a, b) if paired else stats.ttest_ind(a, b, equal_var=False)
    interval = test.confidence_interval(confidence)
    return a.mean() - b.mean(), float(interval.low), float(interval.high)


def verdict(low: float, high: float, seeds: int) -> str:
    """What a difference's interval lets a reader claim."""
    if low > 0:
        return "higher: interval above zero"
    if high < 0:
        return "lower: interval below zero"
    return f"not resolved at {seeds} seeds"


def ablation_summary(table: pd.DataFrame, rows: list[str] | None = None) -> pd.DataFrame:
    """Each row of the ablation (ablation_table) against the full recipe: its seeds' mean, standard
    deviation and count, the difference of the means with its 95% interval (difference_interval;
    paired for the row without test-time augmentation, the same runs read with one view),
    and what a reader may claim from it: a direction only where the interval excludes zero. With
    fewer than three seeds on either side there is no spread to judge by. A row of `rows`
    (ablation_rows) without a run yet is listed as such, so that a missing row is seen as missing."""
    stats = table.groupby("run")["test_acc"].agg(["mean", "std", "count"])
    stats = stats.reindex(list(stats.index) + [r for r in (rows or ablation_rows()) if r not in stats.index])
    stats["count"] = stats["count"].fillna(0).astype(int)
    full = table[table["run"] == "full recipe"].sort_values("seed")["test_acc"]  # seed order, for pairing
    low, high, claims = [], [], []
    for run, row in stats.iterrows():
        interval = (float("nan"),) * 2
        if run == "full recipe":
            claim = ""
        elif row["count"] == 0:
            claim = "not run yet"
        elif min(row["count"], len(full)) < 3:
            claim = "too few seeds to judge"
        else:
            ablated = table[table["run"] == run].sort_values("seed")["test_acc"]
            # without test-time augmentation: the full recipe's own runs read with one view, seed by seed
            paired = run == "without test-time augmentation"
            _, *interval = difference_interval(ablated, full, paired=paired)
            claim = verdict(*interval, int(min(row["count"], len(full))))
        low.append(interval[0]), high.append(interval[1]), claims.append(claim)
    intervals = [pd.NA if pd.isna(lo) else f"{lo:+.2f} to {hi:+.2f}" for lo, hi in zip(low, high)]
    summary = pd.DataFrame({"test accuracy (%)": stats["mean"].round(2), "sd": stats["std"].round(2),
                            "seeds": stats["count"],
                            "difference": (stats["mean"] - stats.loc["full recipe", "mean"]).round(2),
                            "95% interval": intervals, "claim": claims}, index=stats.index)
    return summary.sort_values("test accuracy (%)")


def ablation_findings(summary: pd.DataFrame) -> str:
    """The ablation_summary in a sentence per claim, so that prose quotes only what the seeds allow,
    and how many rows would cross zero by chance alone if no ingredient mattered."""
    lines = []
    judged = summary["claim"].str.startswith(("higher", "lower", "not resolved"))
    order = ("lower", "not resolved", "higher", "too few")
    claims = set(summary.loc[judged | (summary["claim"] == "too few seeds to judge"), "claim"])
    for claim in sorted(claims, key=lambda c: [c.startswith(o) for o in order].index(True)):
        rows = summary[summary["claim"] == claim]
        named = "; ".join(f"{run} ({difference:+.2f} points)" for run, difference in rows["difference"].items())
        lines.append(f"{claim[0].upper()}{claim[1:]}: {named}.")
    pending = summary.index[summary["claim"] == "not run yet"]
    if len(pending):
        lines.append(f"Not run yet: {'; '.join(pending)}.")
    if judged.any():
        lines.append(f"Each interval is a {CONFIDENCE:.0%} t interval over the seeds (Welch's; paired for the row "
                     f"without test-time augmentation); with {judged.sum()} rows judged, about "
                     f"{(1 - CONFIDENCE) * judged.sum():.1f} would exclude zero by chance alone if no ingredient made "
                     "a difference, more often together than apart, since every row is set against the same "
                     "full-recipe seeds; no interval is corrected for the number of rows.")
    return "\n".join(lines)


def sweep_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The complete runs of a sweep's table (load_runs) that held out a validation split."""
    return runs[(runs["status"] == "complete") & (runs["val_size"].fillna(0) > 0)]


def chosen_rates(runs: pd.DataFrame) -> dict:
    """model -> the rate whose runs reach the highest mean validation accuracy at their last
    epoch. The test set takes no part in the choice."""
    done = sweep_runs(runs)
    means = done.groupby(["model", "lr"])["val_acc"].mean()
    return {model: float(means[model].idxmax()) for model in done["model"].unique()}


def sweep_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, lr) of a sweep's complete runs: last-epoch validation and test
    accuracy, mean ± std over the seeds, the collapsed runs, and the rate the validation split
    chooses for each network."""
    done = sweep_runs(runs)
    chosen = chosen_rates(runs)
    rows = [{"Network": model, "lr": format_lr(lr), "Epochs": int(group["epochs"].iloc[0]), "Seeds": len(group),
             "Validation (%)": mean_std(group["val_acc"]), "Test (%)": mean_std(group["test_acc"]),
             "Collapsed": int(group["collapsed"].sum()), "Chosen on validation": "yes" if chosen[model] == lr else ""}
            for (model, lr), group in done.groupby(["model", "lr"])]
    return pd.DataFrame(rows)


def range_suggestions(runs: pd.DataFrame, folder=lr_range.RESULTS_DIR) -> dict:
    """model -> the suggestion of the shipped range test of the sweep's network, optimizer and
    batch size (networks without one are left out)."""
    suggestions = {}
    for model, group in sweep_runs(runs).groupby("model"):
        config = TrainConfig(model=model, batch_size=int(group["batch_size"].iloc[0]),
                             optimizer=group["optimizer"].iloc[0])
        path = lr_range.result_path(config, folder)
        if path.is_file():
            suggestions[model] = lr_range.load(path).suggestion
    return suggestions


def against_range_tests(runs: pd.DataFrame, folder=lr_range.RESULTS_DIR) -> pd.DataFrame:
    """Per network: the rate chosen on the validation split beside the range test's suggestion."""
    suggestions = range_suggestions(runs, folder)
    return pd.DataFrame([{"Network": model, "Chosen on validation": format_lr(lr),
                          "Range test suggests": f"{suggestions[model]:.2g}" if model in suggestions else "-",
                          "Suggestion / chosen": f"{suggestions[model] / lr:.2g}" if model in suggestions else "-"}
                         for model, lr in chosen_rates(runs).items()])


TIMINGS_DIR = "benchmarks/results"  # timings-<machine>.json, written by benchmarks/timings.py
TIMED_JOBS = {"main-job": "main job (`python3 tasks.py run`, shipped runs)",
              "quick": "quick profile (`python3 tasks.py run --quick`)",
              "test-suite": "the README's test command"}
TABLE_DIR = f"{RESULTS_DIR}/table-bf16"       # the original's table, three seeds a row, one machine, bf16
RECIPE_RERUN_DIR = f"{RESULTS_DIR}/recipe-rerun"  # the recipe's CPU width retrained on today's code
# Timed kinds of run: (folders under results/, the run folders' prefix).
TIMED_RUNS = {"LeNet5, lr 1e-3, 40 epochs": (("", "table-bf16"), "lenet5_lr1e-3_e40_s"),
              "original LeNet5 variant, lr 1e-3, 40 epochs": (("", "table-bf16"), "lenet5-original_lr1e-3_e40_s"),
              "own network, lr 1e-3, 40 epochs": (("", "table-bf16"), "own-network_lr1e-3_e40_s"),
              "own network, lr 1e-2, 20 epochs": (("", "table-bf16"), "own-network_lr1e-2_e20_s"),
              "LeNet5, lr 1e-3, 40 epochs on 45,000 images (the sweep)": (("sweep",), "lenet5_lr1e-3_e40_s"),
              "own network, lr 1e-3, 3 epochs on 45,000 images (the sweep)": (("sweep",), "own-network_lr1e-3_e3_s"),
              "notebook 05's recipe, CPU width, 10 epochs": (("recipe", "recipe-rerun"), "whitened-net-small_"),
              "notebook 05's recipe, full width, 10 epochs": (("recipe", "recipe-rerun"), "whitened-net_")}
NOT_MEASURED = "not measured"


def machine_label(name: str, isa: str, precision: str, threads: int) -> str:
    return f"{name}, {isa}, {precision}, {threads} thread{'' if threads == 1 else 's'}"


def _run_times() -> dict[tuple[str, str], str]:
    """(row, machine) -> the median epoch and the whole run of the shipped runs of each kind, from
    their records (per-epoch seconds: training and the evaluation after it)."""
    cells, by_machine = {}, {}
    for label, (folders, prefix) in TIMED_RUNS.items():
        for run_dir, record in iter_records([f"{RESULTS_DIR}/{folder}".rstrip("/") for folder in folders]):
            if not run_dir.name.startswith(prefix) or record.get("status") != "complete":
                continue
            env = record["environment"]
            key = (label, machine_label(env["device_name"], isa_of(record), record["config"]["precision"],
                                        env["torch_threads"]))
            by_machine.setdefault(key, []).append([epoch["seconds"] for epoch in record["history"]])
    for (label, machine), runs in by_machine.items():
        epoch = pd.Series([s for run in runs for s in run]).median()
        totals = pd.Series([sum(run) for run in runs]) / 60
        spread = f" ({len(runs)} runs: {totals.min():.1f}-{totals.max():.1f})" if len(runs) > 1 else ""
        cells[(f"{label}: an epoch", machine)] = f"{epoch:.1f} s"
        cells[(f"{label}: the whole run", machine)] = f"{totals.median():.1f} min{spread}"
    return cells


def _job_times(folder=TIMINGS_DIR) -> dict[tuple[str, str], str]:
    """(row, machine) -> the measured seconds of the jobs and of Run All in JupyterLab."""
    cells = {}
    for path in sorted(project_path(folder).glob("timings-*.json")):
        timing = json.loads(path.read_text())
        m = timing["machine"]
        machine = machine_label(m["device_name"], m["isa"], m["precision"], m["threads"])
        for name, entry in timing["measured"].items():
            if entry["seconds"] is None:
                continue
            if name == "jupyterlab":
                for notebook, seconds in entry["run_all_seconds"].items():
                    if (project_path("notebooks") / notebook).exists():  # not the browser test's extra run
                        cells[(f"Run All in JupyterLab, {notebook[:-6]}", machine)] = f"{seconds:.0f} s"
            else:
                cells[(TIMED_JOBS[name], machine)] = f"{entry['seconds'] / 60:.1f} min"
    return cells


def timings_table(folder=TIMINGS_DIR) -> pd.DataFrame:
    """Every measured time of the series, one column per machine (a GPU column says "not measured"
    until a file or record from a GPU exists), each cell read from a committed file."""
    cells = {**_job_times(folder), **_run_times()}
    machines = sorted({machine for _, machine in cells})
    if not any(", GPU," in machine for machine in machines):
        machines.append("GPU")
    rows = list(dict.fromkeys(row for row, _ in cells))
    return pd.DataFrame([[row, *(cells.get((row, m), NOT_MEASURED) for m in machines)] for row in rows],
                        columns=["", *machines])


def generated_blocks() -> dict[str, str]:
    """The generated tables of the README and docs/, from the committed run records: the original's
    table, notebook 05's recipe, the learning-rate sweep and the timings, each between its two markers;
    and the README's badges, from the repository's address (colab.py)."""
    swept = load_runs(sweep.RUNS_DIR)
    tables = {"results-table": results_table(load_runs(TABLE_DIR)),
              "results-table-first": results_table(load_runs(RESULTS_DIR)),
              "recipe-table": recipe_table(load_runs(recipe.RUNS_DIR, RECIPE_RERUN_DIR)),
              "sweep-table": sweep_table(swept),
              "sweep-choice": against_range_tests(swept),
              "timings-table": timings_table()}
    ablation = ablation_summary(ablation_table())
    texts = {name: markdown(table) if len(table) else "No complete runs yet." for name, table in tables.items()}
    shown = ablation.reset_index()
    for column in ("test accuracy (%)", "sd", "difference"):
        shown[column] = ["-" if pd.isna(v) else f"{v:+.2f}" if column == "difference" else f"{v:.2f}"
                         for v in shown[column]]
    shown["95% interval"] = shown["95% interval"].fillna("-")
    texts["ablation-table"] = f"{markdown(shown)}\n\n{ablation_findings(ablation)}"
    texts["badges"] = (f"{colab.badges('01_dataset_tour.ipynb')} · [the website]({colab.website()}): every "
                       f"notebook executed, with its figures · [the repository]({colab.repository()})")
    return {name: f"<!-- {name}: generated -->\n{text}\n<!-- /{name} -->" for name, text in texts.items()}


def documentation_files() -> list[Path]:
    """The files a generated block may live in: the README and the pages of docs/."""
    return [project_path("README.md"), *sorted(project_path("docs").glob("*.md"))]


def update_generated_blocks(files: list[Path] | None = None) -> list[Path]:
    """Rewrite every generated block wherever it sits among `files` (documentation_files() by default),
    so a table can move between pages; return the files that changed. A block found in none of them
    stops everything: a table whose markers were lost would otherwise silently go stale."""
    files = documentation_files() if files is None else [project_path(f) for f in files]
    texts = {path: path.read_text() for path in files}
    new = dict(texts)
    for name, block in generated_blocks().items():
        start_marker, end_marker = f"<!-- {name}: generated -->", f"<!-- /{name} -->"
        holders = [path for path, text in new.items() if start_marker in text and end_marker in text]
        if not holders:
            raise CifarHelpersError(
                f"The generated table '{name}' has no place in {', '.join(p.name for p in files)}: none holds "
                f"both of its markers, '{start_marker}' and '{end_marker}'. Put the two lines back where "
                "the table belongs (anything between them is replaced), then run this again.")
        for path in holders:
            text = new[path]
            start, end = text.index(start_marker), text.index(end_marker) + len(end_marker)
            new[path] = text[:start] + block + text[end:]
    changed = [path for path in files if new[path] != texts[path]]
    for path in changed:
        path.write_text(new[path])
    return changed
