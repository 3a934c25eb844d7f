"""How the code is laid out (docs/maintainers.md, 'How the code is laid out'): each module imports only from
layers below its own, so there is no circle; functions stay short; the run record's file names
are written in records.py alone."""

import ast

from cifar_helpers.paths import REPO

PACKAGE = REPO / "cifar_helpers"
# Lowest first. A module may import (at the top or inside a function) only from earlier layers.
LAYERS = [
    ["errors", "paths", "batches", "show", "notebook_outputs"],   # no import of the package
    ["validate", "command", "models", "data", "colab", "photos", "live"],  # checks, exit codes, networks, data,
    # badges, a reader's photo, the live learning curve
    ["device", "records", "flags", "config", "evaluate"],          # where, run folders, the configuration
    ["original", "recipe", "optim"],                               # named configurations, the optimizer
    ["training"],                                                  # fit and its loop
    ["shipped"],                                                   # the shipped networks a reader tries
    ["lr_range", "plots", "runner", "classroom", "exercises", "try_page"],  # on training / notebooks; autograders;
    # the try page's networks and images
    ["site"],                                                      # the website
    ["reproduce", "series", "sweep"],                              # jobs: they write records
    ["tables"],                                                    # reports: they read records
    ["cli", "__init__"],                                           # entry points
    ["__main__"],                                                  # python -m cifar_helpers: the cli
]
LAYER = {module: i for i, layer in enumerate(LAYERS) for module in layer}


def _trees():
    return {path.stem: ast.parse(path.read_text()) for path in sorted(PACKAGE.glob("*.py"))}


def _imports(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cifar_helpers."):
            found.add(node.module.split(".")[1])
    return found


def test_every_module_has_a_layer():
    assert sorted(_trees()) == sorted(LAYER)


def test_imports_only_go_down_a_layer():
    upward = [f"{module} (layer {LAYER[module]}) imports {other} (layer {LAYER[other]})"
              for module, tree in _trees().items() for other in sorted(_imports(tree) - {module})
              if LAYER[other] >= LAYER[module]]
    assert upward == []


def test_no_function_is_longer_than_60_lines():
    long = [f"{module}.{node.name}: {node.end_lineno - node.lineno + 1} lines"
            for module, tree in _trees().items() for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60]
    assert long == []


def test_the_record_file_names_are_written_in_records_py_alone():
    for path in [*PACKAGE.glob("*.py"), *REPO.glob("benchmarks/*.py"), *REPO.glob("scripts/*.py")]:
        if path.name != "records.py":
            text = path.read_text()
            assert '"record.json"' not in text and '"checkpoint.pt"' not in text, path
