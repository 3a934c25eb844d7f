"""A run's figures belong to the run: an experiment (any setting but a shipped run's) draws its
figures beside its run record, titled with what it is, and leaves asset/ and every committed
file as they are, whichever folder the kernel starts in. asset/ gets figures of shipped runs."""

import shutil
import subprocess
from pathlib import Path

import nbformat
import papermill
import pytest

from cifar_helpers import TrainConfig, find_run, format_lr, load_run, plots, series
from cifar_helpers.paths import REPO
from cifar_helpers.training import Run

# As conftest.SMALL: seconds a run.
EXPERIMENT = dict(epochs=1, subset=500, test_subset=500, batch_size=256)


def _git(*args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, check=True).stdout


def committed_state():
    """What an experiment must not change: the tracked files' status and contents (their diff
    against HEAD, so that a file already edited by hand counts too) and every file under asset/."""
    return (_git("status", "--porcelain", "--untracked-files=no"), _git("diff", "--binary", "HEAD"),
            {p.relative_to(REPO): p.read_bytes() for p in (REPO / "asset").rglob("*") if p.is_file()})


@pytest.fixture
def git_checkout():
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")


def test_experiments_from_either_door_leave_the_committed_files_alone(cifar, git_checkout, tmp_path):
    """The issue's case (02 at the default lr 1e-3, whose figures' names are asset/'s) from the
    repository root, and 03 at another lr, reuse on (nothing to reuse), from notebooks/ as
    JupyterLab starts it."""
    runs_dir = tmp_path / "runs"
    cases = [("02_lenet5.ipynb", "root", dict(lr=1e-3, reuse=False, loop_images=256, loop_epochs=1)),
             ("03_own_network.ipynb", "notebooks", dict(lr=3e-3, reuse=True))]
    before = committed_state()
    for notebook, door, parameters in cases:
        output = tmp_path / notebook
        papermill.execute_notebook(str(REPO / "notebooks" / notebook), str(output), kernel_name="python3",
                                   cwd=str(REPO if door == "root" else REPO / door), progress_bar=False,
                                   parameters=dict(EXPERIMENT, **parameters, runs_dir=str(runs_dir)))
        text = "".join(o.get("text", "") for c in nbformat.read(output, as_version=4).cells
                       if c.cell_type == "code" for o in c.outputs)
        assert "Loading the finished run" not in text and "beside the run: asset keeps" in text, notebook
    assert committed_state() == before
    figures = sorted(str(p.relative_to(runs_dir)) for p in runs_dir.rglob("*.png"))
    assert figures == ["lenet5-original_lr1e-3_e1_s0_n500/lenet5-original_1e-3.png",
                       "lenet5_lr1e-3_e1_s0_n500/lenet5_1e-3.png", "own-network_lr3e-3_e1_s0_n500/own-network_3e-3.png"]
    assert not (REPO / "notebooks" / "runs").exists() and not (REPO / "notebooks" / "asset").exists()


def test_the_main_job_draws_the_shipped_runs_into_asset(tmp_path):
    """Notebooks 02 and 03 as the main job runs them by default find their shipped run, so their
    figures go to figures_dir (asset/, which the pages in docs/ show) under their usual names."""
    figures_dir = tmp_path / "asset"
    steps = [s for s in series.plan(tmp_path / "records", figures_dir, quick=False, reuse=True)
             if s.notebook[:2] in ("02", "03")]
    assert len(steps) == 4
    for step in steps:
        p = step.parameters
        config = TrainConfig(model=p["model"], lr=p["lr"], epochs=p["epochs"], seed=p["seed"], normalization="imagenet")
        found = find_run(["results", p["runs_dir"]], config)
        assert found is not None and plots.shipped(found), step.output
        name = f"{p['model']}_{format_lr(p['lr'])}.png"
        assert plots.figure_path(name, p["figures_dir"], load_run(found, with_model=False)) == figures_dir / name


def _run(folder: Path, **config) -> Run:
    return Run(record={"config": TrainConfig(**config).to_dict()}, model=None, path=folder)


def test_figure_path_and_title_of_shipped_runs_and_experiments(tmp_path):
    shipped = load_run(REPO / "results" / "lenet5_lr1e-3_e40_s0", with_model=False)
    experiment = _run(tmp_path / "runs" / "lenet5_lr1e-3_e1_s1_n2000", epochs=1, subset=2000, seed=1)
    asset = REPO / "asset"
    assert plots.shipped(shipped) and plots.shipped("results/sweep/lenet5_lr1e-3_e40_s0")
    assert not plots.shipped(experiment) and not plots.shipped(tmp_path / "results" / "x")
    assert plots.figure_path("lenet5_1e-3.png", "asset", shipped) == asset / "lenet5_1e-3.png"
    assert plots.figure_path("lenet5_1e-3.png", "asset", experiment) == experiment.path / "lenet5_1e-3.png"
    # A figure of several runs: asset/ only when all are shipped; else with the first that is not.
    assert plots.figure_path("comparison.png", "asset", [shipped, shipped]) == asset / "comparison.png"
    assert plots.figure_path("comparison.png", "asset", [shipped, experiment]) == tmp_path / "runs" / "comparison.png"
    assert plots.run_title(shipped, "lenet5, lr=1e-3") == "lenet5, lr=1e-3"
    assert plots.run_title(experiment, "lenet5, lr=1e-3") == "lenet5, lr=1e-3 (1 epoch, 2,000 training images, seed 1)"
    full = _run(tmp_path / "runs" / "again", epochs=40, test_subset=500)
    assert plots.run_title(full, "t") == "t (40 epochs, 500 test images, seed 0)"


def test_the_dataset_grid_goes_to_asset_only_with_the_readmes_settings(tmp_path):
    import matplotlib.pyplot as plt

    fig = plt.figure()
    shown = plots.save_image_grid(fig, tmp_path / "asset", experiments_dir=tmp_path / "runs", **plots.SHOWN_GRID)
    other = plots.save_image_grid(fig, tmp_path / "asset", per_class=4, seed=1, experiments_dir=tmp_path / "runs")
    plt.close(fig)
    assert shown == tmp_path / "asset" / "cifar.png" and other == tmp_path / "runs" / "cifar_4-per-class_seed-1.png"
    assert sorted(p.name for p in (tmp_path / "asset").iterdir()) == ["cifar.png"]
