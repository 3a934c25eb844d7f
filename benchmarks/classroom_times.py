"""How long the exercises take: each teacher notebook executed with its default parameters (the
shipped runs loaded, figures and runs sent to a temporary folder) through papermill, as a student's
Run All or nbgrader's autograde runs it; each exercise's answer and test cells timed from
papermill's cell durations, and the whole notebook. Run alone on the machine.
Results: benchmarks/results/classroom_times.json and .md (cited in docs/teachers.md)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402
import papermill  # noqa: E402

from cifar_helpers.classroom import teacher_notebooks  # noqa: E402
from cifar_helpers.device import code_version, machine  # noqa: E402


def time_notebook(notebook: Path, tmp: Path) -> dict:
    parameters = {"figures_dir": str(tmp / "asset")}
    if notebook.name[:2] in ("02", "03", "05"):
        parameters["runs_dir"] = str(tmp / "runs")
    executed = tmp / notebook.name
    papermill.execute_notebook(str(notebook), str(executed), parameters=parameters, kernel_name="python3",
                               cwd=str(ROOT / "notebooks"), progress_bar=False)
    nb = nbformat.read(executed, as_version=4)
    exercises = {}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if cell.cell_type == "code" and grade_id:
            number = grade_id.removesuffix("-tests").removeprefix("ex").replace("-", ".")
            exercises[number] = exercises.get(number, 0.0) + cell.metadata["papermill"]["duration"]
    return {"notebook_seconds": nb.metadata["papermill"]["duration"], "exercise_seconds": exercises}


def write(results: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "classroom_times.json").write_text(json.dumps(results, indent=1) + "\n")
    m = results["machine"]
    lines = [f"# Exercise times ({m['device_name']}, {m['isa']}, {m['precision']}, {m['threads']} threads)", "",
             "Seconds of each exercise's answer and test cells (teacher's version), and of the whole notebook "
             "with its default parameters (papermill, kernel start excluded).", "",
             "| notebook | exercises (s) | whole notebook (s) |", "| --- | --- | --- |"]
    for name, timing in results["notebooks"].items():
        exercises = ", ".join(f"{n}: {s:.2f}" for n, s in timing["exercise_seconds"].items())
        lines.append(f"| {name} | {exercises} | {timing['notebook_seconds']:.1f} |")
    (out / "classroom_times.md").write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    os.environ["CIFAR_PROGRESS"] = "text"
    results = {"machine": machine(), **code_version(), "notebooks": {}}
    with tempfile.TemporaryDirectory(prefix="classroom-times-") as tmp:
        for notebook in teacher_notebooks():
            results["notebooks"][notebook.name] = time_notebook(notebook, Path(tmp))
            print(notebook.name, results["notebooks"][notebook.name], flush=True)
    write(results, Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
