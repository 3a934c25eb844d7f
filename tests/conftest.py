"""Shared fixtures: the real CIFAR-10 copy when one is found, and fake copies the tests build."""

import pickle
from pathlib import Path

import numpy as np
import pytest

from cifar_helpers import DatasetError, load_cifar10
from cifar_helpers.data import CLASSES, META_FILE, TEST_FILE, TRAIN_FILES


@pytest.fixture(scope="session")
def cifar():
    """The real data set ($CIFAR10_ROOT or data/); .ci/run points CIFAR10_ROOT at the shared copy."""
    try:
        return load_cifar10()
    except DatasetError as exc:
        pytest.skip(f"no CIFAR-10 copy here: {exc}")


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
