"""Each student notebook opens in Colab: badges on top, then a first code cell that does nothing
elsewhere and, in Colab, clones the repository, installs the helpers without touching what the
runtime has, and makes them importable in the running kernel. Offline, Colab is played by a fresh
virtual environment that sees this environment's packages (torch, pandas...) but not the helpers, a
kernel started outside the repository, a stand-in `google.colab` module, and a local clone of the
repository's committed HEAD as its address."""

import json
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from cifar_helpers.classroom import STUDENT_DIR
from cifar_helpers.colab import REF, badges, repository, setup_cell
from cifar_helpers.paths import REPO
from cifar_helpers.records import load_runs

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

NOTEBOOK = "04_comparison.ipynb"  # it loads the shipped runs before its first exercise (02: after)
FAKE_COLAB = """\
import importlib.util, sys, types
assert importlib.util.find_spec("cifar_helpers") is None, "the helpers are visible before the Colab cell"
sys.modules["google.colab"] = types.ModuleType("google.colab")"""


def test_each_student_notebook_opens_in_colab_and_its_cell_does_nothing_elsewhere(monkeypatch):
    address = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
    colab = f"https://colab.research.google.com/github/{address.removeprefix('https://github.com/')}"
    assert "google.colab" not in sys.modules
    cells = []
    for notebook in sorted((REPO / STUDENT_DIR).glob("*.ipynb")):
        nb = nbformat.read(notebook, as_version=4)
        top, code = nb.cells[0].source, [c.source for c in nb.cells if c.cell_type == "code"]
        assert badges(notebook.name) in top and f"({colab}/blob/{REF}/student/{notebook.name})" in top
        assert ("GPU runtime" in top) == ("\nreuse = " in f"\n{code[1]}"), notebook.name  # where it trains
        assert code[0] == setup_cell() and f'"{repository()}"' in code[0], notebook.name
        cells.append(code[0])
    started = []
    monkeypatch.setattr(subprocess, "Popen", lambda *args, **kwargs: started.append(args))
    path, modules = list(sys.path), set(sys.modules)
    for cell in cells:
        exec(cell, {})
    assert started == [] and sys.path == path and set(sys.modules) == modules


def _run(*command) -> str:
    return subprocess.run([str(c) for c in command], check=True, capture_output=True, text=True).stdout


def _colab_like_python(tmp_path) -> tuple[Path, str]:
    """A fresh virtual environment that sees this one's packages but not the helpers (their
    editable install is left out): its python, and its own site-packages."""
    venv, shared = tmp_path / "venv", tmp_path / "shared"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    shared.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if "cifar_helpers" not in entry.name:
            (shared / entry.name).symlink_to(entry)
    own = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    # addsitedir, not a plain path: the shared packages' own .pth files run too
    (Path(own) / "shared.pth").write_text(f"import site; site.addsitedir({str(shared)!r})\n")
    return python, own


def _kernel(tmp_path, python) -> KernelManager:
    """A kernel run by `python`, its pip kept from any index: an install that wanted more than the
    helpers fails here rather than downloading."""
    spec = tmp_path / "kernels" / "colab-like"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab-like", "language": "python", "env": {"PIP_NO_INDEX": "1"}}))
    return KernelManager(kernel_name="colab-like",
                         kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec.parent)]))


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_in_colab_the_cell_installs_the_helpers_and_the_notebook_runs_to_its_first_exercise(tmp_path, monkeypatch):
    origin, content = tmp_path / "origin", tmp_path / "content"  # /content is Colab's working folder
    _run("git", "clone", "--quiet", REPO, origin)
    _run("git", "-C", origin, "checkout", "--quiet", "-B", REF)  # the branch the cell fetches
    content.mkdir()
    python, own_site = _colab_like_python(tmp_path)
    monkeypatch.delenv("PYTHONPATH", raising=False)  # the kernel must not find the helpers of this checkout

    nb = nbformat.read(origin / STUDENT_DIR / NOTEBOOK, as_version=4)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    # the first exercise's test cell: it calls the unanswered exercise
    exercise = next(i for i in code if nb.cells[i].metadata.get("nbgrader", {}).get("grade"))
    assert nb.cells[code[0]].source == setup_cell(), "the test clones HEAD: commit student/ first"
    assert exercise > code[0]
    nb.cells[code[0]].source = setup_cell(f"file://{origin}", str(content / "cifar-notebooks"))
    nb.cells = [nbformat.v4.new_code_cell(FAKE_COLAB), *nb.cells[:exercise + 1],
                nbformat.v4.new_code_cell("import cifar_helpers.paths\nprint(cifar_helpers.paths.REPO)")]
    NotebookClient(nb, km=_kernel(tmp_path, python), timeout=180, allow_errors=True,
                   resources={"metadata": {"path": str(content)}}).execute()

    errors = [(i, o.ename) for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert errors == [(exercise + 1, "NotImplementedError")], [o for c in nb.cells for o in c.get("outputs", [])]
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    shipped = load_runs(origin / "results")  # what the notebook loads locally
    loaded = re.search(r"(\d+) run records, (\d+) complete", text)
    assert loaded and loaded.groups() == (str(len(shipped)), str((shipped["status"] == "complete").sum()))
    assert len(shipped) > 0 and text.rstrip().endswith(str(content / "cifar-notebooks"))
    installed = json.loads(_run(python, "-m", "pip", "list", "--path", own_site, "--format", "json"))
    assert [p["name"] for p in installed] == ["cifar-helpers"]  # Colab's torch, pandas... left as they are


def test_the_runtime_dependencies_are_what_colab_already_has():
    """The Colab cell installs the helpers with their dependencies: each must be one a Colab runtime
    has preinstalled, or pip would change Colab's own (its ipywidgets is an older one, pinned for
    its widgets: ipywidgets is the course's, not the runtime's)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    preinstalled = {"torch", "torchvision", "numpy", "matplotlib", "seaborn", "pandas", "scipy", "tqdm", "filelock",
                    "tomli", "pillow"}
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!;\[ ]", d, maxsplit=1)[0].lower() for d in dependencies}
    assert names <= preinstalled, names - preinstalled
