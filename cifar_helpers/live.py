"""A learning curve that grows while a network trains: loss and accuracy redrawn in one figure as
each epoch ends, in place (d2l's Animator, fastai's recorder plot), beside the progress bar. It
draws what plots.learning_curves draws once a run is done (plot_epochs, style_axes).

In JupyterLab the figure is redrawn after every epoch. Headless (the main job sets
CIFAR_PROGRESS=text; papermill and nbclient keep only an output's last version anyway) and
outside a notebook it is drawn once, by `close()`, so an executed notebook holds one figure."""

from __future__ import annotations

import math
import os


def in_a_notebook() -> bool:
    """True in a Jupyter kernel (JupyterLab, Colab, papermill's), False in a terminal or a script."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ != "TerminalInteractiveShell" and hasattr(shell, "kernel")


def plot_epochs(loss_ax, acc_ax, history, label: str = "", single: bool = True, smoothed: bool = False) -> None:
    """One run's curves from its history: a DataFrame (a record's) or a dict of columns (the
    epochs so far). One run alone: train and test, the original's training-set accuracy (eval
    mode) and validation where measured; `single=False`: its test curves only, named `label`."""
    epochs = list(history["epoch"])

    def line(ax, name, style, text):
        if name in history:
            values = [math.nan if v is None else v for v in history[name]]
            shown = [(e, v) for e, v in zip(epochs, values) if not math.isnan(v)]
            if shown:
                ax.plot(*zip(*shown), style, **({"ms": 10} if style == "*" else {}), label=text)

    if single:
        smoothing = ", smoothed targets" if smoothed else ""
        line(loss_ax, "train_loss", ".-", f"train (running, during the epoch{smoothing})")
        line(acc_ax, "train_acc", ".-", "train (running, during the epoch)")
        line(acc_ax, "train_eval_acc", ".--", "train set, eval mode (the original's 'Accuracy')")
        line(acc_ax, "val_acc", ".-", "validation (held out of training)")
    line(loss_ax, "test_loss", ".-", f"{label}test")
    line(acc_ax, "test_acc", ".-", f"{label}test")
    line(acc_ax, "test_tta_acc", "*", f"{label}test, test-time augmentation")


def style_axes(loss_ax, acc_ax) -> None:
    from matplotlib.ticker import MaxNLocator

    loss_ax.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    for ax in (loss_ax, acc_ax):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


class LiveCurve:
    """Call `add(row)` after each epoch with the epoch's measurements (a dict with `epoch` and any of
    a record's history columns: train_loss, test_acc, ...), `close()` at the end. `title` names the
    figure; `history`, the rows of the epochs before (a resumed run's curve starts at its beginning)."""

    def __init__(self, title: str = "", epochs: int | None = None, history=(), smoothed: bool = False):
        self.title, self.epochs, self.rows, self.smoothed = title, epochs, list(history), smoothed
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
        """The figure of the epochs so far, as plots.learning_curves draws a finished run."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(11, 4), layout="constrained")
        loss_ax, acc_ax = fig.subplots(1, 2)
        names = {name: None for row in self.rows for name in row}
        plot_epochs(loss_ax, acc_ax, {name: [row.get(name) for row in self.rows] for name in names},
                    smoothed=self.smoothed)
        style_axes(loss_ax, acc_ax)
        last = self.rows[-1]["epoch"]
        loss_ax.set_xlim(0.5, max(self.epochs or 1, last) + 0.5)
        acc_ax.set_xlim(0.5, max(self.epochs or 1, last) + 0.5)
        fig.suptitle(f"{self.title} (epoch {last}{f' of {self.epochs}' if self.epochs else ''})")
        return fig

    def _draw(self) -> None:
        from IPython.display import display

        fig = self.figure()
        if self.handle is None:
            self.handle = display(fig, display_id=True)
        else:
            self.handle.update(fig)
