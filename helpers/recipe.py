"""The training recipe: every choice that decides how a model is trained, as one object.

Notebook 06 compares recipes and records the winner whole; notebook 07 reads it back and trains
exactly that. Nothing is parsed out of text and nothing is filled in on the way: the optimizer,
its learning rate, the schedule with all its arguments (the cyclic bounds, say), the loss, the
class weighting, the batch size and the number of epochs travel together.

    recipe = Recipe(optimizer="adam", lr=3e-3, schedule="cyclic", schedule_args={"base_lr": 8e-4})
    optimizer, schedule = recipe.build(model, steps_per_epoch=len(train_loader))
    loss = recipe.make_loss(train_set.class_map, counts=class_counts(train_set))
    record("recipe", recipe.to_dict()); Recipe.from_dict(load_results("06_…")["recipe"])

Names go through the registries of `helpers.optim` and `helpers.losses`: aliases are accepted and
stored under their canonical name, an unknown name is an error listing the known ones.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from helpers.classes import ClassMap
from helpers.losses import class_weights, loss_name, make_loss
from helpers.optim import Schedule, make_optimizer, make_scheduler, optimizer_name, schedule_name

WEIGHTINGS = ("median_frequency", "sqrt_median_frequency", "inverse")


@dataclass(frozen=True)
class Recipe:
    """How to train: optimizer and learning rate, schedule and its arguments, loss, weighting, batch, epochs.

    `lr` is the optimizer's rate; schedules that have their own bounds (cyclic: base_lr and
    max_lr; onecycle: max_lr) take them from `schedule_args`, else from `lr`. `class_weights` is
    None or a method of `helpers.losses.class_weights` ("median_frequency", …), applied to the
    class counts of the training data when the loss is built.
    """

    optimizer: str = "adam"
    lr: float = 1e-3
    schedule: str = "none"
    schedule_args: Mapping[str, Any] = field(default_factory=dict)
    loss: str = "ce"
    class_weights: str | None = None
    batch_size: int = 8
    epochs: int = 10
    weight_decay: float = 0.0
    momentum: float = 0.9

    def __post_init__(self) -> None:
        set_field = object.__setattr__  # frozen: canonical names are stored once, here
        set_field(self, "optimizer", optimizer_name(self.optimizer))
        set_field(self, "schedule", schedule_name(self.schedule))
        set_field(self, "loss", loss_name(self.loss))
        set_field(self, "schedule_args", {str(key): _plain(value) for key, value in dict(self.schedule_args).items()})
        set_field(self, "lr", float(self.lr))
        set_field(self, "weight_decay", float(self.weight_decay))
        set_field(self, "momentum", float(self.momentum))
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"recipe lr must be a positive number, got {self.lr!r}")
        if self.class_weights is not None and self.class_weights not in WEIGHTINGS:
            raise ValueError(f"recipe class_weights must be None or one of {WEIGHTINGS}, got {self.class_weights!r}")
        for name in ("batch_size", "epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"recipe {name} must be a whole number >= 1, got {value!r}")
            set_field(self, name, int(value))
        if self.weight_decay < 0:
            raise ValueError(f"recipe weight_decay must be >= 0, got {self.weight_decay!r}")
        self._check_schedule_args()

    def _check_schedule_args(self) -> None:
        """Build the schedule once on a dummy parameter, so bad arguments fail here, not mid-training."""
        dummy = make_optimizer(self.optimizer, [nn.Parameter(torch.zeros(1))], lr=self.lr, momentum=self.momentum)
        try:
            make_scheduler(self.schedule, dummy, epochs=self.epochs, steps_per_epoch=1, **self.schedule_args)
        except (ValueError, TypeError) as error:
            raise ValueError(f"recipe schedule_args {dict(self.schedule_args)} do not fit the {self.schedule!r} "
                             f"schedule: {error}") from error

    # ---- building -------------------------------------------------------------------------

    def build(self, model: nn.Module, steps_per_epoch: int) -> tuple[torch.optim.Optimizer, Schedule]:
        """The optimizer over `model`'s parameters and the schedule for the whole run (`epochs`)."""
        optimizer = make_optimizer(self.optimizer, model, lr=self.lr, momentum=self.momentum,
                                   weight_decay=self.weight_decay)
        schedule = make_scheduler(self.schedule, optimizer, epochs=self.epochs, steps_per_epoch=steps_per_epoch,
                                  **self.schedule_args)
        return optimizer, schedule

    def loss_weights(self, counts: np.ndarray | None) -> torch.Tensor | None:
        """The class weights of this recipe for pixel `counts` per class (None without weighting)."""
        if self.class_weights is None:
            return None
        if counts is None:
            raise ValueError(f"the recipe weights classes by {self.class_weights!r}: pass the class counts "
                             "of the training data (helpers.datasets.class_counts)")
        return class_weights(counts, method=self.class_weights)

    def make_loss(self, class_map: ClassMap | str | int | None = None, counts: np.ndarray | None = None,
                  ignore_index: int | None = None, *, num_classes: int | None = None) -> nn.Module:
        """The loss module for a data set's class map (its classes and ignore index), with class weights
        from `counts` when the recipe asks for them. A plain number of classes (or `num_classes=`) works too."""
        return make_loss(self.loss, class_map if class_map is not None else num_classes,
                         class_weights=self.loss_weights(counts), ignore_index=ignore_index)

    # ---- reading and writing ----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values, every field: what `record` stores and `from_dict` reads back."""
        return {item.name: _plain(getattr(self, item.name)) for item in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recipe:
        """A Recipe from `to_dict()` output; unknown keys are an error that lists the known ones."""
        if isinstance(data, Recipe):
            return data
        if not isinstance(data, Mapping):
            raise TypeError(f"a recipe is read from a dict of its fields, got {type(data).__name__}: {data!r}")
        known = [item.name for item in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown recipe field(s) {unknown}; a recipe has {known}")
        return cls(**dict(data))

    def replace(self, **changes: Any) -> Recipe:
        """A copy with some fields changed (checked like a new recipe)."""
        return dataclasses.replace(self, **changes)

    def differences(self, other: Recipe) -> dict[str, tuple[Any, Any]]:
        """Fields whose values differ: {field: (this recipe's value, the other's)}."""
        mine, theirs = self.to_dict(), other.to_dict()
        return {key: (mine[key], theirs[key]) for key in mine if mine[key] != theirs[key]}

    def describe(self) -> str:
        """One line for a human: "Adam at lr 3.0e-03, cyclic (base_lr 8.0e-04, max_lr 3.0e-03), …"."""
        arguments = ", ".join(f"{key} {_short(value)}" for key, value in self.schedule_args.items())
        schedule = f"{self.schedule} ({arguments})" if arguments else self.schedule
        extras = [f"momentum {self.momentum:g}"] if self.optimizer == "sgd" else []
        if self.weight_decay:
            extras.append(f"weight decay {self.weight_decay:g}")
        weighting = f" with {self.class_weights.replace('_', '-')} class weights" if self.class_weights else ""
        return (f"{self.optimizer.upper() if self.optimizer == 'sgd' else self.optimizer.capitalize()} at lr "
                f"{self.lr:.2e}{''.join(', ' + extra for extra in extras)}, schedule {schedule}, loss "
                f"{self.loss}{weighting}, batch {self.batch_size}, {self.epochs} epoch{'s' if self.epochs != 1 else ''}")

    def __str__(self) -> str:
        return self.describe()


def _plain(value: Any) -> Any:
    """numpy and tuple values as plain JSON values (so a recipe compares equal after a JSON round trip)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def _short(value: Any) -> str:
    return f"{value:.2e}" if isinstance(value, float) else str(value)

