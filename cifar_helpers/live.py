"""A learning curve that grows while a network trains: loss and accuracy redrawn in one figure as
each epoch ends, in place (d2l's Animator, fastai's recorder plot), beside the progress bar.

In JupyterLab the figure is redrawn after every epoch. Headless (the main job sets
CIFAR_PROGRESS=text; papermill and nbclient keep only an output's last version anyway) and
outside a notebook it is drawn once, by `close()`, so an executed notebook holds one figure."""

from __future__ import annotations

import os

# What each panel plots: history column -> (panel, label, line style)
SERIES = {"train_loss": (0, "train", "-"), "test_loss": (0, "test", "-"),
          "train_acc": (1, "train", "-"), "test_acc": (1, "test", "-"), "val_acc": (1, "validation", ":")}


def in_a_notebook() -> bool:
    """True in a Jupyter kernel (JupyterLab, Colab, papermill's), False in a terminal or a script."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ != "TerminalInteractiveShell" and hasattr(shell, "kernel")


class LiveCurve:
    """Call `add(row)` after each epoch with the epoch's measurements (a dict with `epoch` and any of
    SERIES' columns), `close()` at the end. `title` names the figure; `history`, the rows of the
    epochs before (a resumed run's curve starts at its beginning)."""

    def __init__(self, title: str = "", epochs: int | None = None, history=()):
        self.title, self.epochs, self.rows = title, epochs, list(history)
        self.live = in_a_notebook() and os.environ.get("CIFAR_PROGRESS") != "text"
        self.handle = None

    def add(self, row: dict) -> None:
        self.rows.append(row)
        if self.live:
            self._draw()

    def close(self) -> None:
        """Draw the last version where nothing was drawn live (headless: once)."""
        if self.rows and in_a_notebook() and not self.live:
            self._draw()

    def figure(self):
        """The figure of the epochs so far: loss on the left, accuracy (%) on the right."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(9, 3.2), layout="constrained")
        axes = fig.subplots(1, 2)
        epochs = [row["epoch"] for row in self.rows]
        for column, (panel, label, style) in SERIES.items():
            values = [row.get(column) for row in self.rows]
            if any(v is not None for v in values):
                axes[panel].plot(epochs, values, style, marker="o", markersize=3, label=label)
        for ax, name in zip(axes, ("loss", "accuracy (%)")):
            ax.set_xlabel("epoch")
            ax.set_ylabel(name)
            ax.set_xlim(0.5, max(self.epochs or 1, epochs[-1]) + 0.5)
            ax.grid(alpha=0.3)
            ax.legend(loc="best", fontsize="small")
        fig.suptitle(f"{self.title} (epoch {epochs[-1]}{f' of {self.epochs}' if self.epochs else ''})")
        return fig

    def _draw(self) -> None:
        from IPython.display import display

        fig = self.figure()
        if self.handle is None:
            self.handle = display(fig, display_id=True)
        else:
            self.handle.update(fig)
