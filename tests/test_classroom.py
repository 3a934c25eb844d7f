"""The classroom edition on nbgrader: the committed student version is what nbgrader makes of the
teacher's notebooks; autograding a student
notebook filled with the solutions gives full marks for the code, a blank one zero, and the blank one
fails in its exercises' test cells and nowhere else (later cells use the library's versions); the
written answers wait for the teacher, and once graded the exported grades are full marks. (nbgrader
validate on the teacher's notebooks would run each of them once more to learn what the solutions'
autograde already shows.)"""

import csv
import shutil

import nbformat
import papermill
import pytest

from cifar_helpers.classroom import STUDENT_DIR, build_student, nbgrader, teacher_notebooks, write_course
from cifar_helpers.paths import REPO


STUDENTS = ("full", "blank")
# The figures the main job draws from the shipped runs (asset/), one per notebook figure.
SHIPPED_FIGURES = {"cifar.png", "lenet5_1e-3.png", "lenet5-original_1e-3.png", "own-network_1e-3.png",
                   "comparison.png", "lr_sweep.png", "whitened-net.png", "ablation.png"}


def grade_cells(nb) -> dict:
    return {c.metadata.nbgrader["grade_id"]: c for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade")}


def solution_cells(nb) -> dict:
    return {c.metadata.nbgrader["grade_id"]: c for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def written_cells(nb) -> dict:
    """The written answers: markdown answer cells worth points, graded by the teacher."""
    return {gid: c for gid, c in grade_cells(nb).items() if c.cell_type == "markdown"}


def table_label(grade_id: str) -> str:
    """How the teachers' page's table names an exercise: ex2-1 is 2.1, the written question q2-1 is q2.1."""
    return grade_id.removeprefix("ex").replace("-", ".")


def test_every_notebook_has_two_exercises_with_tests_and_a_written_question():
    teachers = (REPO / "docs" / "teachers.md").read_text()
    for notebook in teacher_notebooks():
        nb = nbformat.read(notebook, as_version=4)
        written = written_cells(nb)
        answers = {gid: c for gid, c in solution_cells(nb).items() if gid not in written}
        tests = {gid: c for gid, c in grade_cells(nb).items() if gid not in written}
        assert len(answers) >= 2 and len(tests) == len(answers), notebook.name
        assert all(f"{gid}-tests" in tests for gid in answers), notebook.name
        assert all(c.cell_type == "code" and "### BEGIN SOLUTION" in c.source for c in answers.values()), notebook.name
        assert len(written) >= 1, f"{notebook.name} has no written question for the teacher to grade"
        for gid in [*answers, *written]:  # the "For teachers" page's table says what each one asks
            assert f"| {table_label(gid)} |" in teachers, gid


def test_the_committed_student_version_is_up_to_date(tmp_path):
    build_student(tmp_path)
    committed = REPO / STUDENT_DIR
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in committed.iterdir())
    for built in tmp_path.iterdir():
        assert built.read_bytes() == (committed / built.name).read_bytes(), (
            f"{STUDENT_DIR}/{built.name} is stale: run `python -m cifar_helpers student` and commit it")
    for notebook in committed.glob("*.ipynb"):
        text = notebook.read_text()
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text, notebook.name
        assert "raise NotImplementedError()" in text, notebook.name


@pytest.fixture(scope="module")
def course(cifar, tmp_path_factory):
    """A course built from the teacher's notebooks with their default parameters, except that
    figures and runs go to a folder of their own, given as relative paths (as a student's
    defaults are): the kernel of autograde starts in the submission's folder, and those paths must
    resolve from the repository root. Grading leaves asset/ alone."""
    tmp = tmp_path_factory.mktemp("classroom")
    teacher = tmp / "teacher"
    teacher.mkdir()
    relative = f"runs/.test-course-{tmp.name}"
    for notebook in teacher_notebooks():
        parameters = {"figures_dir": f"{relative}/asset"}
        if notebook.name[:2] in ("02", "03", "05"):
            parameters["runs_dir"] = f"{relative}/runs"
        papermill.execute_notebook(str(notebook), str(teacher / notebook.name), parameters=parameters,
                                   prepare_only=True, kernel_name="python3")
    course_dir = tmp / "course"
    release = write_course(course_dir, sorted(teacher.glob("*.ipynb")))
    yield {"dir": course_dir, "release": release, "teacher": teacher, "out": REPO / relative}
    shutil.rmtree(REPO / relative, ignore_errors=True)


def test_autograde_gives_full_marks_for_the_solutions_and_zero_for_a_blank_notebook(course):
    from nbgrader.api import Gradebook

    course_dir, release = course["dir"], course["release"]
    for notebook in teacher_notebooks():
        teacher = solution_cells(nbformat.read(course["teacher"] / notebook.name, as_version=4))
        for student in STUDENTS:
            released = nbformat.read(release / notebook.stem / notebook.name, as_version=4)
            submitted = course_dir / "submitted" / student / notebook.stem
            submitted.mkdir(parents=True)
            if student == "full":  # the student's notebook, each answer cell filled with the solution
                for gid, cell in solution_cells(released).items():
                    cell.source = teacher[gid].source
            nbformat.write(released, submitted / notebook.name)
    nbgrader(course_dir, "autograde", "*", "--force")

    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gradebook:
        for notebook in teacher_notebooks():
            full = gradebook.find_submission(notebook.stem, "full")
            blank = gradebook.find_submission(notebook.stem, "blank")
            assert full.max_code_score >= 4 and full.code_score == full.max_code_score, notebook.name
            # the written answers wait for the teacher; an unanswered one scores 0 with nothing to grade
            assert full.max_written_score >= 2 and full.written_score == 0 and full.needs_manual_grade, notebook.name
            assert blank.score == 0 and not blank.needs_manual_grade, notebook.name
            for grade in full.notebooks[0].grades:  # the teacher grades them (formgrader stores the same)
                if grade.needs_manual_grade:
                    grade.manual_score = grade.max_score
        gradebook.db.commit()
    nbgrader(course_dir, "export", "--to", str(course_dir / "grades.csv"))
    grades = {(row["assignment"], row["student_id"]): row for row in
              csv.DictReader((course_dir / "grades.csv").open())}
    for notebook in teacher_notebooks():
        full, blank = grades[(notebook.stem, "full")], grades[(notebook.stem, "blank")]
        assert float(full["raw_score"]) == float(full["max_score"]) > 0, notebook.name
        assert float(blank["raw_score"]) == 0, notebook.name

    for notebook in teacher_notebooks():
        for student in STUDENTS:
            graded = nbformat.read(course_dir / "autograded" / student / notebook.stem / notebook.name, as_version=4)
            failing = {c.metadata.get("nbgrader", {}).get("grade_id", f"cell {i}") for i, c in enumerate(graded.cells)
                       if c.cell_type == "code" and any(o.output_type == "error" for o in c.outputs)}
            expected = set(grade_cells(graded)) - set(written_cells(graded)) if student == "blank" else set()
            assert failing == expected, (notebook.name, student)
            # Default parameters load the shipped runs wherever the kernel starts: nothing is trained.
            text = "".join(o.get("text", "") for c in graded.cells if c.cell_type == "code"
                           for o in c.outputs if o.output_type == "stream")
            loads = {"02": 2, "03": 1, "05": 1}.get(notebook.name[:2], 0)  # 02: classic and original LeNet5
            assert text.count("Loading the finished run") == loads and "Skipped" not in text, (notebook.name, student)
    out = course["out"]
    assert not (out / "runs").exists() or not any((out / "runs").iterdir())  # nothing trained
    assert {p.name for p in (out / "asset").iterdir()} == SHIPPED_FIGURES
    assert not (REPO / "notebooks" / "runs").exists() and not (REPO / "notebooks" / "asset").exists()
    shutil.rmtree(course_dir / "autograded")


def test_a_failing_nbgrader_command_is_one_paragraph_naming_it(tmp_path):
    from cifar_helpers.errors import CifarHelpersError

    with pytest.raises(CifarHelpersError, match=r"`nbgrader generate_assignment 09_missing` failed in .*exit 1.*"
                                                 r"No notebooks were matched"):
        nbgrader(tmp_path, "generate_assignment", "09_missing")
