"""Does bf16 learn what fp32 learns? The same configurations, from the same seeds, trained once in
bf16 (the fast path every sweep, recipe and ablation run takes on a CPU with native bf16) and once
in fp32, on one machine; their test accuracies compared seed by seed, with a 95% paired t interval.

    .venv/bin/python benchmarks/precision_parity.py                          # both, seeds 0 1 2
    .venv/bin/python benchmarks/precision_parity.py --models lenet5 --seeds 0

The configurations: LeNet5 as the original trained it at lr 1e-3 (40 epochs, `original.config`),
and the recipe's CPU width (`recipe.CPU_RECIPE`, 10 epochs). A bf16 run is reused where a complete
one with the configuration is on this machine's records (`--bf16-dirs`: the like-for-like table's
and the recipe's rerun), else trained into `--runs-dir`/bf16; the fp32 runs go to `--runs-dir`/fp32.
One seed gives both runs the same initial weights and batches, so the difference is paired by seed.
bf16 and fp32 "agree" when the whole interval of their difference lies within TARGET_PP points of
zero; an interval wider than that is "not resolved" at those seeds, whatever its centre. Written to
benchmarks/results/precision-parity-<machine>.json and .md, with the machine (processor,
instruction set, threads) and the commit.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cifar_helpers import fit, flags, load_cifar10, original, recipe  # noqa: E402
from cifar_helpers.device import code_version, machine, resolve_device  # noqa: E402
from cifar_helpers.records import isa_of, read_record  # noqa: E402
from cifar_helpers.tables import CONFIDENCE, RECIPE_RERUN_DIR, TABLE_DIR, difference_interval  # noqa: E402
from cifar_helpers.training import find_run  # noqa: E402

TARGET_PP = 1.0  # as benchmarks/accuracy_parity.py: within a point
CONFIGS = {"lenet5": original.config("lenet5", 1e-3), "whitened-net-small": recipe.CPU_RECIPE}


def trained(config, folders, runs_dir: Path, data, device: str) -> Path:
    """A complete run of `config` on this machine's records, or one trained now into runs_dir."""
    found = find_run(folders, config, with_checkpoint=False)
    if found is not None and isa_of(read_record(found)) == machine(resolve_device(device))["isa"]:
        return found
    return fit(config, data, device=device, runs_dir=runs_dir, progress=False).path


def compare(model: str, seeds, folders, runs_dir: Path, data, device: str) -> dict:
    runs = {precision: [trained(CONFIGS[model].replace(seed=seed, precision=precision),
                                [*folders, runs_dir / precision], runs_dir / precision, data, device)
                        for seed in seeds] for precision in ("bf16", "fp32")}
    finals = {p: [read_record(r)["final"] for r in paths] for p, paths in runs.items()}
    entry = {"model": model, "config": CONFIGS[model].to_dict(), "seeds": list(seeds),
             "runs": {p: [str(r.relative_to(ROOT)) if r.is_relative_to(ROOT) else str(r) for r in paths]
                      for p, paths in runs.items()}}
    views = ["test_acc"] + (["test_tta_acc"] if "test_tta_acc" in finals["bf16"][0] else [])
    for view in views:
        accs = {p: [f[view] for f in fs] for p, fs in finals.items()}
        difference, low, high = difference_interval(accs["bf16"], accs["fp32"], paired=True)
        agree = bool(-TARGET_PP <= low and high <= TARGET_PP)  # False for a NaN interval, too
        entry[view] = {"bf16": accs["bf16"], "fp32": accs["fp32"], "difference": difference,
                       "interval": [low, high], "agree": agree}
    return entry


def write(results: dict, out: Path) -> Path:
    m = results["machine"]
    stem = "precision-parity-" + re.sub(r"[^a-z0-9]+", "-", f"{m['device_name']} {m['isa']}".lower()).strip("-")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(results, indent=1) + "\n")
    lines = [f"# bf16 against fp32 on {m['device_name']} ({m['isa']}, {m['threads']} threads)", "",
             "The same configurations from the same seeds, trained in bf16 and in fp32 on this machine; test "
             f"accuracy after the last epoch, mean ± sd over the seeds, and the difference with its "
             f"{CONFIDENCE:.0%} paired t interval (one seed: the same initial weights and batches). \"Agree\": "
             f"the whole interval within {TARGET_PP:g} point of zero; otherwise not resolved at these seeds. Commit "
             f"{results.get('git_commit', 'unknown')[:12]}"
             f"{' (with uncommitted changes)' if results.get('git_uncommitted_changes') else ''}. "
             "Written by benchmarks/precision_parity.py.", "",
             "| network | epochs | seeds | view | bf16 (%) | fp32 (%) | bf16 - fp32 | 95% interval | agree |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for e in results["entries"]:
        for view, name in (("test_acc", "one view"), ("test_tta_acc", "test-time augmentation")):
            if view in e:
                v = e[view]
                sd = {p: torch.tensor(v[p]).std().item() if len(v[p]) > 1 else 0.0 for p in ("bf16", "fp32")}
                lines.append(f"| {e['model']} | {e['config']['epochs']} | {', '.join(map(str, e['seeds']))} | {name} | "
                             f"{sum(v['bf16']) / len(v['bf16']):.2f} ± {sd['bf16']:.2f} | "
                             f"{sum(v['fp32']) / len(v['fp32']):.2f} ± {sd['fp32']:.2f} | {v['difference']:+.2f} | "
                             f"{v['interval'][0]:+.2f} to {v['interval'][1]:+.2f} | "
                             f"{'yes' if v['agree'] else 'not resolved'} |")
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    return out / f"{stem}.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    flags.add_seeds(parser)
    parser.add_argument("--bf16-dirs", nargs="+", default=[TABLE_DIR, RECIPE_RERUN_DIR],
                        help="where this machine's bf16 runs may already be")
    parser.add_argument("--runs-dir", default=str(ROOT / "results" / "precision-parity"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    flags.add_device(parser)
    args = parser.parse_args()
    if len(args.seeds) < 2:
        parser.error("an interval needs at least two seeds a side; pass --seeds 0 1 2")
    runs_dir = Path(args.runs_dir).resolve()
    results = {"machine": machine(resolve_device(args.device)), **code_version(), "entries": []}
    data = load_cifar10()
    folders = [ROOT / d for d in args.bf16_dirs]
    for model in args.models:
        results["entries"].append(compare(model, args.seeds, folders, runs_dir, data, args.device))
        print(f"written: {write(results, Path(args.out))}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
