"""How long the series takes a user, measured on this machine, run alone on it: the main job
(`python3 tasks.py run`, loading the shipped runs), its quick profile (`--quick`, training), Run All
of each notebook in JupyterLab (the browser test's measurement) and the README's test command.

    .venv/bin/python benchmarks/timings.py [--only main-job quick jupyterlab test-suite]

Each measurement replaces its own entry in benchmarks/results/timings-<machine>.json, so they can be
taken one at a time; the README's timings table (cifar_helpers.tables.timings_table) reads these
files and the run records. A command that fails is recorded as failed, never as a time.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cifar_helpers.device import code_version, machine  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
PYTHON = sys.executable


def _timed(command: list[str], env: dict | None = None) -> dict:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **(env or {})})
    seconds = round(time.perf_counter() - start, 1)
    last = (result.stdout.strip().splitlines() or [""])[-1]
    entry = {"seconds": seconds if result.returncode == 0 else None, "exit": result.returncode,
             "command": " ".join(command[1:] if command[0] == PYTHON else command), "last_line": last[-300:]}
    if result.returncode != 0:  # what failed, kept with the record
        entry["output_tail"] = (result.stdout + result.stderr)[-4000:]
    return entry


def main_job(out: Path) -> dict:
    return _timed([PYTHON, "tasks.py", "run", "--name", "timings-main-job"])


def quick(out: Path) -> dict:
    return _timed([PYTHON, "tasks.py", "run", "--quick", "--name", "timings-quick"])


def jupyterlab(out: Path) -> dict:
    """Run All of each notebook as the browser test times it (shipped runs loaded; kernel start
    not included)."""
    report = out / "jupyterlab-run-all.json"
    measured = _timed([PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_browser.py"],
                      env={"CIFAR_REQUIRE_BROWSER": "1", "CIFAR_RUN_ALL_REPORT": str(report)})
    if measured["seconds"] is not None:
        measured["run_all_seconds"] = json.loads(report.read_text())["seconds_run_all"]
    return measured


def test_suite(out: Path) -> dict:
    """The README's test command, as a newcomer runs it."""
    return _timed([PYTHON, "tasks.py", "test"], env={"CIFAR_REQUIRE_BROWSER": "1"})


MEASUREMENTS = {"main-job": main_job, "quick": quick, "jupyterlab": jupyterlab, "test-suite": test_suite}


def results_file(described: dict) -> Path:
    slug = re.sub(r"[^a-z0-9]+", "-", f"{described['device_name']} {described['isa']}".lower()).strip("-")
    return RESULTS / f"timings-{slug}.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=sorted(MEASUREMENTS), default=list(MEASUREMENTS))
    args = parser.parse_args(argv)
    described = machine()
    path = results_file(described)
    record = json.loads(path.read_text()) if path.exists() else {"machine": described, "measured": {}}
    with tempfile.TemporaryDirectory(prefix="cifar-timings-") as tmp:
        for name in args.only:
            print(f"{name} ...", flush=True)
            version = code_version()  # the tree the measurement starts from (edits made meanwhile are not its)
            entry = MEASUREMENTS[name](Path(tmp))
            entry.update(date=datetime.date.today().isoformat(), **version)
            record["measured"][name] = entry
            print(f"{name}: {entry['seconds']} s (exit {entry['exit']}) {entry['last_line']}", flush=True)
            path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
