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
    """What `pip install -e .[dev]` (tasks.py) asks for: the dependencies, dev's own packages, and those
    of every extra that dev names through the project itself (`cifar-helpers[course,site]`)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    (itself,) = [r for r in extras["dev"] if r.startswith(f"{project['name']}[")]
    named = itself.removeprefix(f"{project['name']}[").removesuffix("]").split(",")
    assert sorted(named) == sorted(set(extras) - {"dev"}), "dev must include every other extra"
    wanted = project["dependencies"] + [r for extra in ["dev", *named] for r in extras[extra] if r != itself]
    return {r.replace(" ", "") for r in wanted}


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


def test_generated_tables_come_from_the_committed_records():
    from cifar_helpers.tables import documentation_files, generated_blocks

    texts = [path.read_text() for path in documentation_files()]
    for name, block in generated_blocks().items():
        assert sum(block in text for text in texts) == 1, name  # in one page, as the records make it


def test_prose_times_come_from_the_records_and_name_their_machine():
    import json
    import statistics

    training, results, fast = (" ".join((ROOT / "docs" / page).read_text().split())
                               for page in ("training.md", "results.md", "fast-training.md"))

    def records(pattern):
        return [json.loads(p.read_text()) for p in sorted((ROOT / "results").glob(f"{pattern}/record.json"))]

    def minutes(record):
        return f"{sum(h['seconds'] for h in record['history']) / 60:.1f}"

    def machine(record):
        return record["environment"]["cpu_capability"], record["config"]["precision"]

    (own,) = records("own-network_lr1e-3_e40_s0")
    late = statistics.mean(h["seconds"] for h in own["history"][10:])
    assert machine(own) == ("AVX2", "fp32") and "AMD EPYC with AVX2 in fp32" in training
    assert f"({late:.0f} s on average over epochs 11-40" in training
    assert f"so {40 * late / 3600:.1f} hours at lr 1e-3;" in training
    like_for_like = records("table-bf16/own-network_*")
    assert like_for_like and {(r["environment"]["cpu_isa"], r["config"]["precision"])
                              for r in like_for_like} == {("AMX-BF16", "bf16")}
    at_1e3 = [r for r in like_for_like if r["config"]["lr"] == 1e-3]
    median = min(statistics.median(h["seconds"] for h in r["history"]) for r in at_1e3)  # the run most alone
    assert f"the own network's epoch takes a median of {median:.0f} s in its least contended 40-epoch run" in training
    assert at_1e3 and f"so about {round(40 * median / 60)} minutes at lr 1e-3: {late / median:.0f} times the AMD " \
        "EPYC's pace alone" in training
    at_1e2 = records("own-network_lr1e-2_e20_s[34]")
    assert {machine(r) for r in at_1e2} == {("AVX2", "fp32")}
    shorter, longer = sorted(float(minutes(r)) for r in at_1e2)
    assert f"at lr 1e-2 (20 epochs) took {shorter:.0f} and {longer:.0f} minutes" in training
    original = records("lenet5-original_lr1e-3_e40_s*")
    assert {machine(r) for r in original} == {("AVX2", "fp32")}
    a, b, c = map(minutes, original)
    assert f"lr 1e-3: {a}, {b} and, contended, {c} min" in results
    full = records("recipe/whitened-net_lr1.5e0_e10_s*")
    assert {machine(r) for r in full} == {("AVX512", "bf16")}
    a, b, c = map(minutes, full)
    assert f"run took {a}, {b} and {c} minutes (seeds 0-2)" in fast
    swept = records("sweep/own-network_*")
    assert {machine(r) for r in swept} == {("AVX512", "bf16")}
    median = statistics.median(h["seconds"] for r in swept for h in r["history"])
    assert f"{median:.0f} s each (the median in its records: 2 cores of an AMD EPYC with AVX512-BF16, bf16" in results
    assert len(swept) == 12 and f"twelve runs would take about {12 * 40 * median / 2 / 3600:.1f} hours" in results


def test_the_contended_epochs_the_fast_recipe_page_names():
    # docs/fast-training.md: "The first two include six epochs that shared the cores with tests (seed 0's
    # epochs 1-4 and seed 1's epochs 8-9) ... seed 2, alone, is the clean figure". An epoch shared the cores
    # when it trained under 95% of its run's median images per second.
    import json
    import statistics

    fast = " ".join((ROOT / "docs" / "fast-training.md").read_text().split())
    words = {0: "no", 1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}
    named, count = [], 0
    for seed in range(3):
        history = json.loads((ROOT / "results" / "recipe" / f"whitened-net_lr1.5e0_e10_s{seed}" / "record.json")
                             .read_text())["history"]
        median = statistics.median(h["images_per_s"] for h in history)
        slow = [h["epoch"] for h in history if h["images_per_s"] < 0.95 * median]
        count += len(slow)
        if slow:
            assert slow == list(range(slow[0], slow[-1] + 1)), (seed, slow)
            span = f"epochs {slow[0]}-{slow[-1]}" if len(slow) > 1 else f"epoch {slow[0]}"
            named.append(f"seed {seed}'s {span}")
        else:
            assert f"seed {seed}, alone, is the clean figure" in fast
    assert f"include {words[count]} epochs that shared the cores with tests ({' and '.join(named)})" in fast


def test_fast_tier_leaves_out_the_slow_tests_and_the_full_command_runs_everything(monkeypatch):
    import importlib.util
    import types

    spec = importlib.util.spec_from_file_location("tasks", ROOT / "tasks.py")
    tasks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tasks)
    ran = []
    monkeypatch.setattr(tasks, "ensure_environment", lambda: None)
    monkeypatch.setattr(tasks.subprocess, "run", lambda command, **_: ran.append(command) or types.SimpleNamespace(
        returncode=0))
    assert tasks.main(["test", "--fast", "-x"]) == 0 and tasks.main(["test"]) == 0
    assert tasks.main(["test", "-m", "browser", "--fast"]) == 0
    fast, full, both = ran[1], ran[3], ran[5]  # each: the data check, then pytest
    assert fast[-4:] == ["pytest", "-m", "not slow", "-x"] and "--fast" not in fast
    assert full[-1] == "pytest" and "not slow" not in full
    assert both[-3:] == ["pytest", "-m", "not slow and (browser)"]  # the user's marker, within the fast tier
    monkeypatch.undo()  # tasks' subprocess is this module's
    # the slow tier is marked, and what it leaves out is the slow part, not everything
    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "slow"], cwd=ROOT,
                               capture_output=True, text=True).stdout
    assert "tests/test_browser.py::" in collected and "tests/test_notebooks.py::" in collected
    assert "tests/test_tables.py::" not in collected
