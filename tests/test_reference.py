"""The shipped reference model: it loads, says where it applies, and segments new streets far better than chance."""

import numpy as np
import pytest
import torch

from helpers.classes import GTA9
from helpers.config import get_profile
from helpers.datasets import load_dataset
from helpers.metrics import ConfusionMatrix
from helpers.models import UNet
from helpers.reference import (
    REFERENCE_PATH,
    describe_augment,
    describe_reference_gap,
    describe_reference_training,
    load_reference,
    member_count,
    seed_spread,
    unseen_indices,
)
from helpers.train import predict

QUICK = get_profile("quick")


@pytest.fixture(scope="module")
def new_streets(tmp_path_factory):
    """Four sequences the reference never saw (another seed of the generator), at the data set's own size."""
    from helpers.synthetic import generate_streets

    root = tmp_path_factory.mktemp("reference") / "synthetic-streets"
    generate_streets(root, sequences=4, frames_per_sequence=3, seed=11, defect_rate=0.0, weather_rate=0.0,
                     progress=False)
    return root


def test_the_reference_model_ships_with_what_it_was_trained_on():
    assert REFERENCE_PATH.is_file() and REFERENCE_PATH.stat().st_size < 5e6
    model, line = load_reference("synthetic-streets", QUICK, GTA9.class_names)
    assert model is not None, line
    info = model.checkpoint_extra
    assert info["epochs"] > QUICK.epochs and info["recipe"]["optimizer"] == "adam" and info["seed"] == 0
    assert tuple(info["image_size"]) == QUICK.image_size and model.config["base"] == QUICK.base
    assert info["test_miou"] > 0.6 and len(info["train_sequences"]) >= 20
    assert f"{info['epochs']} epochs" in line
    assert info["augment"] == {"flip": 0.5, "degrees": 0, "jitter": 0.2, "haze": 0.85, "rain": 0.3}  # notebook 07's
    assert "augmentation: mirror 50%, colour jitter 0.2, haze up to 0.85, rain up to 0.3)" in line


def test_describe_augment_names_what_is_switched_on():
    assert describe_augment({"flip": 0.5, "degrees": 10.0, "jitter": 0.0, "haze": 0.0, "rain": 0.3}) == \
        "mirror 50%, rotation ±10°, rain up to 0.3"
    assert describe_augment(False) == "none" and describe_augment(None) == "none"
    assert describe_augment({"flip": 0.0}) == "none"


def test_the_reference_model_applies_only_where_it_compares_like_with_like(tmp_path):
    for profile, names in ((get_profile("smoke"), GTA9.class_names), (QUICK, [*GTA9.class_names[:-1], "train"])):
        model, line = load_reference("synthetic-streets", profile, names)
        assert model is None and "not comparable" in line
    model, line = load_reference("synthetic-forest", QUICK)
    assert model is None and "synthetic-forest" in line
    model, line = load_reference("synthetic-streets", QUICK, path=tmp_path / "missing.pt")
    assert model is None and "python data_scripts/train_reference_model.py" in line


def test_the_reference_model_segments_streets_it_never_saw(new_streets):
    model, _ = load_reference("synthetic-streets", QUICK, GTA9.class_names)
    data = load_dataset("synthetic-streets", new_streets.parent, profile=QUICK, split=None, cache=False,
                        progress=False)
    model.checkpoint_extra["train_sequences"] = ["0"]  # pretend it trained on sequence 0 of this set
    unseen = unseen_indices(data, model)
    assert len(unseen) == len(data) - 3 and not any(data.manifest["sequence"].astype(str).iloc[unseen] == "0")
    images = torch.stack([data[int(i)][0] for i in unseen])
    targets = torch.stack([data[int(i)][1] for i in unseen])
    torch.manual_seed(0)
    scores = {}
    for name, net in (("reference", model), ("untrained", UNet(num_classes=9, base=QUICK.base).eval())):
        matrix = ConfusionMatrix(GTA9)
        matrix.update(predict(net, images), targets)
        scores[name] = matrix.compute()["miou"]
    assert scores["reference"] > 0.45 and scores["reference"] > scores["untrained"] + 0.3, scores
    assert np.isfinite(list(scores.values())).all()


GRID_SUMMARY = [{"optimizer": "adam", "scheduler": "none", "miou_mean": 0.2, "miou_std": 0.03, "runs": 3},
                {"optimizer": "adam", "scheduler": "onecycle", "miou_mean": 0.19, "miou_std": 0.05, "runs": 3}]
GRID_SETUP = {"epochs": 6, "image_size": [80, 60]}


