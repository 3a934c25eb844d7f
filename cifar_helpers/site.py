"""The website of the series: the notebooks a job has just executed, as a student sees them, with
the README as the front page and docs/ as the other pages, built by Sphinx with myst-nb from the
executed copies (nothing runs again: the site shows what the job produced and the tests checked),
and the page where a reader tries the shipped networks (try_page.py).

A student reads the site, so each notebook page is the student version: nbgrader's solutions and
hidden tests cleared, as `generate_assignment` clears them, and the outputs of the exercise and test
cells removed (an output could give the answer away). Links between repository files become links
between pages; links to files that are not pages go to the repository on GitHub."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

from . import try_page
from .data import load_cifar10
from .errors import CifarHelpersError
from .paths import REPO, project_path

DOCS_DIR = REPO / "docs"
SOLUTION = re.compile(r"BEGIN SOLUTION(.*?)END SOLUTION", re.S)
LEFT_OUT = ("(This output is left out of the website: it would give away an exercise's answer. "
            "Run the notebook to see it.)\n")
WIDGET = "application/vnd.jupyter.widget-view+json"
STILL = ("(A widget is here in JupyterLab, a progress bar or a control to use; a static page cannot run it. "
         "Run the notebook to see it.)\n")
LINK = re.compile(r"(\]\()([^)\s]+)(\))")
# The badges' images as the site serves them (docs/_static): a page reads offline, without them.
BADGE_IMAGES = {"https://colab.research.google.com/assets/colab-badge.svg": "_static/colab-badge.svg",
                "https://mybinder.org/badge_logo.svg": "_static/binder-badge.svg"}


def source_notebooks() -> dict[str, Path]:
    return {p.stem: p for p in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))}


def default_parameters(notebook: Path) -> dict:
    """The literal values of a notebook's parameters cell."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    values = {}
    for line in cell.source.splitlines():
        code = line.split("#")[0].strip()
        if "=" in code:
            name, value = (part.strip() for part in code.split("=", 1))
            values[name] = ast.literal_eval(value)
    return values


def page_names(executed: list[Path]) -> dict[Path, tuple[str, str]]:
    """Each executed notebook's page name and the source notebook it came from: the source's own
    name for the run with its default learning rate (02_lenet5_1e-3.ipynb -> 02_lenet5), its own
    name for another (02_lenet5_1e-2)."""
    import nbformat

    sources, pages = source_notebooks(), {}
    for path in sorted(executed):
        stem = next((s for s in sources if path.stem.startswith(s)), None)
        if stem is None:
            continue
        ran = nbformat.read(path, as_version=4).metadata.get("papermill", {}).get("parameters", {})
        default = "lr" not in ran or ran["lr"] == default_parameters(sources[stem]).get("lr")
        pages[path] = (stem if default or path.stem == stem else path.stem, stem)
    return pages


def repository_url(path: str) -> str:
    from .colab import REF, repository

    return f"{repository()}/blob/{REF}/{path}"


def rewrite_links(text: str, base: str, pages: dict[str, str]) -> str:
    """Markdown links of a file at `base` (a folder of the repository, '' for the root) as the site
    needs them: repository files that are pages link to their page, asset/ to the site's copy,
    anything else to the repository."""

    def one(match: re.Match) -> str:
        target = match.group(2)
        if re.match(r"^[a-z]+:|^#|^/|^_static/", target):
            return match.group(0)
        path, _, anchor = target.partition("#")
        resolved = str(Path(base, path)).replace("\\", "/")
        parts = []
        for part in resolved.split("/"):
            if part == "..":
                parts = parts[:-1]
            elif part not in ("", "."):
                parts.append(part)
        resolved = "/".join(parts)
        if resolved in pages:
            new = pages[resolved]
        elif resolved.startswith("asset/"):
            new = resolved
        else:
            new = repository_url(resolved)
        return f"{match.group(1)}{new}{'#' + anchor if anchor else ''}{match.group(3)}"

    for remote, local in BADGE_IMAGES.items():
        text = text.replace(f"]({remote})", f"]({local})")
    return LINK.sub(one, text)


def _text(outputs) -> str:
    return "\n".join(str(o.get("text", "")) + "".join(map(str, o.get("data", {}).values())) for o in outputs)


