"""The website of the executed series (cifar_helpers/site.py): it builds with Sphinx's warnings as
errors, every notebook and guide has its page with every code cell a student sees, and no page
gives an exercise away. The browser's checks of the same site are in test_browser.py."""

import re

import nbformat
import pytest
from bs4 import BeautifulSoup

from cifar_helpers import site
from cifar_helpers.paths import REPO

STUDENT = sorted((REPO / "student").glob("[0-9][0-9]_*.ipynb"))


def pages(index):
    return sorted(index.parent.glob("*.html"))


def soup(path):
    return BeautifulSoup(path.read_text(), "html.parser")


def normalized(text: str) -> str:
    return " ".join(text.split())


def test_every_notebook_and_guide_has_a_page(built_site):
    names = {p.name for p in pages(built_site)}
    expected = {"index.html", "search.html", "02_lenet5_1e-2.html", *(f"{p.stem}.html" for p in STUDENT),
                *(f"{p.stem}.html" for p in site.DOCS_DIR.glob("*.md"))}
    assert expected <= names, expected - names


@pytest.mark.parametrize("student", STUDENT, ids=lambda p: p.stem)
def test_every_code_cell_a_student_sees_is_on_its_page(built_site, student):
    """The code cells of the student version (nbgrader's, in student/), but for the Colab cell
    that only student/ carries, each appear on the page, in order."""
    shown = [normalized(block.get_text()) for block in soup(built_site.parent / f"{student.stem}.html")
             .select("div.cell_input pre")]
    cells = [normalized(c.source) for c in nbformat.read(student, as_version=4).cells
             if c.cell_type == "code" and c.get("id") != "colab-setup"]
    position = 0
    for cell in cells:
        assert cell in shown[position:], f"{student.stem}: a code cell is missing from its page: {cell[:200]}"
        position = shown.index(cell, position) + 1


