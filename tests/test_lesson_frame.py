"""Every notebook is framed as a lesson (issue 22): objectives, assumptions and Run All times at the
top, with where the times come from; a take-away, two questions and further reading at the bottom;
the reading line (markdown outside <details>) short enough to read."""

import re

import nbformat
import pytest

from cifar_helpers.paths import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
ORIGINAL = "https://github.com/PeizhengWang/pytorch-cifar"


def markdown(notebook):
    return [c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "markdown"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_framed_top_and_bottom(notebook):
    cells = markdown(notebook)
    top, bottom = cells[0], "\n".join(cells[-3:])
    for part in ("**After this notebook you will be able to**", "**It assumes**", "**Run All takes**",
                 "<details><summary>Where these times come from</summary>", "not measured yet"):
        assert part in top, part
    objectives = top.split("**After this notebook you will be able to**")[1].split("**It assumes**")[0]
    assert 2 <= len(re.findall(r"^- ", objectives, re.M)) <= 4
    for part in ("## What to take away", "## Questions to think about or try", "## Further reading"):
        assert part in bottom, part
    questions = bottom.split("## Questions to think about or try")[1].split("## Further reading")[0]
    assert re.findall(r"^\d\. ", questions, re.M) == ["1. ", "2. "]
    assert re.search(r"\]\(https?://", bottom.split("## Further reading")[1])


def test_the_original_experiment_is_linked_once_in_01():
    counts = {n.name[:2]: sum(text.count(ORIGINAL) for text in markdown(n)) for n in NOTEBOOKS}
    assert counts == {"01": 1, "02": 0, "03": 0, "04": 0, "05": 0}


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_reading_line_is_under_1800_words(notebook):
    text = re.sub(r"<details>.*?</details>", "", "\n".join(markdown(notebook)), flags=re.S)
    text = re.sub(r"\]\([^)]*\)", "]", text)  # a link reads as its text
    assert len(text.split()) < 1800


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_no_project_path_in_the_reading_line(notebook):
    """Where a number comes from stays traceable in a collapsed block, out of the student's way."""
    for text in markdown(notebook):
        reading = re.sub(r"<details>.*?</details>", "", text, flags=re.S)
        assert not re.findall(r"\b(?:results|scripts|benchmarks)/", reading), reading[:300]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_puts_the_students_settings_first(notebook):
    """A student reads the few settings to change, each explained; the rest sit under one comment."""
    cell = next(c for c in nbformat.read(notebook, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
    lines = cell.source.splitlines()
    rest = [i for i, line in enumerate(lines) if line.startswith("# For reruns and sweeps")]
    assert len(rest) == 1, "one comment line starts the settings for reruns and sweeps"
    students = [line for line in lines[:rest[0]] if line.strip() and not line.startswith("#")]
    assert 1 <= len(students) <= 10 and all("  # " in line for line in students), students


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_run_all_time_is_the_measured_one(notebook):
    """The top's Run All time is the one benchmarks/timings.py measured in JupyterLab, on the machine
    that file names: a typed time cannot outlive its measurement."""
    import json

    top = markdown(notebook)[0]
    cited = re.search(r"`benchmarks/results/(timings-[\w-]+\.json)`", top)
    assert cited, "the top's <details> names the timings file its Run All time comes from"
    timing = json.loads((REPO / "benchmarks" / "results" / cited.group(1)).read_text())
    seconds = timing["measured"]["jupyterlab"]["run_all_seconds"][notebook.name]
    said = re.search(r"\*\*Run All takes\*\* about (\d+) seconds", top)
    assert said and int(said.group(1)) == round(seconds), (said and said.group(0), seconds)
    machine = timing["machine"]
    assert f"{machine['device_name']} with {machine['isa']}" in top.split("<details>")[0].replace("\n", " ")
