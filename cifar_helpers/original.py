"""The original experiment (PeizhengWang/pytorch-cifar): its training recipe and its README's
table, in one place. FACTS.md shows that its "Accuracy" was eval-mode accuracy on the 50,000
training images, not on the test set."""

from __future__ import annotations

from .config import TrainConfig

# Adam, batch 1024, no augmentation, ImageNet normalization.
RECIPE = TrainConfig(batch_size=1024, optimizer="adam", normalization="imagenet", augment=False)
# The table's learning rates and how many epochs each was trained.
EPOCHS = {1e-3: 40, 1e-2: 20}
# (network family, lr) -> the README's "Accuracy" (%).
README_ACCURACY = {("LeNet5", 1e-2): 10.00, ("LeNet5", 1e-3): 75.18,
                   ("Own Network", 1e-2): 67.88, ("Own Network", 1e-3): 99.54}


def config(model: str, lr: float, seed: int = 0) -> TrainConfig:
    """A row of the original's table as a TrainConfig."""
    return RECIPE.replace(model=model, lr=lr, epochs=EPOCHS[lr], seed=seed)
