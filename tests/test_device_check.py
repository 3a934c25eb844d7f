"""scripts/device_check.py, the GPU CI script, also runs on a CPU (tiny settings here)."""

import json
import subprocess
import sys

from cifar_helpers.paths import REPO


def test_device_check_runs_on_the_cpu(cifar, tmp_path):
    out = tmp_path / "report"
    result = subprocess.run(
        [sys.executable, "scripts/device_check.py", "--out", str(out), "--quick", "--skip-unit-tests",
         "--only", "01", "04", "--bench-models", "lenet5", "--bench-images", "2048", "--bench-repeats", "1",
         "--recipe-seeds"],
        cwd=REPO, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ok"] and set(summary["steps"]) == {"series", "benchmark"}
    assert (out / "series" / "01_dataset_tour.ipynb").is_file()
    printed = (out / "series.log").read_text()  # the main job's output, notebooks 01 and 04
    assert "[2/2] 04_comparison.ipynb done" in printed
    assert [line for line in printed.splitlines() if "ERROR" in line] == []
    (bench,) = (out / "benchmark").glob("*.json")
    speed = json.loads(bench.read_text())["models"]["lenet5"]
    assert speed["speedup_vs_reference"] > 0 and speed["compute_over_fast"] > 0
