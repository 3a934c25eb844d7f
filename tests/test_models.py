import pytest
import torch

from cifar_helpers import ConfigError, build_model, count_parameters


@pytest.mark.parametrize("name, parameters", [("lenet5", 62_006), ("lenet5-original", 252_126),
                                              ("own-network", 1_336_170)])
def test_parameter_counts_and_output_shape(name, parameters):
    model = build_model(name)
    assert count_parameters(model) == parameters
    assert model(torch.zeros(4, 3, 32, 32)).shape == (4, 10)


def test_original_variant_outputs_probabilities_and_classic_outputs_logits():
    torch.manual_seed(0)
    x = torch.randn(8, 3, 32, 32)
    probabilities = build_model("lenet5-original")(x)
    assert torch.allclose(probabilities.sum(1), torch.ones(8)) and (probabilities >= 0).all()
    assert not torch.allclose(build_model("lenet5")(x).sum(1), torch.ones(8))


def test_unknown_model_lists_the_valid_names():
    with pytest.raises(ConfigError, match="'lenet5', 'lenet5-original', 'own-network'"):
        build_model("resnet18")


def test_old_names_build_the_networks_they_always_meant():
    assert type(build_model("lenet5-seed")).__name__ == "OriginalLeNet5"
    assert type(build_model("mycnn")).__name__ == "OwnNetwork"
