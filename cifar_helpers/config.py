"""TrainConfig: everything that decides what a training run computes, in one frozen object.

fit() takes one, a run record stores it (record["config"], the same keys), fit_or_load() matches
on it, and the command line derives its flags from its fields. Adding a hyperparameter is one
field here (with its check) plus its use in training.py.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .data import NORMALIZATIONS
from .errors import ConfigError
from .models import MODELS, canonical_model
from .validate import OPTIMIZERS, PRECISIONS, check_choice, check_lr, check_number, check_positive_int, check_seed

SCHEDULES = ("constant", "warmup-linear")
BATCHNORMS = ("torch", "recipe")
TTA_LEVELS = (0, 1, 2)
TTA_WEIGHTS = ("equal", "published")
FLIPS = ("random", "alternating", "none")
PADDINGS = ("zeros", "reflect")

# Fields where a request of "auto" or None means "whatever is best on this device": any finished
# run satisfies it, whatever it resolved to.
WILDCARDS = {"precision": "auto", "channels_last": None}


@dataclass(frozen=True)
class TrainConfig:
    model: str = field(default="lenet5", metadata={"choices": tuple(MODELS), "help": "network by name"})
    epochs: int = field(default=1, metadata={"help": "passes over the training images"})
    lr: float = field(default=1e-3, metadata={"help": "learning rate"})
    batch_size: int = field(default=1024, metadata={"help": "images per step"})
    optimizer: str = field(default="adam", metadata={"choices": OPTIMIZERS, "help": "adam, or sgd with momentum"})
    momentum: float = field(default=0.9, metadata={"help": "sgd's momentum"})
    nesterov: bool = field(default=False, metadata={"help": "sgd with Nesterov momentum"})
    weight_decay: float = field(default=0.0, metadata={"help": "L2 weight decay, added to the gradient"})
    schedule: str = field(default="constant", metadata={
        "choices": SCHEDULES, "help": "learning rate per step: constant, or a linear warm-up then a linear decay"})
    warmup: float = field(default=0.23, metadata={"help": "warmup-linear: share of the steps spent warming up"})
    final_lr: float = field(default=0.07, metadata={"help": "warmup-linear: the last step's rate, as a share of lr"})
    warmup_start: float = field(default=0.0, metadata={
        "help": "warmup-linear: the rate the warm-up starts from, as a share of lr (the published recipe: 0.2)"})
    lookahead: bool = field(default=False, metadata={
        "help": "every 5 steps, pull the weights toward their moving average, then go on from there"})
    label_smoothing: float = field(default=0.0, metadata={
        "help": "share of each target spread evenly over all classes (0: one-hot targets)"})
    batchnorm: str = field(default="torch", metadata={
        "choices": BATCHNORMS,
        "help": "torch: PyTorch's BatchNorm; recipe: momentum 0.4, eps 1e-12, scales frozen at 1"})
    bias_lr_scale: float = field(default=1.0, metadata={
        "help": "learning rate multiplier of BatchNorm's parameters (the same decay per step)"})
    seed: int = field(default=0, metadata={"help": "random seed: initial weights and batch order"})
    normalization: str = field(default="cifar10", metadata={
        "choices": NORMALIZATIONS, "help": "cifar10: the data's own mean and std; imagenet: the original's"})
    subset: int | None = field(default=None, metadata={"help": "train on this many images (class-balanced)"})
    test_subset: int | None = field(default=None, metadata={"help": "evaluate on this many test images"})
    val_size: int = field(default=0, metadata={
        "help": "hold out this many training images (class-balanced, always the same ones) as a "
                "validation split; the best epoch is chosen on it, never on the test set"})
    augment: bool = field(default=False, metadata={"help": "random translations and horizontal flips"})
    translate: int = field(default=4, metadata={"help": "augment: the largest shift, in pixels"})
    padding: str = field(default="zeros", metadata={
        "choices": PADDINGS, "help": "augment: the edge a shift uncovers, black (zeros) or mirrored (reflect)"})
    flip: str = field(default="random", metadata={
        "choices": FLIPS, "help": "augment: mirror each image at random, or alternately (each image once "
                                   "every two epochs, a random half in the first), or never"})
    whiten_bias_epochs: int | None = field(default=None, metadata={
        "help": "whitened networks: the whitening layer's bias starts at zero and trains this many epochs, then "
                "stays frozen (the published recipe: 3); unset, it starts at PyTorch's default and always trains"})
    tta: int = field(default=0, metadata={
        "choices": TTA_LEVELS,
        "help": "test-time augmentation, measured after the last epoch as test_tta_acc: 0 none, 1 flip, "
                "2 flip and 1-pixel shifts"})
    tta_weights: str = field(default="equal", metadata={
        "choices": TTA_WEIGHTS, "help": "tta 2: every view alike, or as published (the image and its mirror half, "
                                        "the four shifted views the other half)"})
    eval_train: bool = field(default=True, metadata={
        "help": "measure eval-mode accuracy on the training images each epoch (the original's 'Accuracy')"})
    precision: str = field(default="auto", metadata={
        "choices": PRECISIONS, "help": "auto: mixed precision where the device is faster with it"})
    channels_last: bool | None = field(default=None, metadata={
        "help": "channels-last memory layout (default: on CUDA and the CPU)"})
    compile: bool = field(default=False, metadata={"help": "torch.compile the model"})

    def __post_init__(self):
        object.__setattr__(self, "model", canonical_model(self.model))
        check_positive_int("epochs", self.epochs)
        check_lr(self.lr)
        check_positive_int("batch_size", self.batch_size)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_number("momentum", self.momentum, 0.0, 1.0)
        check_number("weight_decay", self.weight_decay)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_number("warmup", self.warmup, 0.0, 1.0)
        check_number("final_lr", self.final_lr, 0.0, 1.0)
        check_number("warmup_start", self.warmup_start, 0.0, 1.0)
        check_positive_int("whiten_bias_epochs", self.whiten_bias_epochs, allow_none=True)
        if self.whiten_bias_epochs is not None and not self.model.startswith("whitened-net"):
            raise ConfigError(f"whiten_bias_epochs is for the whitened networks of notebook 05, not {self.model}: "
                              "leave it unset (None) for this model.")
        check_number("label_smoothing", self.label_smoothing, 0.0, 1.0)
        check_choice("batchnorm", self.batchnorm, BATCHNORMS)
        check_number("bias_lr_scale", self.bias_lr_scale, 1e-9)
        check_number("translate", self.translate, 0, 16)
        check_choice("padding", self.padding, PADDINGS)
        check_choice("flip", self.flip, FLIPS)
        check_choice("tta", self.tta, TTA_LEVELS)
        check_choice("tta_weights", self.tta_weights, TTA_WEIGHTS)
        check_seed(self.seed)
        check_choice("normalization", self.normalization, NORMALIZATIONS)
        check_positive_int("subset", self.subset, allow_none=True)
        check_positive_int("test_subset", self.test_subset, allow_none=True)
        if self.val_size != 0:
            check_positive_int("val_size", self.val_size)
        check_choice("precision", self.precision, PRECISIONS)

    def check_sizes(self, n_train: int, n_test: int) -> None:
        """The subsets fit in the data set at hand (the validation split comes out of training)."""
        check_positive_int("val_size", self.val_size or None, allow_none=True, limit=n_train - 1)
        check_positive_int("subset", self.subset, allow_none=True, limit=n_train - self.val_size)
        check_positive_int("test_subset", self.test_subset, allow_none=True, limit=n_test)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, config: dict) -> TrainConfig:
        """From a record's config: keys this version does not know are ignored; fields a record
        predates take their defaults, which are what runs did before the field existed."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in config.items() if k in known})

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def matches(self, config: dict) -> bool:
        """Would a run with this recorded config answer this request? Every field must be equal,
        except that 'auto' precision and channels_last None accept whatever a run resolved."""
        try:
            recorded = TrainConfig.from_dict(config)
        except Exception:  # a record this version cannot read is no match
            return False
        return all(getattr(self, name) == getattr(recorded, name)
                   for name in (f.name for f in dataclasses.fields(self))
                   if not (name in WILDCARDS and getattr(self, name) == WILDCARDS[name]))
