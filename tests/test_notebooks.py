"""Every notebook runs headless with small parameters (papermill), its checked outputs still
match (nbval), and the committed copies carry no stale outputs."""

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest

from conftest import NOTEBOOKS, PHOTO, small_parameters

from cifar_helpers.notebook_outputs import problems
from cifar_helpers.paths import REPO


def test_there_are_five_numbered_notebooks():
    assert [n.name[:2] for n in NOTEBOOKS] == ["01", "02", "03", "04", "05"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_is_clean(notebook):
    nb = nbformat.read(notebook, as_version=4)
    assert problems(nb) == []
    parameters = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(parameters) == 1
    # Plain literals only: papermill and readers can see every value.
    for line in parameters[0].source.splitlines():
        code = line.split("#")[0].strip()
        if code:
            name, value = (part.strip() for part in code.split("=", 1))
            __import__("ast").literal_eval(value)


def test_series_executes_headless(executed_series):
    """01-05 in order, as the main job runs them, with a non-default lr injected."""
    tmp_path = executed_series
    for notebook in NOTEBOOKS:
        nb = nbformat.read(tmp_path / notebook.name, as_version=4)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
        assert errors == [], notebook.name
    records = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*/record.json")]
    assert {(r["config"]["model"], r["config"]["lr"]) for r in records} == {
        ("lenet5", 0.003), ("lenet5-original", 0.003), ("own-network", 0.003), ("whitened-net-small", 0.003)}
    # Runs trained here keep their figures beside their records, and a comparison of them goes with
    # them; figures_dir gets the data's figure and the one drawn from shipped runs (the ablation).
    figures = [p for folder in ("asset", "runs") for p in (tmp_path / folder).rglob("*.png")]  # not the site's
    assert {str(p.relative_to(tmp_path)) for p in figures} == {
        "asset/cifar.png", "asset/ablation.png", "runs/comparison.png", "runs/lenet5_lr3e-3_e1_s0_n500/lenet5_3e-3.png",
        "runs/lenet5-original_lr3e-3_e1_s0_n500/lenet5-original_3e-3.png",
        "runs/own-network_lr3e-3_e1_s0_n500/own-network_3e-3.png",
        "runs/whitened-net-small_lr3e-3_e1_s0_n500/whitened-net-small.png"}


def test_bad_parameter_fails_in_the_first_cell_after_parameters(cifar, tmp_path):
    notebook = REPO / "notebooks" / "02_lenet5.ipynb"
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cases = [(dict(lr="abc"), "ConfigError", "lr"), (dict(epochs=-3), "ConfigError", "epochs"),
             (dict(runs_dir=str(blocker / "runs")), "RunsFolderError", "Cannot write into")]
    for bad, error, words in cases:
        with pytest.raises(papermill.PapermillExecutionError) as info:
            papermill.execute_notebook(str(notebook), str(tmp_path / "out.ipynb"),
                                       parameters=dict(small_parameters(notebook, tmp_path), **bad),
                                       kernel_name="python3", cwd=str(REPO), progress_bar=False)
        assert info.value.ename == error and words in info.value.evalue
        nb = nbformat.read(tmp_path / "out.ipynb", as_version=4)
        code_cells = [c for c in nb.cells if c.cell_type == "code"]
        failing = [i for i, c in enumerate(code_cells) if any(o.output_type == "error" for o in c.outputs)]
        # parameters, injected parameters, then the check
        assert failing == [2]


def test_nbval_checks_the_committed_outputs(cifar, tmp_path):
    for notebook in NOTEBOOKS:
        papermill.execute_notebook(str(notebook), str(tmp_path / notebook.name), prepare_only=True,
                                   parameters=small_parameters(notebook, tmp_path), kernel_name="python3")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
         "--nbval-current-env", "--rootdir", str(tmp_path), *sorted(str(p) for p in tmp_path.glob("*.ipynb"))],
        cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


# The doors of the default parameters: from the repository root, test_series_executes_headless and
# test_experiments_leave_tree_clean.test_the_main_job_draws_the_shipped_runs_into_asset; from another
# folder, with relative output paths, the nbgrader course's autograde (test_classroom: every shipped run
# loaded, nothing trained); from notebooks/, the browser test's Run All.


def _executed_copy(tmp_path: Path) -> Path:
    """Notebook 02 as an execution leaves it: outputs everywhere, papermill's metadata and its
    injected-parameters cell."""
    nb = nbformat.read(REPO / "notebooks" / "02_lenet5.ipynb", as_version=4)
    nb.metadata["papermill"] = {"parameters": {"lr": 0.01}}
    for cell in nb.cells:
        if cell.cell_type == "code" and "nbval-check-output" not in cell.metadata.get("tags", []):
            cell.outputs = [nbformat.v4.new_output("stream", text="stale\n")]
            cell.execution_count = 3
    nb.cells.insert(2, nbformat.v4.new_code_cell("lr = 0.01", metadata={"tags": ["injected-parameters"]}))
    path = tmp_path / "notebooks" / "02_lenet5.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    return path


def test_strip_outputs_and_the_git_filter_keep_only_what_nbval_checks(tmp_path):
    from cifar_helpers.notebook_outputs import install_git_filter

    committed = nbformat.read(REPO / "notebooks" / "02_lenet5.ipynb", as_version=4)
    checked = [c.outputs for c in committed.cells if "nbval-check-output" in c.metadata.get("tags", [])]
    path = _executed_copy(tmp_path)
    assert problems(nbformat.read(path, as_version=4))
    # By hand: the strip-outputs command.
    result = subprocess.run([sys.executable, "-m", "cifar_helpers", "strip-outputs", str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    stripped = nbformat.read(path, as_version=4)
    assert problems(stripped) == [] and [c.id for c in stripped.cells] == [c.id for c in committed.cells]
    assert [c.outputs for c in stripped.cells if "nbval-check-output" in c.metadata.get("tags", [])] == checked
    # By git: a clone with the filter installed commits the stripped notebook whatever the file holds.
    path = _executed_copy(tmp_path / "clone")
    repo = path.parent.parent
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".gitattributes").write_text((REPO / ".gitattributes").read_text())
    install_git_filter(str(repo))
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    staged = subprocess.run(["git", "-C", str(repo), "show", ":notebooks/02_lenet5.ipynb"], check=True,
                            capture_output=True, text=True).stdout
    assert problems(nbformat.reads(staged, as_version=4)) == []
    assert problems(nbformat.read(path, as_version=4))  # the working file keeps its outputs


def test_notebook_03_classifies_the_photo_its_parameters_name(executed_series, cifar):
    """Under papermill, `-p photo PATH` (here a test image blown up 3x): the cell prints each shipped
    network's answer for that file, PyTorch's, and draws one figure; the upload button follows."""
    from cifar_helpers.shipped import class_probabilities, load_networks

    cells = nbformat.read(executed_series / "03_own_network.ipynb", as_version=4).cells
    index = next(i for i, c in enumerate(cells) if c.source.startswith("from cifar_helpers.photos import"))
    outputs = cells[index].outputs
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    for name, run in load_networks().items():
        p = class_probabilities(run, cifar.test_images[PHOTO][None], cifar)[0]
        assert f"{name}: {cifar.classes[int(p.argmax())]} ({100 * p.max():.0f}%)" in printed
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 1
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in cells[index + 1].outputs)
