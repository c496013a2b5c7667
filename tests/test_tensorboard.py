"""Runs you can watch: fit's TensorBoard event files (scalars and coloured predictions) beside the CSV history."""

import builtins

import numpy as np
import pytest
import torch
from torch import nn

from helpers.classes import get_class_map
from helpers.encoding import index_to_rgb
from helpers.optim import make_optimizer
from helpers.train import fit, preview_image

from .test_train import CLASSES, TinyNet, toy_data, toy_loader

COLOURS = get_class_map("gta9")  # any map of at least CLASSES classes: its display colours paint the classes


def train(folder):
    torch.manual_seed(0)
    model = TinyNet(dropout=0.0)
    return fit(model, toy_loader(toy_data(8)), toy_loader(toy_data(4, seed=1), shuffle=False), nn.CrossEntropyLoss(),
               make_optimizer("adam", model, lr=0.05), epochs=2, run_dir=folder, progress=False, num_classes=CLASSES,
               preview_frames=2)


def test_fit_writes_scalars_and_predictions_for_tensorboard(tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (requirements-dev.txt installs it)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    history = train(tmp_path)
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"images": 0}).Reload()
    for key in ("train_loss", "val_loss", "pixel_accuracy", "miou", "lr"):
        logged = events.Scalars(key)
        assert [event.step for event in logged] == [1, 2], key
        assert np.allclose([event.value for event in logged], [row[key] for row in history.epochs]), key
    pictures = events.Images("predictions (image | target | prediction)")
    assert [picture.step for picture in pictures] == [1, 2]
    assert (pictures[0].height, pictures[0].width) == (2 * 12, 3 * 12)  # 2 frames, each image | target | prediction
    assert (tmp_path / "history.csv").is_file()  # the CSV stays


def test_the_preview_paints_target_and_prediction_in_the_class_maps_display_colours():
    images, targets = toy_data(2, seed=3).tensors
    torch.manual_seed(0)
    model = TinyNet(dropout=0.0).eval()
    picture = preview_image(model, images, targets, COLOURS)
    assert picture.shape == (24, 36, 3) and picture.dtype == np.uint8
    assert (picture[:12, 12:24] == index_to_rgb(targets[0].numpy(), COLOURS)).all()
    predicted = model(images).argmax(dim=1)
    assert (picture[12:, 24:] == index_to_rgb(predicted[1].numpy(), COLOURS)).all()
    assert (picture[:12, :12] == (images[0].permute(1, 2, 0) * 255).round().byte().numpy()).all()


def test_without_tensorboard_fit_writes_the_csv_history_only(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith(("torch.utils.tensorboard", "tensorboard")):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    train(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["batches.csv", "best.pt", "history.csv", "last.pt"]
