"""The figures of the series. Each function returns a matplotlib Figure; `save` writes it."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch

from .live import plot_epochs, style_axes
from .paths import REPO, RESULTS_DIR, project_path
from .records import format_lr


def save(fig, path) -> Path:
    """Write a figure as PNG, creating its folder; returns the path (a relative one is taken from
    the repository root)."""
    path = project_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


SHOWN_GRID = {"per_class": 10, "seed": 0}  # the settings of asset/cifar.png, the grid docs/results.md shows


def save_image_grid(fig, figures_dir, per_class: int, seed: int, experiments_dir="runs/figures") -> Path:
    """Save notebook 01's grid: as cifar.png in figures_dir when drawn with the shown settings;
    drawn with others it is an experiment, saved under experiments_dir with its settings in its name."""
    if dict(per_class=per_class, seed=seed) == SHOWN_GRID:
        return save(fig, project_path(figures_dir) / "cifar.png")
    path = save(fig, project_path(experiments_dir) / f"cifar_{per_class}-per-class_seed-{seed}.png")
    print(f"Saved {path.relative_to(REPO) if path.is_relative_to(REPO) else path}: {figures_dir} keeps "
          f"the grid of {SHOWN_GRID['per_class']} images per class, seed {SHOWN_GRID['seed']}.")
    return path


def shipped(run) -> bool:
    """Whether a run (a Run, or its folder) is one shipped with the series, under results/: loaded
    from there, not trained here."""
    folder = project_path(getattr(run, "path", run)).resolve()
    return folder.is_relative_to(project_path(RESULTS_DIR).resolve())


def figure_path(name: str, figures_dir, runs) -> Path:
    """Where a figure drawn from `runs` (a Run or a run folder, or a list of them) belongs: in
    figures_dir (asset/, the figures the pages in docs/ show) when every run is a shipped one; otherwise
    with the first run that is not: beside its record.json for a figure of one run, in the folder
    that holds it for a figure of several. An experiment never overwrites the shipped figures."""
    runs = list(runs) if isinstance(runs, (list, tuple)) else [runs]
    experiments = [project_path(getattr(run, "path", run)) for run in runs if not shipped(run)]
    if not experiments:
        return project_path(figures_dir) / name
    return (experiments[0] if len(runs) == 1 else experiments[0].parent) / name


def save_run_figure(fig, runs, name: str, figures_dir="asset") -> Path:
    """Save a figure drawn from `runs` where figure_path says, and say where when that is not
    figures_dir; returns the path."""
    path = save(fig, figure_path(name, figures_dir, runs))
    if path.parent != project_path(figures_dir):
        shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        print(f"Saved {shown}, beside the run: {figures_dir} keeps the figures of the runs shipped in results/.")
    return path


def run_title(run, title: str) -> str:
    """A figure's title for one run: `title` for a shipped run (the full runs the pages in docs/ show);
    for any other, followed by what the run is (its epochs, its training and test images when it
    used part of them, its seed), so that a quick experiment's figure never passes for the full run."""
    if shipped(run):
        return title
    config = run.config
    parts = [f"{config.epochs} epoch{'' if config.epochs == 1 else 's'}"]
    if config.subset:
        parts.append(f"{config.subset:,} training images")
    if config.test_subset:
        parts.append(f"{config.test_subset:,} test images")
    parts.append(f"seed {config.seed}")
    return f"{title} ({', '.join(parts)})"


