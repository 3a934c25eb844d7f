"""Paths relative to the repository, so notebooks work from notebooks/ (JupyterLab) and from the
repo root (papermill, the series runner) alike."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = "results"  # the runs shipped with the series (records, a few checkpoints); jobs name their sub-folders


def project_path(path) -> Path:
    """An absolute path as given; a relative one is taken from the repository root."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else REPO / path
