"""Keep committed notebooks clean: no outputs but those nbval compares, done by nbstripout.

Cells tagged `nbval-check-output` (dataset counts, layer shapes, parameter counts) keep their
output, which nbval checks on every test run; they also carry nbstripout's `keep_output` tag, so
the stripper keeps what nbval checks. Every other output is stale the moment a parameter changes,
and is removed, with papermill's injected parameters and metadata. `python -m cifar_helpers
strip-outputs notebooks/*.ipynb` strips files by hand; `strip-outputs --install-git-filter` (run by
`tasks.py` when it sets up a clone) makes git strip them at every `git add`, so executed outputs
never reach a commit by accident.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

CHECKED = "nbval-check-output"  # nbval compares this cell's output
KEEP = "keep_output"  # nbstripout keeps this cell's output
# nbstripout's settings beyond its defaults: cell ids stay (the notebooks' links and tests name
# them), papermill's metadata and injected-parameters cells go.
NBSTRIPOUT = ["--keep-id", "--extra-keys", "metadata.papermill cell.metadata.papermill",
              "--drop-tagged-cells", "injected-parameters"]


def strip_text(text: str) -> str:
    """A notebook (its JSON) as nbstripout strips it, its checked cells then numbered 1, 2, ...:
    nbval runs only cells with an execution count, and nbstripout removes every count."""
    import nbformat

    stripped = subprocess.run([sys.executable, "-m", "nbstripout", *NBSTRIPOUT], input=text, capture_output=True,
                              text=True, check=True).stdout
    nb = nbformat.reads(stripped, as_version=4)
    for count, cell in enumerate((c for c in nb.cells if KEEP in c.metadata.get("tags", [])), 1):
        cell.execution_count = count
    return nbformat.writes(nb) + "\n"


def install_git_filter(repo: str = ".") -> None:
    """Configure, in this clone's git config, the `nbstripout` filter that .gitattributes names for
    notebooks/*.ipynb (git keeps filter commands out of the repository, so each clone sets its own)."""
    clean = f'"{sys.executable}" -m cifar_helpers strip-outputs --filter'
    for key, value in (("filter.nbstripout.clean", clean), ("filter.nbstripout.smudge", "cat")):
        subprocess.run(["git", "-C", repo, "config", key, value], check=True)


def problems(nb) -> list[str]:
    """What keeps a notebook from being committed as it is."""
    found = []
    if nb.metadata.get("kernelspec", {}).get("name") != "python3":
        found.append("kernel is not python3")
    if "widgets" in nb.metadata or "papermill" in nb.metadata:
        found.append("metadata holds an executed run's widget or papermill state")
    for i, cell in enumerate(nb.cells):
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags:
            found.append(f"cell {i} holds papermill's injected parameters")
        if (CHECKED in tags) != (KEEP in tags):
            found.append(f"cell {i} has one of the tags {CHECKED} and {KEEP} without the other")
        if cell.cell_type == "code" and CHECKED not in tags and (cell.outputs or cell.execution_count):
            found.append(f"cell {i} has stale outputs")
        if cell.cell_type == "code" and CHECKED in tags and not cell.outputs:
            found.append(f"cell {i} is checked by nbval but has no committed output")
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m cifar_helpers strip-outputs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*")
    parser.add_argument("--install-git-filter", action="store_true",
                        help="make git strip notebooks at every `git add` in this clone")
    parser.add_argument("--filter", action="store_true", help="strip the notebook on stdin to stdout (git's filter)")
    args = parser.parse_args(argv)
    if args.install_git_filter:
        install_git_filter()
    if args.filter:
        sys.stdout.write(strip_text(sys.stdin.read()))
    for path in map(Path, args.notebooks):
        path.write_text(strip_text(path.read_text()))
        print(f"cleaned {path}")
    return 0
