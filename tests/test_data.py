import time

import numpy as np
import pytest
import torch

from cifar_helpers import DatasetError, balanced_subset, load_cifar10
from cifar_helpers.batches import Batches, crop_and_flip
from cifar_helpers.data import CLASSES, IMAGENET_STATS, channel_stats
from cifar_helpers.errors import ConfigError

from conftest import write_batch


def test_real_copy_loads_whole_and_fast(cifar):
    assert cifar.train_images.shape == (50000, 3, 32, 32)
    assert cifar.test_images.shape == (10000, 3, 32, 32)
    assert cifar.train_images.dtype == torch.uint8 and cifar.train_labels.dtype == torch.int64
    assert cifar.classes == CLASSES
    assert torch.bincount(cifar.train_labels).tolist() == [5000] * 10
    assert torch.bincount(cifar.test_labels).tolist() == [1000] * 10
    # The order matches the official files (see the data folder's README).
    assert cifar.train_labels[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert cifar.test_labels[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    assert cifar.train_images[0, 0, 0, :10].tolist() == [59, 43, 50, 68, 98, 119, 139, 145, 149, 149]
    started = time.perf_counter()
    load_cifar10(cifar.source)
    print(f"load_cifar10 took {time.perf_counter() - started:.2f}s")


def test_cifar10_statistics_come_from_the_data(cifar):
    mean, std = cifar.normalization("cifar10")
    assert np.round(mean, 4).tolist() == [0.4914, 0.4822, 0.4465]
    assert np.round(std, 4).tolist() == [0.2470, 0.2435, 0.2616]
    assert cifar.normalization("imagenet") == IMAGENET_STATS


def test_channel_stats_is_exact_on_small_images():
    images = torch.randint(0, 256, (50, 3, 8, 8), dtype=torch.uint8)
    mean, std = channel_stats(images)
    as_float = images.double() / 255
    assert np.allclose(mean, as_float.mean(dim=(0, 2, 3)).numpy(), atol=1e-12)
    assert np.allclose(std, as_float.std(dim=(0, 2, 3), unbiased=False).numpy(), atol=1e-12)


def test_unknown_normalization_lists_the_valid_names(fake_cifar):
    data = load_cifar10(fake_cifar)
    with pytest.raises(ConfigError, match="'cifar10'.*'imagenet'|cifar10, imagenet"):
        data.normalization("mnist")


def test_env_var_may_name_the_folder_or_its_parent(fake_cifar, monkeypatch):
    monkeypatch.setenv("CIFAR10_ROOT", str(fake_cifar.parent))
    assert load_cifar10().source == str(fake_cifar)
    monkeypatch.setenv("CIFAR10_ROOT", str(fake_cifar))
    assert load_cifar10().source == str(fake_cifar)


def test_missing_data_names_every_place_and_both_fixes(tmp_path, monkeypatch):
    monkeypatch.setattr("cifar_helpers.data.REPO_DATA", tmp_path / "repo-data")
    with pytest.raises(DatasetError) as info:
        load_cifar10(tmp_path / "nowhere")
    message = str(info.value)
    assert str(tmp_path / "nowhere" / "cifar-10-batches-py") in message
    assert str(tmp_path / "repo-data" / "cifar-10-batches-py") in message
    assert "CIFAR10_ROOT" in message and "download=True" in message
    assert "\n" not in message


def test_truncated_file_is_named(fake_cifar):
    path = fake_cifar / "data_batch_3"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DatasetError, match="data_batch_3.*cannot be unpickled") as info:
        load_cifar10(fake_cifar)
    assert "CIFAR10_ROOT" in str(info.value)


def test_wrong_shape_is_named(fake_cifar):
    write_batch(fake_cifar / "test_batch", np.zeros((10000, 1024), np.uint8), [0] * 10000)
    with pytest.raises(DatasetError, match=r"test_batch.*uint8 \(10000, 3072\).*\(10000, 1024\)"):
        load_cifar10(fake_cifar)


def test_bad_labels_and_missing_file_are_named(fake_cifar):
    write_batch(fake_cifar / "data_batch_2", np.zeros((10000, 3072), np.uint8), [12] * 10000)
    with pytest.raises(DatasetError, match="data_batch_2.*labels"):
        load_cifar10(fake_cifar)
    (fake_cifar / "data_batch_2").unlink()
    with pytest.raises(DatasetError, match="data_batch_2.*missing"):
        load_cifar10(fake_cifar)


def test_unbalanced_split_is_reported(fake_cifar):
    write_batch(fake_cifar / "data_batch_1", np.zeros((10000, 3072), np.uint8), [0] * 10000)
    with pytest.raises(DatasetError, match="training split.*class counts"):
        load_cifar10(fake_cifar)


def test_balanced_subset_is_balanced_and_deterministic():
    labels = torch.arange(10).repeat(500)[torch.randperm(5000)]
    picked = balanced_subset(labels, 2000)
    assert len(picked) == 2000 and len(set(picked.tolist())) == 2000
    assert torch.bincount(labels[picked]).tolist() == [200] * 10
    assert torch.equal(picked, balanced_subset(labels, 2000))
    assert torch.bincount(labels[balanced_subset(labels, 25)]).tolist() == [3] * 5 + [2] * 5


def test_batches_normalize_and_shuffle():
    images = torch.randint(0, 256, (100, 3, 32, 32), dtype=torch.uint8)
    labels = torch.arange(100)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    plain = Batches(images, labels, 32, mean, std, torch.device("cpu"))
    x, y = next(iter(plain))
    expected = (images[:32].float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    assert torch.allclose(x, expected, atol=1e-5) and torch.equal(y, labels[:32])
    assert len(plain) == 4 and sum(len(b[1]) for b in plain) == 100
    gen = torch.Generator().manual_seed(0)
    shuffled = Batches(images, labels, 32, mean, std, torch.device("cpu"), shuffle=True, generator=gen)
    first = torch.cat([b[1] for b in shuffled])
    second = torch.cat([b[1] for b in shuffled])
    assert sorted(first.tolist()) == list(range(100))
    assert not torch.equal(first, labels) and not torch.equal(first, second)


def test_crop_and_flip_moves_whole_images():
    x = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).view(2, 3, 32, 32) + 1
    out = crop_and_flip(x, torch.Generator().manual_seed(1))
    assert out.shape == x.shape
    for i in range(2):
        # Every non-padding pixel of a crop is a pixel of the same image.
        values = set(out[i][out[i] > 0].tolist())
        assert values <= set(x[i].flatten().tolist())
        assert len(values) >= 3 * 24 * 24
