"""Every figure a notebook draws is readable (issue 36): no text labels overlapping or touching, no
axis or title reading "None", no legend over the bars it explains. The check (tests/readable.py)
runs inside the kernels of the executed series, on each figure as it is drawn; here it is first
shown to catch each fault on a figure made to have it."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import seaborn as sns  # noqa: E402

from conftest import NOTEBOOKS  # noqa: E402
from readable import problems, read_report  # noqa: E402


def test_a_clean_figure_has_no_problem():
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(range(3), [1, 2, 3], label="bars")
    ax.set(xticks=range(3), xticklabels=["one", "two", "three"], xlabel="class", ylabel="count", title="Clean")
    ax.legend(loc="upper left")
    assert problems(fig) == []
    plt.close(fig)


def test_overlapping_and_touching_labels_are_found():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.text(0.1, 0.5, "16 × 10 × 10")
    ax.text(0.12, 0.5, "16 × 5 × 5")
    ax.axis("off")
    assert any("overlap" in p for p in problems(fig))
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 2))
    first = ax.text(0.1, 0.5, "16 × 10 × 10")
    fig.draw_without_rendering()
    box = first.get_window_extent(fig._get_renderer())
    right_edge = ax.transData.inverted().transform((box.x1 + 0.5, box.y0))[0]
    ax.text(right_edge, 0.5, "16 × 5 × 5")  # half a pixel to its right: they read as one label
    ax.axis("off")
    assert any("touch" in p for p in problems(fig))
    plt.close(fig)


def test_crowded_tick_labels_are_found():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.bar(range(10), range(10))
    ax.set_xticks(range(10), ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"])
    assert any("'airplane' and 'automobile'" in p for p in problems(fig))
    plt.close(fig)


def test_an_axis_labelled_none_is_found():
    accuracy = pd.Series([50.0, 60.0], index=["cat", "dog"])  # an index without a name
    fig, ax = plt.subplots()
    sns.barplot(x=accuracy.index, y=accuracy.values, ax=ax)
    ax.set_xlabel(str(accuracy.index.name))
    assert any("'None'" in p for p in problems(fig))
    plt.close(fig)


def test_a_legend_over_a_bar_is_found():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.bar(range(4), [5000, 5000, 5000, 5000], label="train")
    ax.legend(loc="upper right")
    assert any("covers a bar" in p for p in problems(fig))
    plt.close(fig)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_every_figure_the_notebook_draws_is_readable(executed_series, notebook):
    drawn = read_report(executed_series / f"{notebook.stem}.figures.jsonl")
    assert len(drawn) >= 2, f"{notebook.name}: only {len(drawn)} figures were checked (is the check running?)"
    unreadable = {d["title"]: d["problems"] for d in drawn if d["problems"]}
    assert unreadable == {}, unreadable
