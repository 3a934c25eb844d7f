"""CIFAR-10 as in-memory uint8 tensors: found locally, validated batch by batch, or downloaded.

A local copy is checked here (shape, dtype, labels, class balance) instead of by torchvision's md5
sums, because rebuilt but pixel-exact copies (like the one this project is tested on) have other
checksums. Without a checksum, a batch file could be any pickle, and a pickle can name any function
to call: the batches are read by an unpickler that knows only what the format needs (numpy arrays),
so a hostile file is refused instead of run. A download goes through torchvision and its checksums.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .errors import ConfigError, DatasetError
from .paths import REPO, project_path

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
REPO_DATA = REPO / "data"
# A download in progress; a folder of this name never passes for CIFAR-10.
DOWNLOADING = ".cifar-10-downloading-"

# The statistics the original experiment normalized with (ImageNet's, not CIFAR-10's).
IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
NORMALIZATIONS = ("cifar10", "imagenet")
# The validation split is drawn with its own fixed seed, not the run's: runs with different seeds
# hold out the same images, so their validation accuracies compare.
VALIDATION_SEED = 12345


@dataclass
class CIFAR10:
    """The whole data set: images uint8 (N, 3, 32, 32), labels int64 (N,), class names."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: tuple[str, ...] = CLASSES
    source: str = ""
    _stats: dict = field(default_factory=dict, repr=False)

    def split(self, name: str = "train", subset: int | None = None,
              val_size: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """(images, labels) of 'train', 'val' or 'test'. With `val_size`, 'val' is that many
        training images (class-balanced, the same ones for every run with this size) and 'train'
        the rest; `subset` keeps a class-balanced part of what is left (balanced_subset)."""
        if name == "test":
            images, labels = self.test_images, self.test_labels
        else:
            images, labels = self.train_images, self.train_labels
            if val_size:
                held_out = torch.zeros(len(labels), dtype=torch.bool)
                held_out[balanced_subset(labels, val_size, seed=VALIDATION_SEED)] = True
                keep = held_out if name == "val" else ~held_out
                images, labels = images[keep], labels[keep]
            elif name == "val":
                raise ConfigError("There is no validation split without val_size: pass val_size=5000 "
                                  "(for example) to hold out that many training images.")
        if subset:
            keep = balanced_subset(labels, subset)
            images, labels = images[keep], labels[keep]
        return images, labels

    def normalization(self, name: str = "cifar10") -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(mean, std) per channel on the [0, 1] scale, by name: 'cifar10' (from this training
        set) or 'imagenet' (the constants the original code used)."""
        if name not in NORMALIZATIONS:
            raise ConfigError(
                f"Unknown normalization {name!r}. Use one of {', '.join(NORMALIZATIONS)}: 'cifar10' "
                "uses the mean and std of the CIFAR-10 training images, 'imagenet' the ImageNet "
                "constants that the original experiment used."
            )
        if name == "imagenet":
            return IMAGENET_STATS
        if name not in self._stats:
            self._stats[name] = channel_stats(self.train_images)
        return self._stats[name]


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact per-channel mean and population std of uint8 images, on the [0, 1] scale.
    Computed from each channel's histogram of the 256 pixel values: exact and fast."""
    values = torch.arange(256, dtype=torch.float64)
    means, stds = [], []
    for c in range(images.shape[1]):
        counts = torch.bincount(images[:, c].reshape(-1), minlength=256).double()
        n = counts.sum()
        mean = (counts * values).sum() / n
        var = (counts * (values - mean) ** 2).sum() / n
        means.append(float(mean) / 255)
        stds.append(float(var.sqrt()) / 255)
    return tuple(means), tuple(stds)


def candidate_folders(root: str | os.PathLike | None = None) -> list[Path]:
    """Where CIFAR-10 is looked for, in order: `root`, else $CIFAR10_ROOT; then data/ in the repo.
    Each may be the folder holding cifar-10-batches-py/ or that folder itself; a relative path is
    taken from the repository root, wherever the kernel started."""
    places = []
    given = root if root is not None else os.environ.get("CIFAR10_ROOT")
    if given:
        given = project_path(given)
        places.append(given if given.name == FOLDER else given / FOLDER)
    places.append(REPO_DATA / FOLDER)
    return places


def locate_cifar10(root: str | os.PathLike | None = None, download: bool = False) -> Path:
    """The `cifar-10-batches-py` folder to read: the first local copy found (see
    candidate_folders), else, if `download`, a fresh one fetched through torchvision into the
    repo's data/ folder (or into `root`, when given). A copy found is never downloaded over."""
    places = candidate_folders(root)
    found = next((p for p in places if p.is_dir()), None)
    if found is not None:
        return found
    looked = "; ".join(str(p) for p in places)
    env = os.environ.get("CIFAR10_ROOT")
    env_said = f"CIFAR10_ROOT is set to {env}" if env else "CIFAR10_ROOT is not set"
    target = project_path(root) if root is not None else REPO_DATA
    if target.name == FOLDER:
        target = target.parent
    if not download:
        raise DatasetError(
            f"CIFAR-10 was not found. Looked for a '{FOLDER}' folder in: {looked} ({env_said}). "
            f"Either set the environment variable CIFAR10_ROOT to the folder that holds '{FOLDER}/' "
            "(for example CIFAR10_ROOT=../shared/data), or allow the download (load_cifar10("
            "download=True), or the notebooks' parameter download=True), which fetches the official "
            f"archive (about 170 MB) through torchvision into {target} and checks its md5 sum."
        )
    try:
        return download_cifar10(target)
    except DatasetError as exc:
        raise DatasetError(
            f"CIFAR-10 was not found locally (looked in: {looked}; {env_said}), and {exc}"
        ) from None


def download_cifar10(parent: Path) -> Path:
    """Fetch the official archive through torchvision (progress bar, md5 check) into a temporary
    folder beside the target, validate every batch file, then move it into place: a killed or
    failed download never leaves a folder that passes for CIFAR-10."""
    from torchvision.datasets import CIFAR10 as TorchvisionCIFAR10
    from torchvision.datasets.utils import download_and_extract_archive

    parent = Path(parent)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for stale in parent.glob(f"{DOWNLOADING}*"):  # left by a download that was killed
            shutil.rmtree(stale, ignore_errors=True)
        scratch = Path(tempfile.mkdtemp(prefix=DOWNLOADING, dir=parent))
    except OSError as exc:
        raise DatasetError(
            f"downloading it into {parent} failed: the folder cannot be written ({exc.strerror or exc}). "
            "Point CIFAR10_ROOT at a copy, or make the folder writable and run again."
        ) from None
    try:
        print(f"Downloading CIFAR-10 (about 170 MB) through torchvision into {parent} ...", flush=True)
        try:
            download_and_extract_archive(TorchvisionCIFAR10.url, str(scratch),
                                         filename=TorchvisionCIFAR10.filename,
                                         md5=TorchvisionCIFAR10.tgz_md5, remove_finished=True)
        except Exception as exc:  # network, disk and checksum errors all need the same advice
            reason = f"{type(exc).__name__}: {exc}".rstrip(".")
            raise DatasetError(
                f"downloading it from {TorchvisionCIFAR10.url} into {parent} failed ({reason}). "
                "Check the internet connection and run again, or download cifar-10-python.tar.gz "
                f"by hand, unpack it, and set CIFAR10_ROOT to the folder that holds '{FOLDER}/'."
            ) from None
        _load_folder(scratch / FOLDER)  # the md5 sum covers the archive; this, what was unpacked
        final = parent / FOLDER
        try:
            (scratch / FOLDER).rename(final)
        except OSError:
            if not final.is_dir():  # else another process finished the same download first
                raise
        print(f"CIFAR-10 is ready in {final}.", flush=True)
        return final
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def load_cifar10(root: str | os.PathLike | None = None, download: bool = False) -> CIFAR10:
    """Load the whole of CIFAR-10 into memory (about 185 MB, a second or two).

    `root` (default: $CIFAR10_ROOT) names a folder holding `cifar-10-batches-py/`, or that folder.
    If no copy is found and `download` is True, torchvision downloads it into the repo's data/
    folder (or `root`), checking its md5 sum. Raises DatasetError, naming the places looked at
    and the file at fault, when the data is missing or corrupt.
    """
    return _load_folder(locate_cifar10(root, download))


def _load_folder(found: Path) -> CIFAR10:
    train = [_read_batch(found / name, found) for name in TRAIN_FILES]
    test = _read_batch(found / TEST_FILE, found)
    data = CIFAR10(
        train_images=torch.cat([b[0] for b in train]),
        train_labels=torch.cat([b[1] for b in train]),
        test_images=test[0],
        test_labels=test[1],
        classes=_read_classes(found),
        source=str(found),
    )
    _check_split(data.train_labels, 5000, "training", found)
    _check_split(data.test_labels, 1000, "test", found)
    return data


def _corrupt(path: Path, folder: Path, what: str) -> DatasetError:
    return DatasetError(
        f"The CIFAR-10 file {path} is unusable: {what}. The copy in {folder} is incomplete or "
        "corrupt. Replace it with a good copy (the 'CIFAR-10 python version' layout), or point "
        "CIFAR10_ROOT at another copy, or delete the folder and allow the download "
        "(download=True) to fetch a fresh, checksummed one."
    )


# Everything a CIFAR-10 batch pickle may name: numpy's array and scalar reconstruction (numpy 1 and
# 2 module names; the paths of pickle protocols 2 to 5) and the byte-string decoding of protocol 2.
ALLOWED_GLOBALS = frozenset({
    ("numpy", "ndarray"), ("numpy", "dtype"),
    *((f"numpy.{core}.{module}", name) for core in ("core", "_core")
      for module, name in (("multiarray", "_reconstruct"), ("multiarray", "scalar"), ("numeric", "_frombuffer"))),
    ("_codecs", "encode"),
})


class _Refused(pickle.UnpicklingError):
    """A global the format never names."""


class _BatchUnpickler(pickle.Unpickler):
    """Builds dicts, lists, strings and numpy arrays; any other class or function is refused."""

    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED_GLOBALS:
            raise _Refused(f"it asks to call {module}.{name}, which a CIFAR-10 batch never "
                                         "does (a hostile or foreign pickle; nothing of it was run)")
        return super().find_class(module, name)


def _unpickle(path: Path, folder: Path) -> dict:
    if not path.is_file():
        raise _corrupt(path, folder, "the file is missing")
    try:
        with open(path, "rb") as f:
            content = _BatchUnpickler(f, encoding="latin1").load()
    except _Refused as exc:
        raise _corrupt(path, folder, str(exc)) from None
    except Exception as exc:  # a truncated pickle raises EOFError, UnpicklingError, ValueError...
        raise _corrupt(path, folder, f"it cannot be unpickled ({type(exc).__name__}: {exc})") from None
    if not isinstance(content, dict):
        raise _corrupt(path, folder, f"it holds a {type(content).__name__}, not a dict")
    return content


def _read_batch(path: Path, folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    batch = _unpickle(path, folder)
    if "data" not in batch or "labels" not in batch:
        raise _corrupt(path, folder, f"it lacks the keys 'data' and 'labels' (has {sorted(batch)})")
    images, labels = batch["data"], np.asarray(batch["labels"])
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.shape != (10000, 3072):
        got = f"{getattr(images, 'dtype', type(images).__name__)} {getattr(images, 'shape', '')}"
        raise _corrupt(path, folder, f"its data should be uint8 (10000, 3072) but is {got}")
    if labels.shape != (10000,) or labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() > 9:
        raise _corrupt(path, folder, "its labels should be 10000 integers from 0 to 9")
    return (torch.from_numpy(images.reshape(-1, 3, 32, 32).copy()),
            torch.from_numpy(labels.astype(np.int64)))


def _read_classes(folder: Path) -> tuple[str, ...]:
    meta = _unpickle(folder / META_FILE, folder)
    names = tuple(meta.get("label_names", ()))
    if names != CLASSES:
        raise _corrupt(folder / META_FILE, folder, f"its label_names are {names}, expected {CLASSES}")
    return names


def _check_split(labels: torch.Tensor, per_class: int, split: str, folder: Path) -> None:
    counts = torch.bincount(labels, minlength=10).tolist()
    if counts != [per_class] * 10:
        raise DatasetError(
            f"The CIFAR-10 {split} split in {folder} has class counts {counts}, expected "
            f"{per_class} per class: some batch files were mixed up or replaced. Restore the "
            "folder from a good copy or delete it and allow the download (download=True)."
        )


def balanced_subset(labels: torch.Tensor, size: int, seed: int = 0) -> torch.Tensor:
    """Indices of `size` images, as equal a share of each class as possible, chosen by `seed`.
    The same call always returns the same indices, so quick runs are comparable."""
    n_classes = int(labels.max()) + 1
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=generator)
    shares = [size // n_classes + (1 if c < size % n_classes else 0) for c in range(n_classes)]
    picked = [order[labels[order] == c][:share] for c, share in enumerate(shares)]
    return torch.cat(picked).sort().values