def test_seed_spread_reads_notebook_06s_standard_deviation_of_this_optimizer_and_schedule():
    spread, source = seed_spread(GRID_SUMMARY, GRID_SETUP, "adam", "onecycle")
    assert spread == 0.05 and source == "notebook 06's adam + onecycle, 3 seeds of 6 epochs at 80×60"
    spread, source = seed_spread(GRID_SUMMARY, GRID_SETUP, "sgd", "none")
    assert spread is None and "no sgd + none runs" in source
    assert seed_spread(None, None, "adam", "none")[0] is None  # notebook 06 has not run


@pytest.mark.parametrize("gap, expected, absent", [
    (0.009, "within what the seeds alone move a gap between two single-seed models (√2 × 0.030 = 0.042, from the "
            "standard deviation over seeds of src: a spread measured on notebook 06's short grid", "more epochs"),
    (-0.009, "within what the seeds alone move a gap", "more epochs"),
    (0.04, "within what the seeds alone move a gap", "paid off"),  # above s, below √2 × s
    (-0.045, "more than the seeds alone move a gap between two single-seed models (√2 × 0.030", "more epochs"),
    (0.07, "but less than 2 times it", "paid off"),  # above 2 s, below 2 √2 s
    (-0.09, "well beyond what the seeds alone move a gap between two single-seed models (√2 × 0.030 = 0.042, "
            "from the standard deviation over seeds of src: a spread measured on notebook 06's short grid, used here "
            "for want of seeds of the final run): more epochs are no guarantee", "paid off"),
    (0.09, "): the longer training (100 epochs) paid off", "more epochs"),
])
def test_describe_reference_gap_calls_a_gap_below_the_seed_spread_noise_and_explains_only_a_gap_well_beyond(
        gap, expected, absent):
    text = describe_reference_gap(gap, 0.03, "src", 100, 0.59)
    side = "ahead of" if gap > 0 else "behind"
    assert text.startswith(f"the reference model is {abs(gap):.3f} mIoU {side} this run's model")
    assert expected in text and absent not in text


def test_describe_reference_gap_without_a_seed_spread_says_so():
    for missing in (None, float("nan")):
        text = describe_reference_gap(-0.2, missing, "notebook 06 recorded no adam + none runs here", 100, 0.59)
        assert "no seed spread is recorded" in text and "more epochs" not in text


def _trained(members: int = 1, **extra) -> torch.nn.Module:
    """A stand-in for a loaded model: one layer, or an ensemble of `members`, carrying `extra` as load_model does."""
    from helpers.models import Ensemble

    model = torch.nn.Conv2d(3, 2, 1) if members == 1 else Ensemble([torch.nn.Conv2d(3, 2, 1)] * members)
    model.checkpoint_extra = extra
    return model


def test_describe_reference_training_names_every_recorded_difference():
    reference = _trained(epochs=100, recipe={"schedule": "onecycle", "lr": 3e-3})
    assert describe_reference_training(reference, _trained(12), 50, {"schedule": "none", "lr": 2.24e-3}) == (
        "the reference model differs from this run's final model in 4 recorded ways — twice the epochs (100 against "
        "50); the onecycle schedule against none; a peak learning rate of 3.00e-03 against a constant learning rate "
        "of 2.24e-03; one model against an ensemble of 12 — so a gap cannot be put on any one of them")
    same, one_model = {"schedule": "onecycle", "lr": 3e-3}, _trained()
    assert describe_reference_training(reference, one_model, 100, same) == (
        "nothing recorded differs between the reference model's training and this run's (100 epochs, onecycle "
        "schedule, peak learning rate of 3.00e-03, one model)")
    one = "the reference model differs from this run's final model in one recorded way: "
    assert describe_reference_training(reference, one_model, 40, same) == one + "2.5 times the epochs (100 against 40)"
    assert describe_reference_training(reference, one_model, 200, same) == one + "half the epochs (100 against 200)"
    assert describe_reference_training(reference, one_model, 300, same) == one + "fewer epochs (100 against 300)"
    assert describe_reference_training(reference, one_model, 100, {"schedule": "onecycle", "lr": 1e-3}) == (
        one + "a peak learning rate of 3.00e-03 against a peak learning rate of 1.00e-03")
    assert describe_reference_training(reference, _trained(5), 100, same) == one + "one model against an ensemble of 5"
    ensemble_reference = _trained(3, epochs=100, recipe=same)
    assert describe_reference_training(ensemble_reference, one_model, 100, same) == (
        one + "an ensemble of 3 against one model")
    # another schedule changes what the rate means, so the rates are named even when the numbers agree
    cosine = describe_reference_training(reference, one_model, 100, {"schedule": "cosine", "lr": 3e-3})
    assert "in 2 recorded ways" in cosine and "against a starting learning rate of 3.00e-03" in cosine


def test_member_count_counts_an_ensembles_members():
    from helpers.models import Ensemble

    layer = torch.nn.Conv2d(3, 2, 1)
    assert member_count(layer) == 1 and member_count(Ensemble([layer, torch.nn.Conv2d(3, 2, 1)])) == 2
