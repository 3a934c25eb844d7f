"""The pictures that teach the concepts of notebooks 02 and 05: the shapes drawn for a network are the
shapes its own forward pass produces, step by step."""

import matplotlib.pyplot as plt
import pytest
import torch

from cifar_helpers import build_model, plots


def module_output_shapes(model):
    """(layer name, output shape of one image) of every child module, from forward hooks on the
    real class: what the drawing must agree with."""
    seen = []
    hooks = [module.register_forward_hook(lambda m, i, o, name=name: seen.append((name, tuple(o.shape[1:]))))
             for name, module in model.named_children()]
    with torch.no_grad():
        out = model.eval()(torch.zeros(1, 3, 32, 32))
    for hook in hooks:
        hook.remove()
    return seen, tuple(out.shape[1:])


def test_lenet5_steps_and_shapes_are_those_of_the_class():
    steps = plots.layer_shapes(build_model("lenet5"))
    assert [(what, shape) for _, what, shape in steps] == [
        ("image", (3, 32, 32)), ("Conv2d 5×5", (6, 28, 28)), ("relu", (6, 28, 28)), ("max_pool2d 2×2", (6, 14, 14)),
        ("Conv2d 5×5", (16, 10, 10)), ("relu", (16, 10, 10)), ("max_pool2d 2×2", (16, 5, 5)), ("flatten", (400,)),
        ("Linear", (120,)), ("relu", (120,)), ("Linear", (84,)), ("relu", (84,)), ("Linear", (10,))]


@pytest.mark.parametrize("name", ["lenet5", "lenet5-original", "own-network"])
def test_the_drawn_layers_agree_with_hooks_on_the_real_model(name):
    model = build_model(name)
    steps = plots.layer_shapes(model)
    hooked, output = module_output_shapes(model)
    layers = {step: shape for step, _, shape in steps}
    assert [(n, layers[n]) for n, _ in hooked] == hooked
    assert steps[-1][2] == output == (10,)


def test_the_drawing_labels_every_step_with_its_shape():
    model = build_model("lenet5")
    fig = plots.network_shapes(model, title="LeNet5")
    texts = [t.get_text() for t in fig.axes[0].texts]
    for _, _, shape in plots.layer_shapes(model):
        assert " × ".join(str(s) for s in shape) in texts
    assert "conv1\nConv2d 5×5" in texts and "max_pool2d 2×2" in texts
    plt.close(fig)


def test_feature_maps_titles_name_each_shape():
    fig = plots.feature_maps({"image": torch.zeros(3, 32, 32, dtype=torch.uint8), "map": torch.randn(30, 30),
                              "pooled": torch.rand(15, 15)})
    assert [ax.get_title() for ax in fig.axes[::1] if ax.get_title()] == [
        "image\n3 × 32 × 32", "map\n30 × 30", "pooled\n15 × 15"]
    plt.close(fig)


def test_batchnorm_picture_shows_each_channel_before_and_on_one_scale_after():
    torch.manual_seed(0)
    maps = torch.randn(64, 4, 6, 6) * torch.tensor([0.1, 2.0, 0.5, 1.0]).view(1, 4, 1, 1) + 3
    fig = plots.batchnorm_effect(maps)
    before, after = ([t.get_text() for t in ax.get_legend().get_texts()] for ax in fig.axes)
    assert before[0].startswith("channel 0: mean +3.") and "std 0.1" in before[0]
    assert after == [f"channel {c}: mean +0.00, std 1.00" for c in range(3)]
    plt.close(fig)
