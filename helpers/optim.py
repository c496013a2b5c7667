"""Optimizers and learning-rate schedules, each registered once with its aliases and stepping rule.

A torch scheduler only works when `.step()` is called at the right moment: OneCycleLR and
CyclicLR after every batch, StepLR after every epoch, ReduceLROnPlateau after every epoch *with
the validation metric*. `make_scheduler` returns a `Schedule` that knows its rule, so the
training loop calls `schedule.step("batch")` after each batch and
`schedule.step("epoch", metric=...)` after each epoch, and the schedule acts only on its own.

`OPTIMIZER_REGISTRY` and `SCHEDULE_REGISTRY` are the one place where a name is defined: aliases
("ReduceLROnPlateau", "one_cycle", "constant" …) resolve to it, and an unknown name is an error
that lists the known ones, never a silent fallback.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn
from torch.optim import lr_scheduler

from helpers.registry import resolve_name

STEP_RULES = ("batch", "epoch", "metric", "never")


# ----------------------------------------------------------------------------- optimizers


@dataclass(frozen=True)
class OptimizerSpec:
    """One optimizer: how to build it, the names it also answers to, and a line on what it does."""

    name: str
    build: Callable[..., torch.optim.Optimizer]  # (params, lr, momentum, weight_decay) -> optimizer
    aliases: tuple[str, ...] = ()
    summary: str = ""


OPTIMIZER_REGISTRY: dict[str, OptimizerSpec] = {}


def register_optimizer(spec: OptimizerSpec) -> OptimizerSpec:
    """Add an optimizer to the registry, so `make_optimizer(spec.name, ...)` and recipes find it."""
    OPTIMIZER_REGISTRY[spec.name] = spec
    return spec


register_optimizer(OptimizerSpec(
    "sgd", lambda params, lr, momentum, weight_decay: torch.optim.SGD(
        params, lr=lr, momentum=momentum, weight_decay=weight_decay),
    aliases=("momentum", "sgdm"), summary="SGD with momentum: step = lr × (running sum of gradients)"))
register_optimizer(OptimizerSpec(
    "adam", lambda params, lr, momentum, weight_decay: torch.optim.Adam(params, lr=lr, weight_decay=weight_decay),
    summary="Adam: each weight's step normalised by its gradient's running size"))
register_optimizer(OptimizerSpec(
    "adamw", lambda params, lr, momentum, weight_decay: torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay),
    summary="Adam with decoupled weight decay"))

OPTIMIZERS = tuple(OPTIMIZER_REGISTRY)


def optimizer_name(name: str) -> str:
    """The registered optimizer name for `name` or an alias ("SGD", "AdamW" …)."""
    return resolve_name(name, OPTIMIZER_REGISTRY, "optimizer")


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
    spec = OPTIMIZER_REGISTRY[optimizer_name(name)]
    if not lr > 0:
        raise ValueError(f"learning rate must be positive, got lr={lr!r}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
    if isinstance(params, nn.Module):
        params = params.parameters()
    params = list(params)
    if not params:
        raise ValueError("no parameters to optimize: is the model empty or are all parameters frozen?")
    return spec.build(params, lr, momentum, weight_decay)


# ----------------------------------------------------------------------------- schedules


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


@dataclass(frozen=True)
class ScheduleSpec:
    """One learning-rate schedule: its builder, stepping rule, aliases and what it does.

    `build(optimizer, epochs, steps_per_epoch, options)` returns the torch scheduler (None for
    "none") and, for schedules that react to a metric, the name of that metric.
    """

    name: str
    step_on: str
    build: Callable[[torch.optim.Optimizer, int, int, dict], tuple]
    aliases: tuple[str, ...] = ()
    summary: str = ""


SCHEDULE_REGISTRY: dict[str, ScheduleSpec] = {}


def register_schedule(spec: ScheduleSpec) -> ScheduleSpec:
    """Add a schedule to the registry, so `make_scheduler(spec.name, ...)` and recipes find it."""
    if spec.step_on not in STEP_RULES:
        raise ValueError(f"step_on must be one of {STEP_RULES}, got {spec.step_on!r}")
    SCHEDULE_REGISTRY[spec.name] = spec
    return spec


def _none(optimizer, epochs, steps_per_epoch, options):
    if options:
        raise TypeError(f"the 'none' schedule takes no options, got {sorted(options)}")
    return None, None


def _step(optimizer, epochs, steps_per_epoch, options):
    options.setdefault("step_size", max(1, epochs // 3))
    options.setdefault("gamma", 0.1)
    return lr_scheduler.StepLR(optimizer, **options), None


def _plateau(optimizer, epochs, steps_per_epoch, options):
    monitor = options.pop("monitor", "miou")
    options.setdefault("mode", "min" if "loss" in monitor else "max")
    options.setdefault("factor", 0.1)
    options.setdefault("patience", max(1, epochs // 10))  # a tenth of the run: noise alone stalls an epoch or two
    return lr_scheduler.ReduceLROnPlateau(optimizer, **options), monitor


def cyclic_cycles(epochs: int) -> int:
    """How many whole triangles a cyclic run of `epochs` epochs holds: about one per 4 epochs, at least 1.

    Smith's half-cycle is 2 to 10 epochs long, and his runs end where a cycle ends, at the base rate;
    a run cut off mid-cycle ends at a high rate, in the middle of a climb.
    """
    return max(1, round(epochs / 4))


def _cyclic(optimizer, epochs, steps_per_epoch, options):
    max_lr = options.pop("max_lr", current_lr(optimizer))
    base_lr = options.pop("base_lr", max_lr / 4)
    # Whole cycles: the rate is back at base_lr exactly when the run's last step is taken.
    options.setdefault("step_size_up", epochs * steps_per_epoch / (2 * cyclic_cycles(epochs)))
    options.setdefault("mode", "triangular")
    options.setdefault("cycle_momentum", _has_momentum(optimizer))
    return lr_scheduler.CyclicLR(optimizer, base_lr=base_lr, max_lr=max_lr, **options), None


def _cosine(optimizer, epochs, steps_per_epoch, options):
    options.setdefault("T_max", epochs * steps_per_epoch)
    options.setdefault("eta_min", 0.0)
    return lr_scheduler.CosineAnnealingLR(optimizer, **options), None


def _onecycle(optimizer, epochs, steps_per_epoch, options):
    max_lr = options.pop("max_lr", current_lr(optimizer))
    options.setdefault("cycle_momentum", _has_momentum(optimizer) or "betas" in optimizer.defaults)
    options.setdefault("total_steps", epochs * steps_per_epoch)
    return lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, **options), None


register_schedule(ScheduleSpec("none", "never", _none, aliases=("constant", "fixed"),
                               summary="keeps the learning rate constant"))
register_schedule(ScheduleSpec("step", "epoch", _step, aliases=("steplr",),
                               summary="divides the rate by 10 every third of the run"))
register_schedule(ScheduleSpec("plateau", "metric", _plateau, aliases=("reducelronplateau", "reduceonplateau"),
                               summary="divides the rate by 10 when the validation metric stalls"))
register_schedule(ScheduleSpec("cyclic", "batch", _cyclic, aliases=("cycliclr", "clr", "triangular"),
                               summary="goes up and down between a base and a maximum rate"))
register_schedule(ScheduleSpec("cosine", "batch", _cosine, aliases=("cosineannealing", "cosineannealinglr"),
                               summary="falls from the rate to 0 along half a cosine"))
register_schedule(ScheduleSpec("onecycle", "batch", _onecycle, aliases=("onecyclelr",),
                               summary="warms up to the maximum, then anneals far below the start"))

SCHEDULERS = tuple(SCHEDULE_REGISTRY)


def schedule_name(name: str | None) -> str:
    """The registered schedule name for `name` or an alias (None means "none")."""
    return "none" if name is None else resolve_name(name, SCHEDULE_REGISTRY, "scheduler")


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
    | plateau | ReduceLROnPlateau | epoch, on `monitor` | monitor = "miou" (mode max; "min" for a loss), factor = 0.1, patience = max(1, epochs // 10) |
    | cyclic | CyclicLR (triangular) | batch | max_lr = optimizer lr, base_lr = max_lr / 4, step_size_up = run / (2 × cycles), cycles = max(1, round(epochs / 4)): whole cycles, ending at base_lr |
    | cosine | CosineAnnealingLR | batch | T_max = epochs * steps_per_epoch, eta_min = 0 |
    | onecycle | OneCycleLR | batch | max_lr = optimizer lr, total_steps = epochs * steps_per_epoch |

    Plateau divides the rate once the metric has gone more than `patience` epochs without
    improving. CyclicLR cycles the momentum only for SGD with momentum (Adam has no momentum to
    cycle); OneCycleLR cycles SGD's momentum or Adam's beta1, as fastai does. Cosine is stepped per
    batch, so the learning rate falls smoothly within each epoch too. Other keywords go to the
    torch class; one it does not take is a ValueError naming the schedule.
    """
    spec = SCHEDULE_REGISTRY[schedule_name(name)]
    if epochs < 1 or steps_per_epoch < 1:
        raise ValueError(
            f"epochs and steps_per_epoch must be >= 1 (got {epochs}, {steps_per_epoch}); "
            "pass steps_per_epoch=len(train_loader)"
        )
    try:
        scheduler, monitor = spec.build(optimizer, epochs, steps_per_epoch, dict(kwargs))
    except TypeError as error:
        raise ValueError(f"the {spec.name!r} schedule does not take the options {sorted(kwargs)}: {error}") from error
    total_steps = scheduler.total_steps if isinstance(scheduler, lr_scheduler.OneCycleLR) else None
    return Schedule(spec.name, scheduler, spec.step_on, monitor=monitor, total_steps=total_steps)


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


def momentum_of(optimizer: torch.optim.Optimizer) -> float | None:
    """SGD's momentum or Adam's beta1 (the first param group's), None for an optimizer without either."""
    group = optimizer.param_groups[0]
    return group["betas"][0] if "betas" in group else group.get("momentum")


def cycled_momentum(schedule: str, optimizer: str, epochs: int = 2, steps_per_epoch: int = 5) -> tuple[float, float] | None:
    """The (lowest, highest) momentum or beta1 that `schedule` gives `optimizer` over a toy run, or None when it
    leaves them alone: CyclicLR and OneCycleLR move them against the rate, so a schedule is more than a rate."""
    toy = make_optimizer(optimizer, [nn.Parameter(torch.zeros(1))], lr=1.0)
    plan = make_scheduler(schedule, toy, epochs=epochs, steps_per_epoch=steps_per_epoch)
    seen = []
    for _ in range(epochs):
        for _ in range(steps_per_epoch):
            seen.append(momentum_of(toy))
            toy.step()
            plan.step("batch")
        plan.step("epoch", metric=0.5)
    values = [value for value in seen if value is not None]
    return (min(values), max(values)) if values and max(values) > min(values) else None
