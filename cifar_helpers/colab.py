"""Each student notebook one click from Colab or Binder: the badges that open it there, and the
first code cell that, in Colab, fetches the series and installs its helpers. The repository's
address is written in one place, pyproject.toml's `[project.urls] Repository`; Binder builds
environment.yml."""

from __future__ import annotations

from urllib.parse import quote

from .errors import CifarHelpersError
from .paths import REPO

REF = "main"  # the branch the badges open and the Colab cell fetches: a notebook and its helpers agree
COLAB_FOLDER = "/content/cifar-notebooks"  # Colab's working folder is /content
GITHUB = "https://github.com/"
SETUP_CELL = '''\
# In Colab: fetch the series and install its helpers (anywhere else this cell does nothing).
# The badge opened the notebook of the branch "{ref}"; this cell fetches that branch too.
import sys

if "google.colab" in sys.modules:
    import importlib
    import os
    import subprocess

    def colab_step(*command):
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"`{{' '.join(command)}}` failed:\\n{{done.stdout}}{{done.stderr}}\\nCheck that the "
                               "runtime reaches the internet (and delete {folder} if a clone broke "
                               "halfway), then run this cell again.")

    colab_folder = "{folder}"  # names of their own: the notebook's `run` and others stay untouched
    if not os.path.isdir(colab_folder):
        colab_step("git", "clone", "--quiet", "--depth", "1", "--branch", "{ref}", "{repository}", colab_folder)
    # Colab's torch, torchvision, pandas, matplotlib... satisfy the helpers: pip installs only them.
    colab_step(sys.executable, "-m", "pip", "install", "--quiet", "--no-build-isolation", "--editable", colab_folder)
    if colab_folder not in sys.path:  # the install reaches new kernels; this one needs the folder now
        sys.path.insert(0, colab_folder)
    importlib.invalidate_caches()
'''


def repository() -> str:
    """The repository's address, from pyproject.toml, the one place it is written."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    address = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
    if not address.startswith(GITHUB):
        raise CifarHelpersError(f"pyproject.toml's [project.urls] Repository is {address!r}, but Colab and Binder "
                                f"open notebooks from GitHub: write the address as {GITHUB}OWNER/NAME.")
    return address.removesuffix("/").removesuffix(".git")


def badges(notebook_name: str) -> str:
    """Markdown of the "Open in Colab" and Binder badges of student/`notebook_name` (e.g. 02_lenet5.ipynb)."""
    slug = repository().removeprefix(GITHUB)
    colab = f"https://colab.research.google.com/github/{slug}/blob/{REF}/student/{quote(notebook_name)}"
    binder = f"https://mybinder.org/v2/gh/{slug}/{REF}?labpath={quote(f'student/{notebook_name}', safe='')}"
    return (f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab}) "
            f"[![Launch Binder](https://mybinder.org/badge_logo.svg)]({binder})")


def website() -> str:
    """Where GitHub Pages publishes the series' website (.github/workflows/pages.yml)."""
    owner, name = repository().removeprefix(GITHUB).split("/")
    return f"https://{owner.lower()}.github.io/{name}/"


def header(notebook_name: str, trains: bool) -> str:
    """The first cell of a student notebook: its badges, then what to do first in Colab; `trains`
    for a notebook that can train (a `reuse` parameter), which wants a GPU there."""
    text = (f"{badges(notebook_name)}\n\nIn Colab, run the first code cell, below the introduction, before the "
            "others: it fetches the series and installs its helpers.")
    if trains:
        text += (" To train (`reuse = False`), choose a GPU runtime before running anything: "
                 "Runtime > Change runtime type > GPU.")
    return text


def setup_cell(address: str | None = None, folder: str = COLAB_FOLDER) -> str:
    """The source of the Colab cell: it clones `address` (the repository's, by default) at REF into
    `folder` and installs the helpers from there, so paths resolve from that clone as they do
    locally. The tests give a local clone and a temporary folder."""
    return SETUP_CELL.format(repository=address or repository(), ref=REF, folder=folder)
