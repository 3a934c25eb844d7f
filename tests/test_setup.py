"""The set-up files agree with each other and with the README a newcomer follows."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent


def _pyproject_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {r.replace(" ", "") for r in project["dependencies"] + project["optional-dependencies"]["dev"]}


def test_environment_yml_matches_pyproject():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    (pip,) = [d["pip"] for d in environment["dependencies"] if isinstance(d, dict)]
    assert {r.replace(" ", "") for r in pip if r != "-e ."} == _pyproject_requirements()
    assert "-e ." in pip
    python = [d for d in environment["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert python == ["python>=3.10"]


def test_torch_pins_admit_the_local_builds():
    pins = {r.split(">=")[0].split("<")[0]: r for r in _pyproject_requirements()}
    assert pins["torch"] == "torch>=2.2,<2.15"  # 2.14.1 is the release on the machines' disk
    assert pins["torchvision"] == "torchvision>=0.17,<0.30"  # and 0.29.1 beside it


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^\s*(python3 tasks\.py \w+.*)$", readme, re.M)
    assert "python3 tasks.py test" in commands and "python3 tasks.py run" in commands
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^python3 tasks\.py test$", ci, re.M)


def test_code_passes_ruff():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "cifar_helpers", "tests", "benchmarks",
                             "scripts", "tasks.py"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_readme_tables_come_from_the_committed_records():
    from cifar_helpers.tables import readme_blocks

    readme = (ROOT / "README.md").read_text()
    for block in readme_blocks().values():
        assert block in readme
