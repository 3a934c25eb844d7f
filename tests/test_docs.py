"""The README is a front page read in two minutes; the pages in docs/ hold the rest, each titled,
linked from it, in plain Markdown, with every relative link and anchor pointing at something that exists."""

import re

import pytest

from cifar_helpers.paths import REPO
from cifar_helpers.tables import documentation_files

PAGES = sorted((REPO / "docs").glob("*.md"))
FENCED = re.compile(r"^```.*?^```", re.M | re.S)


def prose(text: str) -> str:
    """What a reader reads as sentences: no code blocks, inline code, tables or markers; a link is its text."""
    text = re.sub(r"`[^`]*`", "code", FENCED.sub("", text))
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(("|", "<!--")))


def anchors(path) -> set[str]:
    """The headings' anchors as GitHub and MyST (myst_heading_anchors) spell them."""
    headings = re.findall(r"^#+ (.+)$", FENCED.sub("", path.read_text()), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_the_readme_is_a_front_page_linking_every_page():
    readme = (REPO / "README.md").read_text()
    assert len(prose(readme).split()) <= 600
    assert PAGES and {f"docs/{page.name}" for page in PAGES} <= set(re.findall(r"\]\((docs/[\w-]+\.md)\)", readme))


@pytest.mark.parametrize("path", documentation_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_titled_plain_markdown_whose_links_resolve(path):
    text = path.read_text()
    assert text.startswith("# ") and len(re.findall(r"^# ", FENCED.sub("", text), re.M)) == 1
    html = re.findall(r"<(/?[A-Za-z][\w-]*)", re.sub(r"`[^`]*`", "", FENCED.sub("", text)))
    assert set(html) <= {"details", "/details", "summary", "/summary"}, html
    for target in re.findall(r"\]\(([^)\s]+)\)", FENCED.sub("", text)):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        assert resolved.is_file(), f"{path.name} links to {target}, which does not exist"
        assert resolved.is_relative_to(REPO), target
        if anchor:
            assert anchor in anchors(resolved), f"{path.name} links to {target}: no such heading"
