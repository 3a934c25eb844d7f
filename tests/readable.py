"""What makes a figure unreadable, where matplotlib can tell: text labels that overlap, an axis or
title that reads "None" (a pandas index without a name), a legend drawn over the bars it explains.
`watch_figures` makes every kernel papermill starts check each figure it draws (an IPython startup
file patches the canvas's `print_figure`, which both the inline display and `savefig` go through)."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

import matplotlib.text
from matplotlib.patches import Rectangle

GAP = 2.0  # pixels (at 100 dpi) that two labels need between them to read as two


def _overlap(a, b, gap: float = 0.0) -> bool:
    """Whether two boxes overlap, or, side by side on one line, come closer than `gap` pixels."""
    return min(a.x1, b.x1) - max(a.x0, b.x0) > -gap and min(a.y1, b.y1) - max(a.y0, b.y0) > 0


def _drawn_texts(fig, renderer) -> list:
    """The visible, non-empty texts a draw puts on the figure: tick labels only of ticks inside the
    axis's view (matplotlib keeps others, stale, and does not draw them), and none of an axis
    turned off."""
    tick_labels, drawn = set(), set()
    for ax in fig.axes:
        for axis in ax._axis_map.values():
            for tick in axis.majorTicks + axis.minorTicks:
                tick_labels |= {id(tick.label1), id(tick.label2)}
            tick_labels.add(id(axis.label))
            if ax.axison and axis.get_visible():  # ax.set_axis_off() hides ticks and axis labels
                drawn.add(id(axis.label))
                for tick in axis._update_ticks():
                    drawn |= {id(tick.label1), id(tick.label2)}
    texts = []
    for text in fig.findobj(matplotlib.text.Text):
        if not text.get_visible() or not text.get_text().strip():
            continue
        if id(text) in tick_labels and id(text) not in drawn:
            continue
        if text.axes is not None and not text.axes.get_visible():
            continue
        texts.append(text)
    return texts


def problems(fig) -> list[str]:
    """What a reader cannot read in `fig`, one sentence each; [] when nothing is found."""
    fig.draw_without_rendering()  # lays it out as a draw does, whatever the backend
    renderer = fig._get_renderer()
    texts = _drawn_texts(fig, renderer)
    found = [f"a label reads 'None' (at {t.get_position()})" for t in texts if t.get_text().strip() == "None"]
    boxes = [(t, t.get_window_extent(renderer)) for t in texts]
    for i, (a, box_a) in enumerate(boxes):
        for b, box_b in boxes[i + 1:]:
            if _overlap(box_a, box_b, GAP * fig.dpi / 100):
                found.append(f"labels overlap or touch: {a.get_text()!r} and {b.get_text()!r}")
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None or not legend.get_visible():
            continue
        box = legend.get_window_extent(renderer)
        for patch in ax.patches:
            if isinstance(patch, Rectangle) and patch.get_visible() and patch.get_height() and patch.get_width():
                if _overlap(box, patch.get_window_extent(renderer), -1.0):
                    found.append(f"the legend of {ax.get_title()!r} covers a bar")
                    break
    return found


STARTUP = '''\
"""Written by tests/readable.py: check every figure this kernel draws."""
import json, sys
sys.path.insert(0, {tests!r})
import matplotlib.backend_bases
import readable

_print_figure = matplotlib.backend_bases.FigureCanvasBase.print_figure

def _checked(self, *args, **kwargs):
    try:
        found = readable.problems(self.figure)
    except Exception as exc:  # the check must never break the notebook it watches
        found = [f"the readability check failed: {{type(exc).__name__}}: {{exc}}"]
    with open({report!r}, "a") as report:
        report.write(json.dumps({{"title": readable.title(self.figure), "problems": found}}) + "\\n")
    return _print_figure(self, *args, **kwargs)

matplotlib.backend_bases.FigureCanvasBase.print_figure = _checked
'''


def title(fig) -> str:
    """A figure's name in a report: its suptitle, else its axes' titles."""
    suptitle = fig.get_suptitle() if hasattr(fig, "get_suptitle") else ""  # matplotlib 3.8+
    if suptitle:
        return suptitle
    return " | ".join(t for t in (ax.get_title() for ax in fig.axes) if t) or "(untitled)"


@contextmanager
def watch_figures(folder: Path):
    """Inside: kernels started from this process check each figure they draw into
    folder/figures.jsonl (one line per figure drawn: its title and its problems)."""
    startup = folder / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    report = folder / "figures.jsonl"
    (startup / "00-readable.py").write_text(STARTUP.format(tests=str(Path(__file__).parent), report=str(report)))
    before = os.environ.get("IPYTHONDIR")
    os.environ["IPYTHONDIR"] = str(folder / "ipython")
    try:
        yield report
    finally:
        if before is None:
            del os.environ["IPYTHONDIR"]
        else:
            os.environ["IPYTHONDIR"] = before


def read_report(report: Path) -> list[dict]:
    return [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []
