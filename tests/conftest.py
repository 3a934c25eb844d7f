"""Shared fixtures: the real CIFAR-10 copy when one is found, and fake copies the tests build."""

import pickle
from pathlib import Path

import numpy as np
import pytest

from cifar_helpers import DatasetError, load_cifar10
from cifar_helpers.data import CLASSES, META_FILE, TEST_FILE, TRAIN_FILES
from cifar_helpers.paths import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
# The slow tier (`tasks.py test --fast` leaves it out): whole modules that execute notebooks, drive
# a browser, build the course or the site, or start Dask; and any test that needs the executed series.
SLOW_MODULES = {"test_browser", "test_notebooks", "test_classroom", "test_sweep", "test_site", "test_series",
                "test_try_page", "test_experiments_leave_tree_clean", "test_figures", "test_device_check"}
SLOW_FIXTURES = {"executed_series", "built_site"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.module.__name__.rsplit(".", 1)[-1] in SLOW_MODULES or SLOW_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)
SMALL = dict(epochs=1, subset=500, test_subset=500, batch_size=256)


@pytest.fixture(scope="session")
def cifar():
    """The real data set ($CIFAR10_ROOT or data/); .ci/run points CIFAR10_ROOT at the shared copy."""
    try:
        return load_cifar10()
    except DatasetError as exc:
        pytest.skip(f"no CIFAR-10 copy here: {exc}")


def small_parameters(notebook: Path, tmp: Path, lr: float = 0.003) -> dict:
    """Parameters that make a notebook quick: 1 epoch on 500 images, outputs under tmp."""
    if notebook.name.startswith("01"):
        return dict(figures_dir=str(tmp / "asset"))
    if notebook.name.startswith("04"):
        return dict(runs_dirs=[str(tmp / "runs")], sweep_dir=str(tmp / "sweep"), figures_dir=str(tmp / "asset"))
    small = dict(SMALL, lr=lr, reuse=False, runs_dir=str(tmp / "runs"), figures_dir=str(tmp / "asset"))
    if notebook.name.startswith("02"):  # the student's first run: two passes over 1,000 images
        small.update(loop_images=1000, loop_epochs=2)
    if notebook.name.startswith("05"):
        del small["batch_size"]  # the recipe's own
        small["model"] = "whitened-net-small"
    return small


@pytest.fixture(scope="session")
def executed_series(cifar, tmp_path_factory):
    """Notebooks 01-05 executed once, in order, from the repository root, with small parameters
    and a non-default lr: tests/test_notebooks.py checks them, the website is built from them.
    Every figure they draw is checked for readability as it is drawn (NAME.figures.jsonl beside
    each executed notebook; tests/test_figures.py)."""
    import papermill

    from readable import watch_figures

    folder = tmp_path_factory.mktemp("series")
    with watch_figures(tmp_path_factory.mktemp("figures")) as report:  # tests/test_figures.py reads it
        for notebook in NOTEBOOKS:
            parameters = small_parameters(notebook, folder)
            if notebook.name.startswith("03"):  # its last cell classifies the photo its parameters name
                parameters["photo"] = str(write_photo(cifar.test_images[PHOTO], folder / "photo.png"))
            papermill.execute_notebook(str(notebook), str(folder / notebook.name), parameters=parameters,
                                       kernel_name="python3", cwd=str(REPO), progress_bar=False)
            if report.exists():
                report.rename(folder / f"{notebook.stem}.figures.jsonl")
    return folder


PHOTO = 7  # the test image that stands in for a student's photo in notebook 03


def write_photo(image, path: Path) -> Path:
    """A test image (uint8, (3, 32, 32)) blown up 3x into a PNG, as a photo of a student's would be larger."""
    from PIL import Image

    Image.fromarray(image.permute(1, 2, 0).numpy()).resize((96, 96), Image.NEAREST).save(path)
    return path


@pytest.fixture(scope="session")
def built_site(executed_series):
    """The website of the executed series (its front page), built once for the site's tests and
    the browser's. Notebook 02 also stands in for a run at the original's other rate, as the main
    job makes one (a copy with lr 0.01 in papermill's record: no second execution)."""
    import nbformat

    from cifar_helpers import site

    nb = nbformat.read(executed_series / "02_lenet5.ipynb", as_version=4)
    nb.metadata["papermill"]["parameters"]["lr"] = 0.01
    nbformat.write(nb, executed_series / "02_lenet5_1e-2.ipynb")
    return site.build(executed_series)


def write_batch(path: Path, data, labels) -> None:
    with open(path, "wb") as f:
        pickle.dump({"batch_label": path.name, "data": data, "labels": list(labels),
                     "filenames": [f"{i}.png" for i in range(len(labels))]}, f, protocol=2)


def make_fake_cifar(root: Path) -> Path:
    """A structurally valid CIFAR-10 folder (zero pixels, balanced labels) under root."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    labels = np.tile(np.arange(10), 1000)
    for name in (*TRAIN_FILES, TEST_FILE):
        write_batch(folder / name, np.zeros((10000, 3072), np.uint8), labels)
    with open(folder / META_FILE, "wb") as f:
        pickle.dump({"label_names": list(CLASSES), "num_cases_per_batch": 10000, "num_vis": 3072}, f)
    return folder


@pytest.fixture
def fake_cifar(tmp_path):
    return make_fake_cifar(tmp_path / "data")