def _defined(source: str) -> set[str]:
    """The names a cell defines at its top level (its functions, classes, variables)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    return names | {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}


def _used(source: str) -> set[str]:
    """The names a cell reads (not those it imports under another name)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set(re.findall(r"\w+", source))
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def clear_exercises(nb):
    """The student version of an executed notebook's exercises, cleared by the nbgrader
    preprocessors that generate_assignment uses for them (solutions, hidden tests), and no output
    that gives an answer away: not the exercise and test cells' own, not one that prints a line of
    a solution (a cell showing the library's version), not one of a later cell that uses a name a
    solution defines."""
    import nbformat
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

    answers, defined = [], set()
    for cell in nb.cells:
        grading = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and (grading.get("solution") or grading.get("grade")):
            cell.outputs, cell.execution_count = [], None
        if SOLUTION.search(cell.source):
            answers += [line.strip() for block in SOLUTION.findall(cell.source)
                        for line in block.splitlines() if len(line.strip()) > 25]
            defined |= _defined(cell.source) if cell.cell_type == "code" else set()
        elif cell.cell_type == "code" and not grading and defined & _used(cell.source):
            cell.outputs = [nbformat.v4.new_output("stream", text=LEFT_OUT)]
    for preprocessor in (ClearSolutions(), ClearHiddenTests()):
        nb, _ = preprocessor.preprocess(nb, {})
    handed_out = "\n".join(c.source for c in nb.cells)
    telling = [line for line in answers if line not in handed_out]
    for cell in nb.cells:
        if cell.cell_type == "code" and any(line in _text(cell.outputs) for line in telling):
            cell.outputs = [nbformat.v4.new_output("stream", text=LEFT_OUT)]
    return nb


def without_widgets(nb) -> None:
    """Widget outputs (a progress bar, a slider, an upload button) as a note, and no widget state:
    myst-nb would load the widgets' JavaScript from a CDN for a page that cannot run them."""
    import nbformat

    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code" and any(WIDGET in o.get("data", {}) for o in cell.outputs):
            kept = [o for o in cell.outputs if WIDGET not in o.get("data", {})]
            cell.outputs = kept + [nbformat.v4.new_output("stream", text=STILL)]


PATHS = re.compile(r"_dirs?$|^photo$")  # parameters that name places on the machine that ran the notebook


def ran_with(nb, source: Path) -> str:
    """The parameters a job injected that differ from the notebook's defaults (folders aside), as
    `lr = 0.01, epochs = 20`: the page shows the defaults' cell, not the injected one."""
    defaults = default_parameters(source)
    injected = nb.metadata.get("papermill", {}).get("parameters", {})
    return ", ".join(f"{k} = {v!r}" for k, v in injected.items() if not PATHS.search(k) and defaults.get(k) != v)


def student_page(executed: Path, links: dict[str, str], variants: dict[str, str]):
    """An executed notebook as its site page: the student version of its exercises
    (clear_exercises), papermill's injected parameters replaced by a note of those that differ
    from the defaults, markdown links rewritten, the Colab badges under the title. `variants`
    names the pages of the same notebook at another rate ({page: "lr 1e-2"}): a variant's title
    says its rate, and each links the others."""
    import nbformat

    from .colab import badges
    from .records import format_lr

    nb = nbformat.read(executed, as_version=4)
    nb.metadata.setdefault("kernelspec", {}).setdefault("language", "python")
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    nb = clear_exercises(nb)
    without_widgets(nb)
    for cell in nb.cells[1:]:
        if cell.cell_type == "markdown":
            cell.source = rewrite_links(cell.source, "notebooks", links)
    source = next(s for s in source_notebooks().values() if executed.stem.startswith(s.stem))
    title, _, rest = nb.cells[0].source.partition("\n")
    notes, variant = [], variants.get(executed.stem)
    changed = ran_with(nb, source)
    if changed:
        notes.append(f"This page is the notebook as a job ran it, with {changed}; its parameters cell below "
                     "shows the defaults.")
    if variant:
        title += f" ({variant})"
        default_lr = format_lr(default_parameters(source)["lr"])
        notes.append(f"[The notebook's own page]({source.stem}.ipynb) shows it at its default rate, lr {default_lr}.")
    elif variants:
        notes.append("The same notebook at the original's other rate: "
                     + ", ".join(f"[{label}]({page}.ipynb)" for page, label in variants.items()) + ".")
    note = f"*{' '.join(notes)}*\n" if notes else ""
    nb.cells[0].source = rewrite_links("\n\n".join([title, badges(source.name), note + rest]), "notebooks", links)
    return nb


