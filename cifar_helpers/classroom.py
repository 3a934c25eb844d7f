"""The classroom edition, graded with nbgrader. notebooks/ holds the teacher's version: each
exercise is an answer cell (its solution between `### BEGIN SOLUTION` and `### END SOLUTION`) and a
locked test cell worth points (hidden tests between `### BEGIN HIDDEN TESTS` / `### END HIDDEN
TESTS`); each written question is a markdown answer cell worth points, holding a model answer, which
autograde leaves for the teacher to grade. nbgrader's `generate_assignment` makes the student
version: solutions replaced by `raise NotImplementedError()`, hidden tests removed, outputs cleared,
test cells checksummed.

`python -m cifar_helpers course DIR` sets up an nbgrader course folder for a teacher (one assignment
per notebook, released into DIR/release, a gradebook to autograde into); `python -m cifar_helpers
student` rebuilds the committed student version in student/, which a test keeps up to date; each
of its notebooks opens in Colab from the badge at its top (colab.py)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .colab import header, setup_cell
from .command import run_command
from .errors import CifarHelpersError
from .paths import REPO, project_path

STUDENT_DIR = "student"
COURSE_CONFIG = '''\
# nbgrader's settings for the cifar-notebooks course (written by `python -m cifar_helpers course`).
c = get_config()  # noqa: F821 (nbgrader provides it)
c.CourseDirectory.course_id = "cifar-notebooks"
# A notebook that finds no shipped run trains for minutes on a CPU: no 30-second limit per cell.
c.Execute.timeout = 1200
'''
STUDENT_README = """\
# cifar-notebooks, student version

The notebooks of the series with their exercises left for you: each exercise cell ends in
`raise NotImplementedError()`; replace that with your answer and run the test cell below it. The
cells after an exercise use the library's version, not yours, but Run All stops at an exercise not
yet answered: answer it, or run the cells after it one by one. Open them in JupyterLab from the
repository (`jupyter lab`, then this folder); they read the shipped runs and CIFAR-10 exactly as
the teacher's notebooks in `notebooks/` do. Or open one in Colab from the badge at its top: its first
code cell fetches the series and installs the helpers there.

Made by `python -m cifar_helpers student` from `notebooks/` with nbgrader; do not edit by hand.
"""


def teacher_notebooks() -> list[Path]:
    return sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def nbgrader(course_dir: Path, *args: str) -> str:
    """Run an nbgrader command in the course folder (where its nbgrader_config.py is), as a
    teacher would; its output, or one paragraph with its last lines if it fails."""
    # nbgrader starts `alembic` (its gradebook's migrations) from PATH: this environment's bin first.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course_dir,
                            capture_output=True, text=True, env=dict(os.environ, PATH=path))
    output = result.stdout + result.stderr
    if result.returncode != 0:
        tail = " | ".join(line.strip() for line in output.strip().splitlines()[-8:])
        raise CifarHelpersError(f"`nbgrader {' '.join(args)}` failed in {course_dir} (exit {result.returncode}): "
                                f"{tail}. Check the notebooks' nbgrader cells (View > Cell Toolbar > "
                                f"Create Assignment in Jupyter) and run it again.")
    return output


def write_course(course_dir, notebooks=None) -> Path:
    """An nbgrader course folder at `course_dir`: its nbgrader_config.py, each notebook as the
    source of the assignment of its own name, and the student versions generated into release/
    (the assignments and their tests recorded in the course's gradebook.db). Returns release/."""
    from .records import ensure_writable

    course_dir = ensure_writable(project_path(course_dir))
    (course_dir / "nbgrader_config.py").write_text(COURSE_CONFIG)
    for notebook in notebooks or teacher_notebooks():
        notebook = Path(notebook)
        source = course_dir / "source" / notebook.stem
        source.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(notebook, source / notebook.name)
    nbgrader(course_dir, "generate_assignment", "*", "--force")
    return course_dir / "release"


def add_colab_cells(path: Path) -> None:
    """Put the badges on top of the notebook at `path` and the Colab cell before its first code cell
    (the parameters, after the title): in Colab every later cell then finds the helpers."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    first_code = next(i for i, cell in enumerate(nb.cells) if cell.cell_type == "code")
    trains = any(line.startswith("reuse = ") for line in nb.cells[first_code].source.splitlines())
    nb.cells.insert(first_code, nbformat.v4.new_code_cell(setup_cell(), id="colab-setup"))
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(header(path.name, trains), id="colab-badges"))
    nbformat.write(nb, path)


def build_student(out=STUDENT_DIR) -> list[Path]:
    """The student version of every notebook, written into `out` (student/ by default)."""
    from .records import ensure_writable

    out = ensure_writable(project_path(out))
    written = []
    with tempfile.TemporaryDirectory(prefix="cifar-course-") as tmp:
        release = write_course(tmp)
        for notebook in teacher_notebooks():
            shutil.copyfile(release / notebook.stem / notebook.name, out / notebook.name)
            add_colab_cells(out / notebook.name)
            written.append(out / notebook.name)
    (out / "README.md").write_text(STUDENT_README)
    return written


def _student(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m cifar_helpers student",
                                     description="Rebuild the student version of the notebooks with nbgrader.")
    parser.add_argument("--out", default=STUDENT_DIR, help="folder to write into (default: student/)")
    for path in build_student(parser.parse_args(argv).out):
        print(f"wrote {path}")


def _course(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m cifar_helpers course",
                                     description=write_course.__doc__)
    parser.add_argument("course_dir", metavar="DIR")
    release = write_course(parser.parse_args(argv).course_dir)
    print(f"Course ready: the student versions are in {release}. Collect submissions into "
          f"{release.parent / 'submitted'}/STUDENT/ASSIGNMENT/, then run `nbgrader autograde ASSIGNMENT` there. "
          f"Autograde scores the code; each notebook's written answers wait for you in the formgrader "
          f"(`nbgrader formgrader`, or Formgrader in JupyterLab), with a model answer in the teacher's "
          f"notebook. `nbgrader export` then writes everyone's totals to grades.csv.")


def student_main(argv: list[str]) -> int:
    return run_command(_student, argv)


def course_main(argv: list[str]) -> int:
    return run_command(_course, argv)