def _show(ax, image: torch.Tensor, title: str | None = None) -> None:
    ax.imshow(image.permute(1, 2, 0).numpy())
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def image_grid(images: torch.Tensor, labels: torch.Tensor, classes, per_class: int = 10, seed: int = 0):
    """`per_class` random images of each class, one row per class (like the original README's figure)."""
    generator = torch.Generator().manual_seed(seed)
    fig, axes = plt.subplots(len(classes), per_class, figsize=(per_class * 0.9, len(classes) * 0.9))
    for c, name in enumerate(classes):
        members = torch.nonzero(labels == c).flatten()
        chosen = members[torch.randperm(len(members), generator=generator)[:per_class]]
        for k, index in enumerate(chosen):
            _show(axes[c, k], images[index])
        axes[c, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    return fig


def class_counts(data):
    """Images per class in each split, as bars."""
    import pandas as pd

    rows = [(split, data.classes[c], int(n))
            for split, labels in (("train", data.train_labels), ("test", data.test_labels))
            for c, n in enumerate(torch.bincount(labels, minlength=len(data.classes)))]
    table = pd.DataFrame(rows, columns=["split", "class", "images"])
    fig, ax = plt.subplots(figsize=(8, 4))
    sns.barplot(table, y="class", x="images", hue="split", ax=ax, orient="h")
    ax.set(ylabel="", xlabel="images", title="Images per class")
    ax.legend(title="split", loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the bars, never over one
    fig.tight_layout()
    return fig


def pixel_histograms(images: torch.Tensor):
    """How often each pixel value occurs, per colour channel."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for c, colour in enumerate(("red", "green", "blue")):
        counts = torch.bincount(images[:, c].reshape(-1), minlength=256).numpy()
        ax.plot(np.arange(256), counts / counts.sum(), color=colour, label=colour)
    ax.set_xlabel("pixel value")
    ax.set_ylabel("share of pixels")
    ax.legend()
    ax.set_title("Pixel value histogram per channel")
    return fig


def class_pairs(images: torch.Tensor, labels: torch.Tensor, classes, pairs, per_class: int = 6, seed: int = 0):
    """Rows of images from classes that are easy to confuse, pair by pair."""
    generator = torch.Generator().manual_seed(seed)
    rows = [name for pair in pairs for name in pair]
    fig, axes = plt.subplots(len(rows), per_class, figsize=(per_class * 1.1, len(rows) * 1.1))
    for r, name in enumerate(rows):
        members = torch.nonzero(labels == classes.index(name)).flatten()
        for k, index in enumerate(members[torch.randperm(len(members), generator=generator)[:per_class]]):
            _show(axes[r, k], images[index])
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    return fig


def learning_curves(runs, title: str | None = None):
    """Loss and accuracy per epoch. One run: train vs test (and the original's training-set
    accuracy, eval mode). Several runs: their test curves overlaid. The curve fit draws while it
    trains is the same one, growing (live.LiveCurve)."""
    runs = runs if isinstance(runs, (list, tuple)) else [runs]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for run in runs:
        label = "" if len(runs) == 1 else f"{run.config.model} lr={format_lr(run.config.lr)} "
        plot_epochs(loss_ax, acc_ax, run.history, label, single=len(runs) == 1,
                    smoothed=bool(run.config.label_smoothing))
    style_axes(loss_ax, acc_ax)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def per_class_bars(accuracy):
    """Per-class accuracy (a pandas Series from evaluate.per_class_accuracy) as bars."""
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.barplot(y=list(accuracy.index), x=accuracy.values, ax=ax, color="tab:blue", orient="h")
    ax.axvline(accuracy.mean(), color="grey", ls="--", label=f"mean {accuracy.mean():.1f}%")
    ax.set(xlabel="test accuracy (%)", ylabel="", xlim=(0, 100), title="Accuracy per class")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return fig


def photo_predictions(photo, seen: torch.Tensor, probabilities: dict, classes):
    """A photo (a PIL image, or None), the 32x32 version the networks see (uint8, (3, 32, 32)),
    and each network's ten class probabilities ({name: tensor of 10}) as bars side by side."""
    names = list(probabilities)
    fig, axes = plt.subplots(1, 2 + len(names), figsize=(3.2 * (2 + len(names)), 3.4),
                             gridspec_kw={"width_ratios": [1.2, 1.2] + [1.4] * len(names)}, layout="constrained")
    fig.get_layout_engine().set(w_pad=0.08)  # room between one panel's "100" and the next one's "0"
    if photo is not None:
        axes[0].imshow(photo)
    axes[0].set_axis_off()
    axes[0].set_title("your photo" if photo is not None else "", fontsize=9)
    axes[1].imshow(seen.permute(1, 2, 0).numpy(), interpolation="nearest")
    axes[1].set_axis_off()
    axes[1].set_title("what the networks see: 32 × 32", fontsize=9)
    for ax, name in zip(axes[2:], names):
        p = 100 * probabilities[name].float()
        best = int(p.argmax())
        ax.barh(range(len(classes)), p.tolist(), color=["tab:orange" if k == best else "tab:blue"
                                                        for k in range(len(classes))])
        ax.set_yticks(range(len(classes)), classes if ax is axes[2] else [""] * len(classes), fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xticks([0, 50, 100], ["0", "50", "100"], fontsize=8)
        ax.set_xlabel("probability (%)", fontsize=8)
        ax.set_title(f"{name}: {classes[best]} ({p[best]:.0f}%)", fontsize=9)
    return fig


def confusion_heatmap(counts: torch.Tensor, classes):
    """Confusion matrix: rows are true classes, columns predictions."""
    fig, ax = plt.subplots(figsize=(7.5, 6))
    sns.heatmap(counts.numpy(), annot=True, fmt="d", cmap="Blues", xticklabels=classes,
                yticklabels=classes, ax=ax, cbar=False, annot_kws={"fontsize": 7})
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix (test set)")
    return fig


def misclassified(images: torch.Tensor, predicted: torch.Tensor, labels: torch.Tensor, classes, n: int = 16):
    """The first `n` test images the network got wrong, titled 'true -> predicted'."""
    wrong = torch.nonzero(predicted != labels).flatten()[:n]
    cols = 8
    rows = max(1, -(-len(wrong) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.3, rows * 1.5), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, index in zip(axes.flat, wrong):
        _show(ax, images[index], f"{classes[labels[index]]}\n-> {classes[predicted[index]]}")
    return fig


def first_layer_filters(model: torch.nn.Module):
    """The first convolution's kernels as little RGB images (each scaled to its own range)."""
    weights = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d)).weight.detach().cpu()
    cols = 8
    rows = -(-len(weights) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols, rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, kernel in zip(axes.flat, weights):
        kernel = (kernel - kernel.min()) / (kernel.max() - kernel.min() + 1e-8)
        _show(ax, kernel)
    fig.suptitle("First-layer filters")
    return fig


def lr_sweep(table, chosen: dict | None = None, suggestions: dict | None = None):
    """Last-epoch accuracy against the learning rate (log axis), one line per model: the mean over
    the seeds with their standard deviation as error bars, and each seed as a dot, so a dead start
    shows as the dot at 10% it is. Left the validation split, which chooses the rate (`chosen`,
    model -> rate, ringed); right the test set, which only reports. The models may have been swept
    for different numbers of epochs, so each line's label says its own; `suggestions` (model ->
    rate) draws the range tests' suggestions as dotted lines."""
    panels = [(column, title) for column, title in (("val_acc", "validation split (chooses the rate)"),
                                                    ("test_acc", "test set (reported, never chooses)"))
              if column in table and table[column].notna().any()]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False, sharey=True)
    epochs = table.groupby("model")["epochs"].agg(lambda e: "/".join(str(n) for n in sorted(e.unique())))
    colors = dict(zip(sorted(table["model"].unique()), sns.color_palette()))
    for ax, (column, title) in zip(axes.flat, panels):
        for model, group in table.groupby("model"):
            color = colors[model]
            stats = group.groupby("lr")[column].agg(["mean", "std"])
            ax.errorbar(stats.index, stats["mean"], yerr=stats["std"].fillna(0), marker="o", capsize=4, color=color,
                        label=f"{model}, {epochs[model]} epochs")
            ax.scatter(group["lr"], group[column], s=14, alpha=0.5, color=color)
            if chosen and model in chosen:
                ax.scatter([chosen[model]], [stats.loc[chosen[model], "mean"]], s=220, facecolors="none",
                           edgecolors=color, linewidths=2, label=f"{model}: chosen on validation")
            if suggestions and model in suggestions:
                ax.axvline(suggestions[model], color=color, ls=":",
                           label=f"{model}: range test suggests {suggestions[model]:.2g}")
        ax.set(xscale="log", xlabel="learning rate", title=title)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("accuracy after the last epoch (%)")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Learning-rate sweep: mean ± std over seeds, each seed a dot")
    return fig


def lr_range(result, title: str | None = None, marks: dict | None = None):
    """A range test's loss against the learning rate (log axis): each step's loss, the smoothed
    one, the suggestion, and other rates to compare (`marks`: legend label -> rate). The loss axis
    is cut to the smoothed loss's dip; the climb beyond it leaves through the top."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(result.lrs, result.losses, color="tab:blue", alpha=0.3, label="loss of each step")
    ax.plot(result.lrs, result.smoothed, color="tab:blue", label="smoothed")
    ax.axvline(result.suggestion, color="tab:green", ls="--", label=f"suggestion {result.suggestion:.2g}")
    for (label, rate), color in zip((marks or {}).items(), ("tab:orange", "tab:red", "tab:purple")):
        ax.axvline(rate, color=color, ls=":", label=label)
    lowest = min(range(len(result.smoothed)), key=result.smoothed.__getitem__)
    low, start = result.smoothed[lowest], max(result.smoothed[:lowest + 1])
    dip = max(start - low, 0.02 * low)  # the axis spans the dip, and as much again on each side
    ax.set(xscale="log", xlabel="learning rate (grown every step)", ylabel="training loss",
           ylim=(low - dip, start + dip), title=title or "Learning-rate range test")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def augmented(images: torch.Tensor, translate: int = 2, reflect: bool = True, versions: int = 6, seed: int = 0):
    """Each image (a row), then `versions` random flips and translations of it, as training sees
    them (batches.crop_and_flip; `reflect`: the uncovered edge mirrored, else black)."""
    from .batches import crop_and_flip

    generator = torch.Generator().manual_seed(seed)
    fig, axes = plt.subplots(len(images), versions + 1, figsize=((versions + 1) * 1.1, len(images) * 1.1),
                             squeeze=False)
    for r, image in enumerate(images):
        _show(axes[r, 0], image, "image" if r == 0 else None)
        moved = crop_and_flip(image.float().expand(versions, -1, -1, -1), generator, translate, reflect).to(torch.uint8)
        for k, version in enumerate(moved, 1):
            _show(axes[r, k], version, "as trained" if r == 0 and k == 1 else None)
    fig.subplots_adjust(wspace=0.05, hspace=0.1)
    return fig


def smoothed_targets(smoothing: float, true_class: int, classes):
    """The target of one image, one-hot and with label smoothing, class by class."""
    one_hot = torch.zeros(len(classes))
    one_hot[true_class] = 1.0
    smoothed = one_hot * (1 - smoothing) + smoothing / len(classes)
    fig, ax = plt.subplots(figsize=(7, 4))
    positions = np.arange(len(classes))
    ax.barh(positions - 0.2, one_hot.numpy(), 0.4, label="one-hot target")
    ax.barh(positions + 0.2, smoothed.numpy(), 0.4, label=f"label smoothing {smoothing:g}")
    ax.set_yticks(positions, classes)
    ax.invert_yaxis()  # the first class on top, as a list reads
    ax.set(xlabel="target probability", title=f"What the loss asks for, for an image of a {classes[true_class]}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return fig


def lr_schedule(config, steps_per_epoch: int):
    """The learning rate of every step of a run with this configuration."""
    from .optim import step_rate

    steps = config.epochs * steps_per_epoch
    rate = step_rate(config, steps)
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(np.arange(steps) / steps_per_epoch, [config.lr * rate(s) for s in range(steps)])
    ax.set(xlabel="epoch", ylabel="learning rate", title=f"Schedule: {config.schedule}, {steps} steps")
    ax.grid(alpha=0.3)
    return fig


def test_time_views(image: torch.Tensor, level: int = 2):
    """The views of one image whose logits test-time augmentation averages (evaluate.tta_views)."""
    from .evaluate import tta_views

    views = tta_views(image.float().unsqueeze(0), level)
    titles = ["image", "mirrored", "up-left", "mirrored, up-left", "down-right", "mirrored, down-right"]
    fig, axes = plt.subplots(1, len(views), figsize=(len(views) * 1.4, 1.8), squeeze=False)
    for ax, view, title in zip(axes[0], views, titles):
        _show(ax, view[0].to(torch.uint8), title)
    return fig


def ablation(table):
    """Test accuracy of the recipe and of the recipe without each ingredient (a DataFrame with
    columns 'run' and 'test_acc', the full recipe's row named 'full recipe'): a dot for each seed,
    a diamond at the mean with the standard deviation as error bar, on an axis that spans the
    results only, since the differences are tenths of a point."""
    fig, ax = plt.subplots(figsize=(7, 0.45 * table["run"].nunique() + 1.2))
    order = table.groupby("run")["test_acc"].mean().sort_values().index
    sns.pointplot(table, y="run", x="test_acc", order=order, ax=ax, color="tab:blue", errorbar="sd",
                  linestyle="none", markers="D", capsize=0.3)
    outside = np.random.get_state()  # seaborn jitters with NumPy's global generator: the same dots every time
    np.random.seed(0)
    sns.stripplot(table, y="run", x="test_acc", order=order, ax=ax, color="black", size=3, jitter=0.15)
    np.random.set_state(outside)
    full = table[table["run"] == "full recipe"]["test_acc"]
    if len(full):
        ax.axvline(full.mean(), color="grey", ls="--", label=f"full recipe {full.mean():.2f}%")
        ax.legend(loc="lower left")  # the best rows sit at the bottom right
    ax.set(xlim=(table["test_acc"].min() - 0.5, table["test_acc"].max() + 0.5),
           xlabel="test accuracy after the last epoch (%)", ylabel="",
           title="The recipe without one ingredient at a time\n(dots: seeds; diamonds: mean ± sd)")
    ax.grid(axis="x", alpha=0.3)
    return fig


def feature_maps(panels: dict):
    """A row of pictures, each titled with its name and shape: an RGB image (3, H, W) as it is,
    a 2-D map (H, W) in grey, or, if it has negative values, from blue (negative) through white
    (0) to red (positive). For the convolution, ReLU and pooling of notebook 02."""
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 2.9), squeeze=False)
    for ax, (name, picture) in zip(axes[0], panels.items()):
        picture = picture.detach().cpu()
        shape = " × ".join(str(s) for s in picture.shape)
        if picture.dim() == 3:
            _show(ax, picture.to(torch.uint8) if picture.dtype == torch.uint8 else picture)
        else:
            signed = bool((picture < 0).any())
            reach = float(picture.abs().max()) or 1.0
            shown = ax.imshow(picture.numpy(), cmap="RdBu_r" if signed else "gray",
                              vmin=-reach if signed else float(picture.min()), vmax=reach if signed else None)
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
        ax.set_title(f"{name}\n{shape}", fontsize=9)
    fig.tight_layout()
    return fig


def channel_sum(x: torch.Tensor, weight: torch.Tensor, bias: float, names=("red", "green", "blue")):
    """How one output map of a Conv2d is made: each input channel of the image x (C, H, W) is
    convolved with its own kernel of weight (C, k, k), and the C results and the bias are summed.
    A row per channel (the channel, its kernel, its result), and the sum on the right."""
    from torch.nn import functional as F

    parts = [F.conv2d(x[c][None, None], weight[c][None, None])[0, 0] for c in range(len(x))]
    total = sum(parts) + bias
    fig = plt.figure(figsize=(9, 1.9 * len(x)), layout="constrained")
    grid = fig.add_gridspec(len(x), 4, width_ratios=[1, 0.8, 1, 1.6])
    reach_w = float(weight.abs().max()) or 1.0
    reach_p = max(float(p.abs().max()) for p in parts) or 1.0
    for c, part in enumerate(parts):
        panels = [(x[c], "gray", None, f"{names[c]} channel"), (weight[c], "RdBu_r", reach_w, "its kernel"),
                  (part, "RdBu_r", reach_p, f"{names[c]}, convolved")]
        for column, (picture, cmap, reach, title) in enumerate(panels):
            ax = fig.add_subplot(grid[c, column])
            ax.imshow(picture.detach().numpy(), cmap=cmap, vmin=-reach if reach else None, vmax=reach)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(title, fontsize=9)
    ax = fig.add_subplot(grid[:, 3])
    reach = float(total.abs().max()) or 1.0
    ax.imshow(total.detach().numpy(), cmap="RdBu_r", vmin=-reach, vmax=reach)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"the map: the {len(x)} results\nadded, plus the bias ({bias:+.2f})", fontsize=9)
    return fig


def batchnorm_effect(before: torch.Tensor, channels=(0, 1, 2)):
    """What BatchNorm does to a batch of feature maps `before` (N, C, H, W): each channel's values
    over the batch, before and after a fresh nn.BatchNorm2d in training mode (mean 0, spread 1 per
    channel; its learned scale and shift start at 1 and 0)."""
    after = torch.nn.BatchNorm2d(before.shape[1]).train()(before).detach()
    fig, axes = plt.subplots(1, 2, figsize=(9, 2.8), layout="constrained", sharey=True)
    for ax, values, title in ((axes[0], before, "before: each channel its own centre and spread"),
                              (axes[1], after, "after BatchNorm: every channel near mean 0, spread 1")):
        for c in channels:
            v = values[:, c].flatten()
            ax.hist(v.numpy(), bins=60, histtype="step", linewidth=1.4,
                    label=f"channel {c}: mean {round(v.mean().item(), 2) + 0.0:+.2f}, std {v.std().item():.2f}")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("value")
        ax.legend(fontsize=7, loc="upper right")
    axes[0].set_ylabel("how often")
    return fig


def kernel_editor(grey: torch.Tensor, kernel):
    """Notebook 02's convolution demo to play with (ipywidgets): a 3x3 grid of the kernel's numbers,
    and the feature map of the grey image (H, W), redrawn whenever a number changes."""
    import ipywidgets
    from IPython.display import display
    from torch.nn import functional as F

    boxes = [ipywidgets.FloatText(value=float(v), step=0.5, layout=ipywidgets.Layout(width="5em"),
                                  description=f"row {r + 1}, column {c + 1}", style={"description_width": "0px"})
             for r, row in enumerate(kernel) for c, v in enumerate(row)]
    drawn = ipywidgets.Output()

    def redraw(_=None):
        weights = torch.tensor([b.value for b in boxes]).view(1, 1, 3, 3)
        fig = feature_maps({"grey": grey, "feature map": F.conv2d(grey.view(1, 1, *grey.shape), weights)[0, 0]})
        with drawn:
            drawn.clear_output(wait=True)
            display(fig)
        plt.close(fig)

    for box in boxes:
        box.observe(redraw, names="value")
    redraw()
    grid = ipywidgets.GridBox(boxes, layout=ipywidgets.Layout(grid_template_columns="repeat(3, 6em)"))
    return ipywidgets.HBox([grid, drawn])


def layer_shapes(model: torch.nn.Module, input_shape=(1, 3, 32, 32)) -> list[tuple[str, str, tuple]]:
    """Every step of `model.forward`, in order, with the shape of one image after it (the batch
    axis dropped): (step, what it is, shape). torch.fx traces the class's own forward, so the
    functional steps (F.relu, F.max_pool2d, torch.flatten) are there as well as the layers, and a
    forward pass of a zero image measures the shapes."""
    import re

    from torch.fx import symbolic_trace
    from torch.fx.passes.shape_prop import ShapeProp

    traced = symbolic_trace(model)
    with torch.no_grad():
        ShapeProp(traced).propagate(torch.zeros(input_shape))
    steps = []
    for node in traced.graph.nodes:
        if node.op == "output":
            continue
        shape = tuple(node.meta["tensor_meta"].shape[1:])
        if node.op == "placeholder":
            steps.append(("input", "image", shape))
        elif node.op == "call_module":
            layer = traced.get_submodule(node.target)
            what = type(layer).__name__
            if isinstance(layer, torch.nn.Conv2d):
                what += " {}×{}".format(*layer.kernel_size)
            steps.append((node.target, what, shape))
        else:
            what = re.sub(r"_\d+$", "", node.name)  # relu_1 -> relu
            if what.startswith("max_pool") and len(node.args) > 1:
                what += f" {node.args[1]}×{node.args[1]}"
            steps.append((node.name, what, shape))
    return steps


def network_shapes(model: torch.nn.Module, title: str | None = None, input_shape=(1, 3, 32, 32)):
    """A drawing of the network as the tensor that flows through it (layer_shapes): a block per
    step, as tall as the image is high (a column of numbers for a flat vector), wider with more
    channels, labelled with the step and the shape after it."""
    steps = layer_shapes(model, input_shape)
    fig, ax = plt.subplots(figsize=(1.25 * len(steps), 3.4))
    fig.subplots_adjust(left=0.01, right=0.99)  # every step's 1.25 inches for its labels
    height_of = input_shape[-2]
    longest = max((s[0] for _, _, s in steps if len(s) == 1), default=1)
    for k, (name, what, shape) in enumerate(steps):
        if len(shape) == 3:
            channels, height = shape[0], shape[1]
            h = 0.9 * height / height_of
            w = 0.12 + 0.06 * np.log2(channels)
            color = "tab:orange" if what == "image" else "tab:blue"
        else:
            h = 0.9 * max(shape[0] / longest, 0.04)
            w = 0.08
            color = "tab:green"
        ax.add_patch(plt.Rectangle((k - w / 2, -h / 2), w, h, color=color, alpha=0.7))
        label = f"{name}\n{what}" if name in model._modules or name == "input" else what  # a layer, or a function
        ax.text(k, 0.55, label, ha="center", va="bottom", fontsize=8)
        ax.text(k, -0.55, " × ".join(str(s) for s in shape), ha="center", va="top", fontsize=8.5,
                fontweight="bold")
        if k:
            ax.annotate("", (k - 0.5 + 0.12, 0), (k - 1 + 0.5 - 0.12, 0),
                        arrowprops=dict(arrowstyle="->", color="grey"))
    ax.set(xlim=(-0.6, len(steps) - 0.4), ylim=(-0.85, 0.95))
    ax.axis("off")
    if title:
        ax.set_title(title)
    return fig
