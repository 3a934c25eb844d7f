"""Show the code a notebook teaches: the source of the class or function that really runs, so
what a student reads cannot drift from what trains."""

from __future__ import annotations

import inspect


def show_code(obj):
    """The source of `obj`, highlighted in JupyterLab (plain text under papermill)."""
    from IPython.display import Code

    return Code(inspect.getsource(obj), language="python")
