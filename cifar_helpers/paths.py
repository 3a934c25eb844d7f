"""Paths relative to the repository, so notebooks work from notebooks/ (JupyterLab) and from the
repo root (papermill, the series runner) alike."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = "results"  # the runs shipped with the series (records, a few checkpoints); jobs name their sub-folders


def project_path(path) -> Path:
    """An absolute path as given; a relative one is taken from the repository root."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else REPO / path


def shown(path) -> Path:
    """A path as a page or a log shows it: from the repository root when inside it, so that no
    machine's home folder appears on a published page."""
    path = Path(path)
    return path.relative_to(REPO) if path.is_absolute() and path.is_relative_to(REPO) else path
