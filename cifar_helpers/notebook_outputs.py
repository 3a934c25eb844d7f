"""Keep committed notebooks clean: no outputs but those nbval compares.

Cells tagged `nbval-check-output` (dataset counts, layer shapes, parameter counts) keep their
output, which nbval checks on every test run; every other output is stale the moment a parameter
changes, so it is removed. Run `python -m cifar_helpers strip-outputs notebooks/*.ipynb` after
executing a notebook to refresh the checked outputs.
"""

from __future__ import annotations

CHECKED = "nbval-check-output"


def strip(nb) -> None:
    """Remove in place every output and execution count but those of checked cells."""
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)  # progress-bar widget state from an executed run
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        if CHECKED not in cell.metadata.get("tags", []):
            cell.outputs = []
            cell.execution_count = None
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]


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
        if cell.cell_type == "code" and CHECKED not in tags and (cell.outputs or cell.execution_count):
            found.append(f"cell {i} has stale outputs")
        if cell.cell_type == "code" and CHECKED in tags and not cell.outputs:
            found.append(f"cell {i} is checked by nbval but has no committed output")
    return found


def main(paths: list[str]) -> int:
    import nbformat

    for path in paths:
        nb = nbformat.read(path, as_version=4)
        strip(nb)
        nbformat.write(nb, path)
        print(f"cleaned {path}")
    return 0
