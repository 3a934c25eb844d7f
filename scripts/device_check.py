#!/usr/bin/env python3
"""The whole series on whatever device is present (a CUDA GPU where there is one), into one folder:

    python scripts/device_check.py --out device-report            # a GPU runner: everything
    python scripts/device_check.py --out report --quick           # a CPU: the quick profile

Steps: (1) the unit tests, which also execute every notebook through papermill and nbval;
(2) the notebook series, executed with papermill (full length, or the quick profile with --quick),
training every run afresh; (3) the training-speed benchmark; (4) notebook 05's recipe at full width
over three seeds (`python -m cifar_helpers recipe`), whose goal on an H200 is 94% test accuracy
(mean of the seeds, with its test-time augmentation) in under 3 seconds of training, bf16, the data
resident on the GPU. Then summary.json lists each step's outcome and time, the device, the versions,
the results table and the recipe's figures. Exits non-zero if a step failed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def step(name: str, command: list[str], summary: dict, log: Path) -> bool:
    print(f"== {name}: {' '.join(command)}", flush=True)
    started = time.perf_counter()
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in process.stdout:
            sys.stdout.write(line)
            out.write(line)
        process.wait()
    summary["steps"][name] = {"returncode": process.returncode, "seconds": round(time.perf_counter() - started, 1),
                              "log": log.name}
    return process.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder (created; must not exist yet)")
    parser.add_argument("--quick", action="store_true", help="the quick profile of the series")
    parser.add_argument("--skip-unit-tests", action="store_true")
    parser.add_argument("--only", nargs="+", metavar="NN", help="only these notebooks of the series")
    parser.add_argument("--bench-models", nargs="+", default=["lenet5", "own-network"])
    parser.add_argument("--bench-images", type=int, default=10240)
    parser.add_argument("--bench-repeats", type=int, default=3)
    parser.add_argument("--recipe-seeds", nargs="*", type=int, default=[0, 1, 2],
                        help="seeds of the full-width recipe (none: skip that step)")
    args = parser.parse_args()

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=False)
    import torch

    summary = {"device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
               "torch": torch.__version__, "quick": args.quick, "steps": {}}
    python = sys.executable
    ok = True
    if not args.skip_unit_tests:
        ok &= step("unit_tests", [python, "-m", "pytest", "-q", f"--junitxml={out / 'pytest.xml'}"],
                   summary, out / "unit_tests.log")
    series = [python, "-m", "cifar_helpers", "series", "--retrain", "--name", str(out / "series")]
    series += ["--quick"] if args.quick else []
    series += ["--only", *args.only] if args.only else []
    ok &= step("series", series, summary, out / "series.log")
    ok &= step("benchmark", [python, "benchmarks/training_speed.py", "--out", str(out / "benchmark"),
                             "--models", *args.bench_models, "--images", str(args.bench_images),
                             "--repeats", str(args.bench_repeats)], summary, out / "benchmark.log")
    if args.recipe_seeds:
        ok &= step("recipe", [python, "-m", "cifar_helpers", "recipe", "--models", "whitened-net", "--no-progress",
                              "--seeds", *map(str, args.recipe_seeds), "--runs-dir", str(out / "recipe")],
                   summary, out / "recipe.log")
    sys.path.insert(0, str(ROOT))
    from cifar_helpers import load_runs
    from cifar_helpers.tables import results_table

    records = out / "series" / "records"
    if records.is_dir():
        summary["results"] = results_table(load_runs(records)).to_dict(orient="records")
    from cifar_helpers.records import iter_records

    recipe_runs = [record for _, record in iter_records(out / "recipe") if record.get("status") == "complete"]
    if recipe_runs:
        # Training time: each epoch's training phase (images / images per second), no evaluation.
        rows = [{"seed": r["config"]["seed"], "precision": r["config"]["precision"],
                 "test_acc": r["final"]["test_acc"], "test_tta_acc": r["final"]["test_tta_acc"],
                 "training_seconds": sum(50_000 / h["images_per_s"] for h in r["history"])} for r in recipe_runs]
        mean_acc = sum(r["test_tta_acc"] for r in rows) / len(rows)
        mean_seconds = sum(r["training_seconds"] for r in rows) / len(rows)
        summary["recipe"] = {"runs": rows, "mean_test_tta_acc": mean_acc, "mean_training_seconds": mean_seconds,
                             "goal_94_in_3_s": mean_acc >= 94.0 and mean_seconds < 3.0}
    summary["ok"] = bool(ok)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"\n{'all steps passed' if ok else 'SOME STEPS FAILED'}; report in {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
