#!/usr/bin/env python3
"""The two commands a newcomer needs, on a fresh clone with only Python 3.10+ installed:

    python3 tasks.py run          # the main job (add --help for its options)
    python3 tasks.py test         # the test suite, all of it (CI runs this)
    python3 tasks.py test --fast  # only the tests not marked slow (no notebook runs, browser, nbgrader, Dask)

Each first creates the project environment in .venv (once; again when pyproject.toml changes).
"""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_environment() -> None:
    if sys.version_info < (3, 10):
        sys.exit(f"Python 3.10 or newer is needed; this is {sys.version.split()[0]}.")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    stamp = VENV / f".installed-{wanted}"
    if stamp.exists():
        return
    if not PYTHON.exists():
        print(f"Creating the project environment in {VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    print("Installing the project and its dependencies (PyTorch is large: this takes minutes "
          "the first time) ...", flush=True)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[dev]"], check=True)
    if (ROOT / ".git").exists():  # git strips notebooks' outputs at `git add` (see notebook_outputs.py)
        subprocess.run([str(PYTHON), "-m", "cifar_helpers", "strip-outputs", "--install-git-filter"], cwd=ROOT)
    for old in VENV.glob(".installed-*"):
        old.unlink()
    stamp.touch()


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "test"):
        print(__doc__)
        return 2
    ensure_environment()
    if argv[0] == "test":
        # The notebooks' tests need CIFAR-10: find it, or download it once, before they start.
        if subprocess.run([str(PYTHON), "-m", "cifar_helpers", "data"], cwd=ROOT).returncode != 0:
            print("The tests need CIFAR-10 (see above). To run them anyway, skipping those that need "
                  f"the data: {PYTHON} -m pytest", file=sys.stderr)
            return 1
        rest = [a for a in argv[1:] if a != "--fast"]
        if "--fast" in argv[1:]:  # a marker expression of the user's own is kept, within the fast tier
            chosen = rest[rest.index("-m") + 1] if "-m" in rest[:-1] else None
            if chosen:
                del rest[rest.index("-m"):rest.index("-m") + 2]
            rest = ["-m", f"not slow and ({chosen})" if chosen else "not slow", *rest]
        command = [str(PYTHON), "-m", "pytest", *rest]
    else:
        command = [str(PYTHON), "-m", "cifar_helpers", "series", *argv[1:]]
    return subprocess.run(command, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
