"""Profiles, devices, seeding and folders."""

import dataclasses
import random

import numpy as np
import pytest
import torch

from helpers import config


def test_profiles_match_the_design_table():
    assert config.get_profile("smoke").image_size == (64, 48)
    assert config.get_profile("quick").image_size == (160, 120)
    assert config.get_profile("full").image_size == (400, 300)
    assert [config.get_profile(n).base for n in ("smoke", "quick", "full")] == [8, 16, 64]
    assert config.get_profile("full").max_train_images is None


def test_overrides_apply_and_none_means_profile_value():
    profile = config.get_profile("quick", epochs=3, base=None, image_size=[80, 60])
    assert profile.epochs == 3
    assert profile.base == 16
    assert profile.image_size == (80, 60)


def test_unknown_profile_and_field_are_clear_errors():
    with pytest.raises(ValueError, match="unknown profile 'huge'.*smoke"):
        config.get_profile("huge")
    with pytest.raises(ValueError, match="unknown profile field.*'epoch'"):
        config.get_profile("quick", epoch=3)


def test_profile_from_environment(monkeypatch):
    monkeypatch.setenv("WORKBOOK_PROFILE", "smoke")
    assert config.get_profile().name == "smoke"


def test_pick_device():
    assert config.pick_device("cpu") == torch.device("cpu")
    assert config.pick_device("auto").type in {"cpu", "cuda", "mps"}
    with pytest.raises(ValueError, match="unknown device"):
        config.pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="not available"):
            config.pick_device("cuda")


def test_seed_everything_repeats_every_generator():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    generator = config.seed_everything(7)
    first = draw() + (torch.randperm(10, generator=generator).tolist(),)
    generator = config.seed_everything(7)
    second = draw() + (torch.randperm(10, generator=generator).tolist(),)
    assert first == second
    config.seed_everything(8)
    assert draw() != first[:3]


def test_folders_honour_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("WORKBOOK_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("WORKBOOK_RUNS", str(tmp_path / "r"))
    assert config.data_root() == tmp_path / "d"
    assert config.runs_root() == tmp_path / "r"
    monkeypatch.delenv("WORKBOOK_DATA")
    assert config.data_root() == config.REPO_ROOT / "data"


@pytest.mark.parametrize("size", [(0, 48), (64,), (64.5, 48), "64x48"])
def test_an_image_size_with_a_zero_or_of_the_wrong_form_is_a_clear_error(size):
    with pytest.raises(ValueError, match=r"image_size must be two positive whole numbers \(width, height\)"):
        config.get_profile("smoke", image_size=size)
    with pytest.raises(ValueError, match="image_size must be"):
        dataclasses.replace(config.get_profile("smoke"), image_size=size)  # as a notebook halves the size
