"""The recipe: one object from notebook 06 to 07, names resolved by the registries, nothing lost on the way."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from helpers.losses import LOSS_REGISTRY, SumOfLosses, loss_name, make_loss
from helpers.optim import SCHEDULE_REGISTRY, optimizer_name, schedule_name
from helpers.recipe import Recipe
from helpers.registry import resolve_name


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Conv2d(3, 4, 1)


def test_recipe_survives_a_json_round_trip_whole():
    recipe = Recipe(optimizer="sgd", lr=0.05, schedule="cyclic", schedule_args={"base_lr": 0.0125, "max_lr": 0.05},
                    loss="ce+dice", class_weights="median_frequency", batch_size=4, epochs=30, weight_decay=1e-4,
                    momentum=0.8)
    text = json.dumps(recipe.to_dict())
    again = Recipe.from_dict(json.loads(text))
    assert again == recipe
    assert again.schedule_args == {"base_lr": 0.0125, "max_lr": 0.05}
    assert again.differences(recipe) == {}
    assert again.replace(lr=0.1).differences(recipe) == {"lr": (0.1, 0.05)}


def test_recipe_build_gives_exactly_its_optimizer_and_schedule():
    recipe = Recipe(optimizer="SGD", lr=0.04, schedule="CyclicLR", schedule_args={"base_lr": 0.01, "max_lr": 0.04},
                    epochs=4, momentum=0.7, weight_decay=1e-3)
    optimizer, schedule = recipe.build(_model(), steps_per_epoch=5)
    assert isinstance(optimizer, torch.optim.SGD)
    assert optimizer.defaults["momentum"] == 0.7 and optimizer.defaults["weight_decay"] == 1e-3
    assert schedule.name == "cyclic" and schedule.step_on == "batch"
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.01)  # the cycle starts at its base
    rates = []
    for _ in range(20):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step("batch")
    assert max(rates) == pytest.approx(0.04) and min(rates) == pytest.approx(0.01)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.01)  # one whole cycle: back at the base
    adam_optimizer, onecycle = Recipe(optimizer="adam", lr=3e-3, schedule="onecycle", epochs=2).build(_model(), 4)
    assert isinstance(adam_optimizer, torch.optim.Adam) and onecycle.total_steps == 8


def test_recipe_stores_canonical_names():
    recipe = Recipe(optimizer="AdamW", schedule="ReduceLROnPlateau", loss="cross_entropy")
    assert (recipe.optimizer, recipe.schedule, recipe.loss) == ("adamw", "plateau", "ce")
    assert Recipe(schedule="one_cycle").schedule == "onecycle"
    assert Recipe(schedule="constant").schedule == "none"


@pytest.mark.parametrize(("changes", "message"), [
    ({"schedule": "warmup"}, "unknown scheduler 'warmup'.*none .*onecycle"),
    ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'.*sgd.*adam"),
    ({"loss": "focal"}, "unknown loss 'focal'.*ce.*ce\\+dice"),
    ({"lr": 0.0}, "lr must be a positive"),
    ({"lr": float("nan")}, "lr must be a positive"),
    ({"epochs": 0}, "epochs must be a whole number"),
    ({"batch_size": 2.5}, "batch_size must be a whole number"),
    ({"class_weights": "balanced"}, "class_weights must be None or one of"),
    ({"schedule": "cyclic", "schedule_args": {"bogus": 1}}, "do not fit the 'cyclic' schedule"),
    ({"schedule": "none", "schedule_args": {"max_lr": 1.0}}, "do not fit the 'none' schedule"),
])
def test_bad_recipes_are_refused_with_the_known_names(changes, message):
    with pytest.raises(ValueError, match=message):
        Recipe(**changes)


def test_from_dict_refuses_unknown_fields_and_text():
    with pytest.raises(ValueError, match="unknown recipe field.*'sheduler'"):
        Recipe.from_dict({"optimizer": "adam", "sheduler": "cyclic"})
    with pytest.raises(TypeError, match="dict of its fields"):
        Recipe.from_dict("adam + onecycle")


def test_recipe_loss_uses_its_weighting_on_the_counts():
    counts = np.array([600, 300, 100])
    recipe = Recipe(loss="ce+dice", class_weights="median_frequency")
    loss = recipe.make_loss(num_classes=3, counts=counts)
    assert isinstance(loss, SumOfLosses)
    assert torch.allclose(loss.losses[0].weight, torch.tensor([0.5, 1.0, 3.0]))
    logits, target = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    expected = make_loss("ce", 3, torch.tensor([0.5, 1.0, 3.0]))(logits, target) + make_loss("dice", 3)(logits, target)
    assert torch.allclose(loss(logits, target), expected)
    assert Recipe(loss="ce").make_loss(num_classes=3).weight is None
    with pytest.raises(ValueError, match="class counts"):
        recipe.make_loss(num_classes=3)


def test_describe_names_every_choice():
    text = Recipe(optimizer="sgd", lr=0.05, schedule="cyclic", schedule_args={"base_lr": 0.0125},
                  loss="ce+dice", class_weights="median_frequency", epochs=12).describe()
    for part in ("SGD", "5.00e-02", "cyclic", "base_lr 1.25e-02", "ce+dice", "median-frequency", "12 epochs"):
        assert part in text, (part, text)


def test_registries_resolve_aliases_and_list_every_name():
    assert schedule_name("Cosine-Annealing") == "cosine" and schedule_name(None) == "none"
    assert optimizer_name("SGDM") == "sgd" and loss_name("Soft_Dice") == "dice"
    with pytest.raises(ValueError) as error:
        resolve_name("nope", SCHEDULE_REGISTRY, "scheduler")
    assert all(name in str(error.value) for name in SCHEDULE_REGISTRY)
    with pytest.raises(ValueError) as error:
        make_loss("nope")
    assert all(name in str(error.value) for name in LOSS_REGISTRY)
