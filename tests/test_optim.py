"""Optimizers by name and the stepping rule of every learning-rate schedule."""

import io

import pytest
import torch
from torch import nn

from helpers.optim import (
    Schedule,
    as_schedule,
    current_lr,
    cycled_momentum,
    cyclic_cycles,
    make_optimizer,
    make_scheduler,
)

EPOCHS, STEPS = 4, 5


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Conv2d(3, 2, 1)


def _lr_trace(schedule: Schedule, optimizer, metrics=None) -> tuple[list[float], list[float]]:
    """Run the schedule like fit does (batch steps, then an epoch step); lrs per batch and per epoch."""
    per_batch, per_epoch = [], []
    for epoch in range(EPOCHS):
        per_epoch.append(current_lr(optimizer))
        for _ in range(STEPS):
            per_batch.append(current_lr(optimizer))
            optimizer.step()
            schedule.step("batch")
        schedule.step("epoch", metric=None if metrics is None else metrics[epoch])
    return per_batch, per_epoch


def _changes(values: list[float]) -> int:
    return sum(abs(a - b) > 1e-12 for a, b in zip(values, values[1:]))


@pytest.mark.parametrize(("name", "kind"), [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam),
                                            ("ADAMW", torch.optim.AdamW)])
def test_make_optimizer_names(name, kind):
    optimizer = make_optimizer(name, _model(), lr=0.01, weight_decay=1e-4)
    assert isinstance(optimizer, kind)
    assert optimizer.param_groups[0]["lr"] == 0.01
    assert optimizer.param_groups[0]["weight_decay"] == 1e-4


def test_sgd_gets_momentum():
    assert make_optimizer("sgd", _model().parameters(), lr=0.1, momentum=0.8).param_groups[0]["momentum"] == 0.8


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": "rmsprop", "lr": 0.1}, "unknown optimizer"),
    ({"name": "sgd", "lr": 0.0}, "positive"),
    ({"name": "sgd", "lr": 0.1, "weight_decay": -1}, "weight_decay"),
])
def test_make_optimizer_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_optimizer(params=_model(), **kwargs)


def test_make_optimizer_without_parameters():
    with pytest.raises(ValueError, match="no parameters"):
        make_optimizer("adam", [], lr=0.1)


def test_unknown_scheduler():
    optimizer = make_optimizer("sgd", _model(), lr=0.1)
    with pytest.raises(ValueError, match="unknown scheduler"):
        make_scheduler("warmup", optimizer, epochs=2, steps_per_epoch=2)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        make_scheduler("cosine", optimizer, epochs=2, steps_per_epoch=0)


def test_none_never_changes_lr():
    optimizer = make_optimizer("sgd", _model(), lr=0.1)
    schedule = make_scheduler("none", optimizer, epochs=EPOCHS, steps_per_epoch=STEPS)
    assert schedule.step_on == "never" and schedule.scheduler is None
    per_batch, _ = _lr_trace(schedule, optimizer)
    assert set(per_batch) == {0.1}
    assert schedule.state_dict() == {}


def test_step_changes_once_per_step_size_epochs():
    optimizer = make_optimizer("sgd", _model(), lr=0.1)
    schedule = make_scheduler("step", optimizer, epochs=EPOCHS, steps_per_epoch=STEPS, step_size=2, gamma=0.5)
    assert schedule.step_on == "epoch"
    per_batch, per_epoch = _lr_trace(schedule, optimizer)
    assert per_epoch == pytest.approx([0.1, 0.1, 0.05, 0.05])
    assert _changes(per_batch) == 1  # constant within epochs


def test_plateau_reacts_to_the_metric():
    optimizer = make_optimizer("adam", _model(), lr=0.1)
    schedule = make_scheduler("plateau", optimizer, epochs=EPOCHS, steps_per_epoch=STEPS, patience=0, factor=0.5)
    assert (schedule.step_on, schedule.monitor) == ("metric", "miou")
    _, per_epoch = _lr_trace(schedule, optimizer, metrics=[0.1, 0.2, 0.2, 0.3])
    # the metric stalls in epoch 3 (0.2 again), so epoch 4 runs at half the lr
    assert per_epoch == pytest.approx([0.1, 0.1, 0.1, 0.05])
    assert current_lr(optimizer) == pytest.approx(0.05)
    optimizer = make_optimizer("adam", _model(), lr=0.1)
    schedule = make_scheduler("plateau", optimizer, epochs=EPOCHS, steps_per_epoch=STEPS, patience=0, factor=0.5)
    _, per_epoch = _lr_trace(schedule, optimizer, metrics=[0.3, 0.2, 0.4, 0.1])
    assert per_epoch == pytest.approx([0.1, 0.1, 0.05, 0.05])
    assert current_lr(optimizer) == pytest.approx(0.025)


