"""Show the code a notebook teaches: the source of the class or function that really runs, so
what a student reads cannot drift from what trains."""

from __future__ import annotations

import html
import inspect


class Collapsed:
    """Code folded under a line that says what it is (an HTML <details>), for a listing that would
    give an exercise's answer away to a reader scrolling past; plain text shows the source."""

    def __init__(self, code, summary: str):
        self.code, self.summary = code, summary

    def _repr_html_(self) -> str:
        return (f"<details><summary>{html.escape(self.summary)}</summary>\n"
                f"{self.code._repr_html_()}\n</details>")

    def __repr__(self) -> str:
        return f"{self.summary}\n\n{self.code.data}"


def show_code(obj, collapsed: str | None = None):
    """The source of `obj`, highlighted in JupyterLab (plain text under papermill); with
    `collapsed`, folded under that line until the reader opens it."""
    from IPython.display import Code

    code = Code(inspect.getsource(obj), language="python")
    return Collapsed(code, collapsed) if collapsed else code
