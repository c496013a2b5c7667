"""Optimizers and learning-rate schedules, each with the stepping rule it needs.

A torch scheduler only works when `.step()` is called at the right moment: OneCycleLR and
CyclicLR after every batch, StepLR after every epoch, ReduceLROnPlateau after every epoch *with
the validation metric*. `make_scheduler` returns a `Schedule` that knows its rule, so the
training loop calls `schedule.step("batch")` after each batch and
`schedule.step("epoch", metric=...)` after each epoch, and the schedule acts only on its own.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn
from torch.optim import lr_scheduler

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("none", "step", "plateau", "cyclic", "cosine", "onecycle")
STEP_RULES = ("batch", "epoch", "metric", "never")


def make_optimizer(
    name: str,
    params: Iterable[torch.Tensor] | Iterable[dict] | nn.Module,
    lr: float,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
) -> torch.optim.Optimizer:
    """Build "sgd" (with momentum), "adam" or "adamw" over `params` (or a model's parameters).

    `momentum` is used by SGD only; Adam and AdamW keep their default betas (0.9, 0.999).
    """
    key = str(name).lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    if not lr > 0:
        raise ValueError(f"learning rate must be positive, got lr={lr!r}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
    if isinstance(params, nn.Module):
        params = params.parameters()
    params = list(params)
    if not params:
        raise ValueError("no parameters to optimize: is the model empty or are all parameters frozen?")
    if key == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if key == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


@dataclass
class Schedule:
    """A learning-rate scheduler together with the moment it must be stepped.

    `step_on` is "batch" (after every optimizer step), "epoch" (after every epoch), "metric"
    (after every epoch, given the validation value named by `monitor`) or "never".
    `total_steps` is the number of batch steps a schedule can take before torch refuses
    (OneCycleLR); None when it has no such limit.
    """

    name: str
    scheduler: lr_scheduler.LRScheduler | lr_scheduler.ReduceLROnPlateau | None
    step_on: str
    monitor: str | None = None
    total_steps: int | None = None

    def __post_init__(self) -> None:
        if self.step_on not in STEP_RULES:
            raise ValueError(f"step_on must be one of {STEP_RULES}, got {self.step_on!r}")

    def step(self, when: str, metric: float | None = None) -> bool:
        """Step the scheduler if `when` ("batch" or "epoch") is its moment; True if it stepped.

        A "metric" schedule steps at "epoch" and needs `metric` (the value of `self.monitor`).
        """
        if when not in ("batch", "epoch"):
            raise ValueError(f"when must be 'batch' or 'epoch', got {when!r}")
        if self.scheduler is None or self.step_on == "never":
            return False
        if self.step_on == "batch" and when == "batch":
            self.scheduler.step()
            return True
        if self.step_on == "epoch" and when == "epoch":
            self.scheduler.step()
            return True
        if self.step_on == "metric" and when == "epoch":
            if metric is None:
                raise ValueError(
                    f"the {self.name!r} schedule reacts to {self.monitor!r} and needs its value each "
                    "epoch: train with a validation loader, or pick another scheduler"
                )
            self.scheduler.step(float(metric))
            return True
        return False

    def state_dict(self) -> dict:
        """The scheduler's state for a checkpoint (empty when there is no scheduler)."""
        return {} if self.scheduler is None else self.scheduler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        """Restore the state written by `state_dict` (the optimizer's state is loaded separately)."""
        if self.scheduler is not None and state:
            # Some torch schedulers pop keys from the dict they load: give them a copy.
            self.scheduler.load_state_dict(copy.deepcopy(state))


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate of the optimizer's first parameter group."""
    return float(optimizer.param_groups[0]["lr"])


def _has_momentum(optimizer: torch.optim.Optimizer) -> bool:
    """True for SGD with non-zero momentum: the optimizers whose momentum CyclicLR may cycle."""
    return isinstance(optimizer, torch.optim.SGD) and optimizer.defaults.get("momentum", 0) > 0


def make_scheduler(
    name: str | None,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    steps_per_epoch: int,
    **kwargs,
) -> Schedule:
    """Build a learning-rate schedule and its stepping rule (see the table below).

    | name | torch class | steps | defaults (override by keyword) |
    | --- | --- | --- | --- |
    | none | – | never | |
    | step | StepLR | epoch | step_size = max(1, epochs // 3), gamma = 0.1 |
    | plateau | ReduceLROnPlateau | epoch, on `monitor` | monitor = "miou" (mode max; "min" for a loss), factor = 0.1, patience = 1 |
    | cyclic | CyclicLR (triangular) | batch | max_lr = optimizer lr, base_lr = max_lr / 4, step_size_up = min(2 epochs, half the run) |
    | cosine | CosineAnnealingLR | batch | T_max = epochs * steps_per_epoch, eta_min = 0 |
    | onecycle | OneCycleLR | batch | max_lr = optimizer lr, total_steps = epochs * steps_per_epoch |

    CyclicLR cycles the momentum only for SGD with momentum (Adam has no momentum to cycle);
    OneCycleLR cycles SGD's momentum or Adam's beta1, as fastai does.
    Cosine is stepped per batch, so the learning rate falls smoothly within each epoch too.
    Other keywords go to the torch class.
    """
    key = "none" if name is None else str(name).lower()
    if key not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r}; choose one of {', '.join(SCHEDULERS)}")
    if epochs < 1 or steps_per_epoch < 1:
        raise ValueError(
            f"epochs and steps_per_epoch must be >= 1 (got {epochs}, {steps_per_epoch}); "
            "pass steps_per_epoch=len(train_loader)"
        )
    total_steps = epochs * steps_per_epoch
    lr = current_lr(optimizer)

    if key == "none":
        return Schedule(key, None, "never")
    if key == "step":
        kwargs.setdefault("step_size", max(1, epochs // 3))
        kwargs.setdefault("gamma", 0.1)
        return Schedule(key, lr_scheduler.StepLR(optimizer, **kwargs), "epoch")
    if key == "plateau":
        monitor = kwargs.pop("monitor", "miou")
        kwargs.setdefault("mode", "min" if "loss" in monitor else "max")
        kwargs.setdefault("factor", 0.1)
        kwargs.setdefault("patience", 1)
        return Schedule(key, lr_scheduler.ReduceLROnPlateau(optimizer, **kwargs), "metric", monitor=monitor)
    if key == "cyclic":
        max_lr = kwargs.pop("max_lr", lr)
        base_lr = kwargs.pop("base_lr", max_lr / 4)
        kwargs.setdefault("step_size_up", max(1, min(2 * steps_per_epoch, total_steps // 2)))
        kwargs.setdefault("mode", "triangular")
        kwargs.setdefault("cycle_momentum", _has_momentum(optimizer))
        scheduler = lr_scheduler.CyclicLR(optimizer, base_lr=base_lr, max_lr=max_lr, **kwargs)
        return Schedule(key, scheduler, "batch")
    if key == "cosine":
        kwargs.setdefault("T_max", total_steps)
        kwargs.setdefault("eta_min", 0.0)
        return Schedule(key, lr_scheduler.CosineAnnealingLR(optimizer, **kwargs), "batch")
    # onecycle
    max_lr = kwargs.pop("max_lr", lr)
    cycles = _has_momentum(optimizer) or "betas" in optimizer.defaults
    kwargs.setdefault("cycle_momentum", cycles)
    kwargs.setdefault("total_steps", total_steps)
    scheduler = lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, **kwargs)
    return Schedule(key, scheduler, "batch", total_steps=kwargs["total_steps"])


def as_schedule(scheduler: Schedule | lr_scheduler.LRScheduler | lr_scheduler.ReduceLROnPlateau | None) -> Schedule:
    """Wrap a plain torch scheduler: ReduceLROnPlateau steps on "miou", the others per epoch."""
    if isinstance(scheduler, Schedule):
        return scheduler
    if scheduler is None:
        return Schedule("none", None, "never")
    if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
        monitor = "miou" if scheduler.mode == "max" else "val_loss"
        return Schedule("plateau", scheduler, "metric", monitor=monitor)
    if isinstance(scheduler, lr_scheduler.LRScheduler):
        return Schedule(type(scheduler).__name__, scheduler, "epoch")
    raise TypeError(f"expected a Schedule from make_scheduler or a torch scheduler, got {type(scheduler).__name__}")