def test_plateau_on_a_loss_minimises():
    optimizer = make_optimizer("sgd", _model(), lr=1.0)
    schedule = make_scheduler("plateau", optimizer, epochs=3, steps_per_epoch=1, monitor="val_loss", patience=0)
    assert schedule.scheduler.mode == "min"
    schedule.step("epoch", metric=1.0)
    schedule.step("epoch", metric=0.5)
    assert current_lr(optimizer) == pytest.approx(1.0)
    schedule.step("epoch", metric=0.9)
    assert current_lr(optimizer) == pytest.approx(0.1)


def test_plateau_needs_the_metric():
    optimizer = make_optimizer("sgd", _model(), lr=0.1)
    schedule = make_scheduler("plateau", optimizer, epochs=2, steps_per_epoch=2)
    assert schedule.step("batch") is False
    with pytest.raises(ValueError, match="validation loader"):
        schedule.step("epoch")


@pytest.mark.parametrize("optimizer_name", ["sgd", "adam"])
def test_cyclic_steps_every_batch_triangle(optimizer_name):
    optimizer = make_optimizer(optimizer_name, _model(), lr=0.4)
    schedule = make_scheduler("cyclic", optimizer, epochs=EPOCHS, steps_per_epoch=STEPS, step_size_up=5)
    assert schedule.step_on == "batch"
    per_batch, _ = _lr_trace(schedule, optimizer)
    assert _changes(per_batch) == len(per_batch) - 1
    assert per_batch[0] == pytest.approx(0.1)  # base_lr = max_lr / 4
    assert per_batch[5] == pytest.approx(0.4)  # peak after step_size_up batches
    assert per_batch[10] == pytest.approx(0.1)  # back at the base: one full triangle
    assert max(per_batch) == pytest.approx(0.4) and min(per_batch) == pytest.approx(0.1)
    if optimizer_name == "adam":  # Adam has no momentum to cycle: its betas stay as they were
        assert optimizer.param_groups[0]["betas"] == (0.9, 0.999)


@pytest.mark.parametrize(("epochs", "steps", "cycles"), [(2, 5, 1), (6, 15, 2), (8, 3, 2), (13, 7, 3)])
def test_cyclic_default_holds_whole_cycles_and_ends_at_base(epochs, steps, cycles):
    optimizer = make_optimizer("adam", _model(), lr=0.4)
    schedule = make_scheduler("cyclic", optimizer, epochs=epochs, steps_per_epoch=steps)
    assert cyclic_cycles(epochs) == cycles
    per_batch = []
    for _ in range(epochs * steps):
        per_batch.append(current_lr(optimizer))
        optimizer.step()
        schedule.step("batch")
    assert current_lr(optimizer) == pytest.approx(0.1)  # the run ends where a cycle ends: at base_lr
    total = epochs * steps
    assert schedule.scheduler.total_size * cycles == pytest.approx(total)  # whole cycles, no fraction left
    assert per_batch[0] == pytest.approx(0.1) and max(per_batch) > 0.3  # starts at the base, climbs near the top
    assert per_batch[-1] < per_batch[-2]  # the last batch is still on the way down, not cut off at a peak


def test_cyclic_cycles_sgd_momentum_inversely():
    optimizer = make_optimizer("sgd", _model(), lr=0.4, momentum=0.9)
    schedule = make_scheduler("cyclic", optimizer, epochs=EPOCHS, steps_per_epoch=STEPS, step_size_up=5)
    momenta = []
    for _ in range(10):
        momenta.append(optimizer.param_groups[0]["momentum"])
        optimizer.step()
        schedule.step("batch")
    momenta.append(optimizer.param_groups[0]["momentum"])
    assert momenta[0] == pytest.approx(0.9) and momenta[5] == pytest.approx(0.8) and momenta[10] == pytest.approx(0.9)


def test_cyclic_explicit_bounds():
    optimizer = make_optimizer("sgd", _model(), lr=0.4, momentum=0.0)
    schedule = make_scheduler("cyclic", optimizer, epochs=2, steps_per_epoch=4, base_lr=0.01, max_lr=0.05)
    per_batch = []
    for _ in range(8):
        per_batch.append(current_lr(optimizer))
        optimizer.step()
        schedule.step("batch")
    assert min(per_batch) == pytest.approx(0.01) and max(per_batch) == pytest.approx(0.05)
    assert optimizer.param_groups[0]["momentum"] == 0.0  # no momentum to cycle


def test_cosine_per_batch_to_zero():
    optimizer = make_optimizer("adamw", _model(), lr=0.2)
    schedule = make_scheduler("cosine", optimizer, epochs=EPOCHS, steps_per_epoch=STEPS)
    assert schedule.step_on == "batch"
    per_batch, _ = _lr_trace(schedule, optimizer)
    assert _changes(per_batch) == len(per_batch) - 1
    assert all(a > b for a, b in zip(per_batch, per_batch[1:]))
    assert per_batch[0] == pytest.approx(0.2)
    assert current_lr(optimizer) == pytest.approx(0.0, abs=1e-12)  # T_max = all batches


