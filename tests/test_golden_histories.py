"""The training code computes, bit for bit, what it computed when the reference histories were
written (scripts/golden_histories.py): a refactor that keeps the numbers passes, one that changes
them fails. fp32 arithmetic differs in its last bits between kinds of CPU, so the comparison runs
on a machine like the one that wrote them."""

import json
import sys

import pytest
import torch

from cifar_helpers.device import machine
from cifar_helpers.paths import REPO

sys.path.insert(0, str(REPO / "scripts"))
import golden_histories  # noqa: E402

GOLDEN = json.loads(golden_histories.OUT.read_text())
LIKE = ("device_name", "isa", "threads", "torch")


def test_the_reference_is_of_the_configurations_the_script_trains_and_resuming_changes_nothing():
    assert GOLDEN["configs"] == {name: config.to_dict() for name, config in golden_histories.CASES.items()}
    assert GOLDEN["git_uncommitted_changes"] is False
    histories = GOLDEN["histories"]
    assert histories["lenet5, interrupted after epoch 1 and resumed"] == histories["lenet5"]
    assert all(len(h) == 2 for h in histories.values())


def test_tiny_runs_reproduce_their_reference_histories_exactly(cifar):
    here = machine(torch.device("cpu"))
    if any(here[key] != GOLDEN["machine"][key] for key in LIKE):
        pytest.skip("the reference histories were written on " + ", ".join(str(GOLDEN["machine"][k]) for k in LIKE)
                    + "; this is " + ", ".join(str(here[k]) for k in LIKE))
    assert golden_histories.histories(cifar) == GOLDEN["histories"]
