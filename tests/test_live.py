"""The learning curve that grows while fit trains (cifar_helpers/live.py): in JupyterLab one figure
redrawn in place after every epoch; headless one figure, drawn at the end; outside a notebook none.
The browser test watches it grow in JupyterLab itself."""

import pytest

from cifar_helpers import live

ROWS = [{"epoch": e, "train_loss": 2.0 / e, "test_loss": 2.1 / e, "train_acc": 30.0 + e, "test_acc": 28.0 + e}
        for e in (1, 2, 3)]


class Handle:
    def __init__(self, shown):
        self.shown = shown

    def update(self, fig):
        self.shown.append(("update", fig))


@pytest.fixture
def shown(monkeypatch):
    """What the curve sends to the notebook: ('display' | 'update', figure) in order."""
    sent = []

    def display(fig, display_id=False):
        sent.append(("display", fig))
        return Handle(sent)

    monkeypatch.setattr("IPython.display.display", display)
    monkeypatch.setattr(live, "in_a_notebook", lambda: True)
    return sent


def test_in_jupyterlab_one_figure_is_redrawn_after_every_epoch(shown, monkeypatch):
    monkeypatch.delenv("CIFAR_PROGRESS", raising=False)
    curve = live.LiveCurve("lenet5 lr=1e-3", epochs=3)
    for row in ROWS:
        curve.add(row)
    curve.close()
    assert [kind for kind, _ in shown] == ["display", "update", "update"]
    loss, accuracy = shown[-1][1].axes
    assert [len(line.get_xdata()) for line in loss.lines + accuracy.lines] == [3, 3, 3, 3]
    assert [line.get_label() for line in accuracy.lines] == ["train (running, during the epoch)", "test"]
    assert "epoch 3 of 3" in shown[-1][1]._suptitle.get_text()
    assert len(shown[0][1].axes[0].lines[0].get_xdata()) == 1  # the first version had one epoch


def test_headless_it_is_drawn_once_at_the_end(shown, monkeypatch):
    monkeypatch.setenv("CIFAR_PROGRESS", "text")  # the main job's runner sets it
    curve = live.LiveCurve("own-network lr=1e-2", epochs=3, history=ROWS[:1])  # resumed after epoch 1
    for row in ROWS[1:]:
        curve.add(row)
    assert shown == []
    curve.close()
    assert [kind for kind, _ in shown] == ["display"]
    assert list(shown[0][1].axes[1].lines[1].get_xdata()) == [1, 2, 3]


def test_outside_a_notebook_nothing_is_drawn(monkeypatch):
    monkeypatch.delenv("CIFAR_PROGRESS", raising=False)
    assert not live.in_a_notebook()  # pytest is no kernel
    drawn = []
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: drawn.append(a))
    curve = live.LiveCurve("lenet5", epochs=3)
    for row in ROWS:
        curve.add(row)
    curve.close()
    assert drawn == []
