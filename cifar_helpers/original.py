"""The original experiment (PeizhengWang/pytorch-cifar): its training recipe and its README's
table, in one place. FACTS.md shows that its "Accuracy" was eval-mode accuracy on the 50,000
training images, not on the test set."""

from __future__ import annotations

from .config import TrainConfig

# Adam, batch 1024, no augmentation, ImageNet normalization.
RECIPE = TrainConfig(batch_size=1024, optimizer="adam", normalization="imagenet", augment=False)
# The table's learning rates and how many epochs each was trained.
EPOCHS = {1e-3: 40, 1e-2: 20}
# (the series' name of the network the original trained, lr) -> its README's "Accuracy" (%). Its
# LeNet5 was the variant (models.OriginalLeNet5); the classic one is the series' own, with no figure.
README_ACCURACY = {("lenet5-original", 1e-2): 10.00, ("lenet5-original", 1e-3): 75.18,
                   ("own-network", 1e-2): 67.88, ("own-network", 1e-3): 99.54}


def config(model: str, lr: float, seed: int = 0) -> TrainConfig:
    """A row of the original's table as a TrainConfig."""
    return RECIPE.replace(model=model, lr=lr, epochs=EPOCHS[lr], seed=seed)