def stage(executed_dir: Path, staging: Path) -> list[str]:
    """Write the site's sources into `staging`: conf.py, the README as index.md, docs/*.md, the
    executed notebooks as student pages, asset/. Returns the notebook pages' names in order."""
    import nbformat

    from .records import format_lr

    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    named = page_names(list(Path(executed_dir).glob("*.ipynb")))
    if not named:
        raise CifarHelpersError(f"No executed notebooks of the series in {executed_dir}: run the job first "
                                "(python3 tasks.py run), then build its site.")
    links = {"README.md": "index.md", **{f"docs/{p.name}": p.name for p in DOCS_DIR.glob("*.md")},
             **{f"notebooks/{stem}.ipynb": f"{stem}.ipynb" for page, stem in named.values() if page == stem}}
    variants = {stem: {} for _, stem in named.values()}
    for path, (page, stem) in named.items():
        if page != stem:
            lr = nbformat.read(path, as_version=4).metadata["papermill"]["parameters"]["lr"]
            variants[stem][page] = f"lr {format_lr(lr)}"
    for path, (page, stem) in named.items():
        nbformat.write(student_page(path, links, variants[stem]), staging / f"{page}.ipynb")
    guides = sorted(DOCS_DIR.glob("*.md"))
    for page in guides:
        (staging / page.name).write_text(rewrite_links(page.read_text(), "docs", links))
    shutil.copyfile(DOCS_DIR / "conf.py", staging / "conf.py")
    shutil.copytree(DOCS_DIR / "_static", staging / "_static")
    try_page.build(staging / "_static" / "try", load_cifar10())
    shutil.copytree(REPO / "asset", staging / "asset")
    readme = (REPO / "README.md").read_text()
    # The sidebar lists the guides in the order the README's links name them.
    guides.sort(key=lambda p: (readme.find(f"docs/{p.name}") % (len(readme) + 1), p.name))
    pages = sorted(page for page, _ in named.values())
    series = [p for p in pages if p in source_notebooks()]
    index = rewrite_links(readme, "", links) + toctree("The series", series)
    index += toctree("Guides", [p.stem for p in guides])
    index += toctree("Reruns at the original's other rate", sorted(set(pages) - set(series)))
    (staging / "index.md").write_text(index)
    return pages


def toctree(caption: str, entries: list[str]) -> str:
    """A hidden toctree: the sidebar's navigation (the README's own lists link the pages)."""
    if not entries:
        return ""
    return "\n\n```{toctree}\n:hidden:\n:maxdepth: 1\n:caption: " + caption + "\n\n" + "\n".join(entries) + "\n```\n"


def build(executed_dir, site_dir=None) -> Path:
    """Build the site of the notebooks executed into `executed_dir` (default: its site/ beside
    them), with Sphinx's warnings as errors; returns the path of its front page."""
    executed_dir = Path(executed_dir)
    site_dir = Path(site_dir or executed_dir / "site")
    staging = executed_dir / ".site-source"
    stage(executed_dir, staging)
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "-d",
               str(staging / ".doctrees"), str(staging), str(site_dir)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        problems = " | ".join(line.strip() for line in (result.stderr or result.stdout).strip().splitlines()[-12:])
        raise CifarHelpersError(f"The website of {executed_dir} did not build (Sphinx, warnings as errors): "
                                f"{problems}. Fix the page it names (a notebook's markdown, README.md or docs/) "
                                f"and build again: python -m cifar_helpers site {executed_dir}.")
    shutil.rmtree(staging)  # kept only when the build fails, to read
    shutil.rmtree(site_dir.parent / "jupyter_execute", ignore_errors=True)  # myst-nb's copies of the pages
    return site_dir / "index.html"


def announce(index: Path) -> None:
    """Say where the site is and how to read it."""
    try:
        shown = index.relative_to(Path.cwd())
    except ValueError:
        shown = index
    print(f"\nWebsite of the executed series: {shown}\n"
          f"Open it in a browser, or serve it and open http://localhost:8000 :\n"
          f"  python3 -m http.server 8000 --directory {shown.parent}", flush=True)


def main(argv: list[str] | None = None) -> int:
    import argparse

    from .command import run_command

    parser = argparse.ArgumentParser(prog="python -m cifar_helpers site", description=__doc__)
    parser.add_argument("executed", nargs="?", default="runs/full",
                        help="the folder of a job's executed notebooks (default: runs/full, the main job's)")
    parser.add_argument("--out", help="where to write the site (default: its site/ folder)")
    args = parser.parse_args(argv)
    return run_command(lambda: announce(build(project_path(args.executed), args.out)))