def _answers() -> list[str]:
    """Each line of the teacher's solutions, hidden tests and model answers long enough to be
    telling and found nowhere in the student version."""
    handed_out = normalized(" ".join(c.source for p in STUDENT for c in nbformat.read(p, as_version=4).cells))
    lines = []
    for notebook in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for cell in nbformat.read(notebook, as_version=4).cells:
            grading = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "markdown" and grading.get("solution"):
                lines += [line for line in cell.source.splitlines() if len(line.strip()) > 40]
            for begin, end in (("BEGIN SOLUTION", "END SOLUTION"), ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")):
                for block in re.findall(rf"{begin}(.*?){end}", cell.source, re.S):
                    lines += [line for line in block.splitlines() if len(line.strip()) > 25]
    return [line for line in map(normalized, lines) if line not in handed_out]


def test_no_page_gives_an_answer_away(built_site):
    answers = _answers()
    assert len(answers) > 30  # the check reads the real solutions
    for page in pages(built_site):
        text = normalized(soup(page).get_text())
        given = [line for line in answers if line in text]
        assert given == [], f"{page.name} shows a solution: {given[:3]}"
    for page in (built_site.parent / f"{p.stem}.html" for p in STUDENT):
        text = soup(page).get_text()  # the teachers' guide may name the markers; a notebook page may not
        assert "SOLUTION" not in text and "HIDDEN TESTS" not in text and "Model answer" not in text, page.name
    for student in STUDENT:  # the test cells ran on the solutions: what they print stays off the page
        tests = {normalized(c.source) for c in nbformat.read(student, as_version=4).cells
                 if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"}
        cells = soup(built_site.parent / f"{student.stem}.html").select("div.cell")
        checked = [c for c in cells if c.select_one("div.cell_input pre")
                   and normalized(c.select_one("div.cell_input pre").get_text()) in tests]
        assert len(checked) == len(tests), student.stem
        assert all(c.select_one("div.cell_output") is None for c in checked), f"{student.stem}: a test cell's output"


def test_outputs_that_would_give_an_answer_away_are_cleared():
    """Beyond nbgrader's clearing: a later cell that runs the student's function, and one that
    prints the library's version of the answer, show a note instead of their outputs; a cell that
    imports the library's version under another name, and other cells, keep theirs."""
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    answer = ("def double(x):\n    ### BEGIN SOLUTION\n    return x + x  # adding the value to itself once\n"
              "    ### END SOLUTION")
    shown = nbformat.v4.new_output("stream", text="    return x + x  # adding the value to itself once\n")
    nb.cells = [nbformat.v4.new_code_cell(answer, metadata={"nbgrader": {"solution": True, "grade": False,
                                                                         "grade_id": "ex", "locked": False}}),
                nbformat.v4.new_code_cell("print(double(21))", outputs=[nbformat.v4.new_output("stream", text="42\n")]),
                nbformat.v4.new_code_cell("show_source(Library)", outputs=[shown]),
                nbformat.v4.new_code_cell("from lib import double as library_double\nprint(library_double(21))",
                                          outputs=[nbformat.v4.new_output("stream", text="42\n")])]
    cleared = site.clear_exercises(nb)
    assert "raise NotImplementedError()" in cleared.cells[0].source and "x + x" not in cleared.cells[0].source
    assert [c.outputs[0].text if c.outputs else None for c in cleared.cells] == [
        None, site.LEFT_OUT, site.LEFT_OUT, "42\n"]


def test_a_page_names_the_parameters_its_run_changed(built_site):
    """The injected-parameters cell is left out (it names the machine's folders), so the page says
    which settings differ from the defaults its parameters cell shows; a run at the original's
    other rate has its own page, titled so."""
    series = normalized(soup(built_site.parent / "02_lenet5.html").get_text())
    assert "as a job ran it, with " in series and "epochs = 1," in series and "lr = 0.003," in series
    other = soup(built_site.parent / "02_lenet5_1e-2.html")
    assert "(lr 1e-2)" in other.select_one("h1").get_text()
    assert "lr = 0.01" in normalized(other.get_text())
    assert other.select_one('a[href="02_lenet5.html"]') is not None
    assert soup(built_site.parent / "02_lenet5.html").select_one('a[href="02_lenet5_1e-2.html"]') is not None
    assert "injected-parameters" not in (built_site.parent / "02_lenet5.html").read_text()


def test_no_traceback_and_every_image_is_there_with_its_alternative_text(built_site):
    for page in pages(built_site):
        html = soup(page)
        assert "Traceback (most recent call last)" not in html.get_text(), page.name
        assert html.select(".traceback, .output.error") == [], page.name
        for image in html.select("img"):
            source, alt = image.get("src", ""), image.get("alt", "").strip()
            assert not source.startswith(("http:", "https:", "//")), f"{page.name}: {source} needs the network"
            assert (page.parent / source.split("#")[0]).is_file(), f"{page.name}: {source} is missing"
            assert len(alt.split()) >= 2 and not re.search(r"\.(png|svg|jpe?g)$|^_images/", alt), (
                f"{page.name}: {source} has no alt text that describes it: {alt!r}")


def test_math_is_there_to_typeset_without_a_network(built_site):
    html = soup(built_site.parent / "01_dataset_tour.html")
    assert any("\\frac" in m.get_text() for m in html.select(".math")), "the normalization formula"
    scripts = [s.get("src", "") for s in html.select("script") if "mathjax" in s.get("src", "").lower()]
    assert scripts and all(not s.startswith(("http", "//")) for s in scripts), scripts
    assert all((built_site.parent / s.split("?")[0]).is_file() for s in scripts)


def test_github_pages_publishes_the_main_jobs_site():
    """The workflow runs the README's main job and uploads the folder that job builds its site in."""
    import yaml

    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "pages.yml").read_text())
    steps = workflow["jobs"]["build"]["steps"]
    assert [s["run"] for s in steps if "run" in s] == ["python3 tasks.py run"]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "runs/full/site"
    assert workflow[True]["push"]["branches"] == ["main"]  # YAML reads the key `on` as True
    assert "actions/deploy-pages" in workflow["jobs"]["deploy"]["steps"][0]["uses"]