@pytest.mark.parametrize("optimizer_name", ["sgd", "adam"])
def test_onecycle_rises_then_falls(optimizer_name):
    optimizer = make_optimizer(optimizer_name, _model(), lr=0.5)
    schedule = make_scheduler("onecycle", optimizer, epochs=EPOCHS, steps_per_epoch=STEPS)
    assert schedule.step_on == "batch" and schedule.total_steps == EPOCHS * STEPS
    per_batch, _ = _lr_trace(schedule, optimizer)
    peak = per_batch.index(max(per_batch))
    assert max(per_batch) == pytest.approx(0.5)
    assert 0 < peak < len(per_batch) - 1
    assert per_batch[0] == pytest.approx(0.5 / 25)
    assert per_batch[-1] < per_batch[0]
    with pytest.raises(ValueError):  # torch refuses to go past total_steps
        schedule.step("batch")


def test_epoch_schedule_ignores_batch_steps_and_vice_versa():
    optimizer = make_optimizer("sgd", _model(), lr=0.1)
    epoch_schedule = make_scheduler("step", optimizer, epochs=3, steps_per_epoch=2, step_size=1)
    optimizer.step()
    assert epoch_schedule.step("batch") is False
    assert current_lr(optimizer) == pytest.approx(0.1)
    assert epoch_schedule.step("epoch") is True
    assert current_lr(optimizer) == pytest.approx(0.01)
    batch_schedule = make_scheduler("cosine", make_optimizer("sgd", _model(), lr=0.1), epochs=3, steps_per_epoch=2)
    assert batch_schedule.step("epoch", metric=0.5) is False
    with pytest.raises(ValueError, match="when"):
        batch_schedule.step("iteration")


@pytest.mark.parametrize("name", ["step", "plateau", "cyclic", "cosine", "onecycle"])
def test_state_dict_round_trip(name):
    optimizer = make_optimizer("sgd", _model(), lr=0.3)
    schedule = make_scheduler(name, optimizer, epochs=EPOCHS, steps_per_epoch=STEPS)
    for epoch in range(2):
        for _ in range(STEPS):
            optimizer.step()
            schedule.step("batch")
        schedule.step("epoch", metric=0.5 - epoch)
    buffer = io.BytesIO()
    torch.save(schedule.state_dict(), buffer)  # checkpoints are read back with weights_only=True
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    fresh_optimizer = make_optimizer("sgd", _model(), lr=0.3)
    fresh = make_scheduler(name, fresh_optimizer, epochs=EPOCHS, steps_per_epoch=STEPS)
    fresh_optimizer.load_state_dict(optimizer.state_dict())
    fresh.load_state_dict(state)
    assert fresh.state_dict() == schedule.state_dict()
    assert state == schedule.state_dict()  # loading left the saved dict whole
    for _epoch in range(2):
        for _ in range(STEPS):
            optimizer.step()
            fresh_optimizer.step()
            schedule.step("batch")
            fresh.step("batch")
            assert current_lr(fresh_optimizer) == pytest.approx(current_lr(optimizer), abs=1e-15)
        schedule.step("epoch", metric=0.3)
        fresh.step("epoch", metric=0.3)
        assert current_lr(fresh_optimizer) == pytest.approx(current_lr(optimizer), abs=1e-15)


def test_as_schedule_wraps_torch_schedulers():
    optimizer = make_optimizer("sgd", _model(), lr=0.1)
    assert as_schedule(None).step_on == "never"
    assert as_schedule(torch.optim.lr_scheduler.StepLR(optimizer, 1)).step_on == "epoch"
    plateau = as_schedule(torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min"))
    assert (plateau.step_on, plateau.monitor) == ("metric", "val_loss")
    with pytest.raises(TypeError):
        as_schedule("cosine")


@pytest.mark.parametrize(("epochs", "patience"), [(2, 1), (12, 1), (40, 4), (100, 10)])
def test_plateau_patience_grows_with_the_run(epochs, patience):
    optimizer = make_optimizer("adam", _model(), lr=0.1)
    schedule = make_scheduler("plateau", optimizer, epochs=epochs, steps_per_epoch=3)
    assert schedule.scheduler.patience == patience
    rates = []
    for _ in range(patience + 3):  # a metric that never improves after the first epoch
        rates.append(current_lr(optimizer))
        schedule.step("epoch", metric=0.5)
    # the rate falls only once the metric has gone more than `patience` epochs without improving
    assert rates[: patience + 2] == [0.1] * (patience + 2) and rates[-1] == pytest.approx(0.01)


def test_cycled_momentum_names_the_schedules_that_move_momentum_or_beta1():
    assert cycled_momentum("cyclic", "sgd") == pytest.approx((0.8, 0.9))  # against the rate, SGD's momentum only
    assert cycled_momentum("cyclic", "adam") is None
    assert cycled_momentum("onecycle", "sgd") == pytest.approx((0.85, 0.95), abs=0.01)
    assert cycled_momentum("onecycle", "adam") == pytest.approx((0.85, 0.95), abs=0.01)  # beta1
    for name in ("none", "plateau", "cosine"):
        assert cycled_momentum(name, "sgd") is None and cycled_momentum(name, "adam") is None
