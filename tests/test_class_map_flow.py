"""The class map travels with the data: data set → loss, fit, evaluate, LR finder, metrics, plots → model file → predict."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader

from helpers.classes import CITYSCAPES, GTA9, ClassMap
from helpers.datasets import class_counts, load_dataset, make_loader
from helpers.losses import make_loss
from helpers.lr_finder import lr_range_test
from helpers.metrics import ConfusionMatrix, boundary_iou, per_image_accuracy
from helpers.models import UNet
from helpers.optim import make_optimizer
from helpers.recipe import Recipe
from helpers.train import evaluate, fit, load_model, predict, save_model
from helpers.viz import error_map

PALE = ClassMap("pale", ("ground", "thing", "sky"), ((10, 10, 10), (200, 0, 0), (0, 0, 200)),
                id_to_class={0: 0, 1: 1, 2: 2, 255: 255}, unknown_class=255, ignore_index=255)
"""A class map no registry knows (as a folder of your own gives), with an ignore index."""


@pytest.fixture(scope="module")
def cityscapes_sets(streets_root):
    """Train and validation frames of the tiny streets read as Cityscapes-19: many pixels are 255 (ignored)."""
    train = load_dataset("synthetic-streets", streets_root, classes="cityscapes19", profile="smoke", split="train",
                         max_images=8, progress=False)
    with pytest.warns(UserWarning, match="truncated PNG"):  # the tiny streets hold a truncated frame: skipped
        val = load_dataset("synthetic-streets", streets_root, classes="cityscapes19", profile="smoke", split="val",
                           max_images=4, progress=False)
    return train, val


def test_cityscapes19_trains_with_its_ignore_index_from_the_data_set(cityscapes_sets, tmp_path):
    train, val = cityscapes_sets
    ignored = sum(int((train[i][1] == 255).sum()) for i in range(len(train)))
    assert ignored > 0  # the bonnet, the unlabelled pixels and the untrained ids
    loss = Recipe(class_weights="median_frequency").make_loss(train.class_map, counts=class_counts(train))
    assert loss.ignore_index == 255 and loss.weight.shape == (19,)
    torch.manual_seed(0)
    model = UNet(num_classes=train.class_map.num_classes, base=4, depth=2)
    history = fit(model, make_loader(train, 4, shuffle=True), make_loader(val, 4, shuffle=False), loss,
                  make_optimizer("adam", model, lr=1e-3), epochs=1, run_dir=tmp_path, progress=False)
    record = history.epochs[0]
    assert np.isfinite(record["train_loss"]) and np.isfinite(record["val_loss"]) and 0 <= record["miou"] <= 1
    scores = evaluate(model, make_loader(val, 4, shuffle=False))  # 19 classes and 255 from the data set
    assert scores["confusion"].shape == (19, 19)
    valid = sum(int((val[i][1] != 255).sum()) for i in range(len(val)))
    assert scores["confusion"].sum() == valid


def test_the_loss_leaves_ignored_pixels_out():
    logits = torch.randn(2, 19, 6, 8, generator=torch.Generator().manual_seed(0))
    target = torch.randint(0, 19, (2, 6, 8), generator=torch.Generator().manual_seed(1))
    target[:, :3] = 255
    loss = make_loss("ce", CITYSCAPES)(logits, target)
    keep = target != 255
    expected = nn.functional.cross_entropy(logits.permute(0, 2, 3, 1)[keep], target[keep])
    assert torch.allclose(loss, expected)
    assert make_loss("ce", num_classes=19, ignore_index=255)(logits, target) == loss  # the old arguments still work


class PaleFrames(torch.utils.data.TensorDataset):
    """Eight 12×16 frames of PALE's classes (some pixels ignored), carrying the map and size as SegmentationDataset does."""

    class_map, size = PALE, (16, 12)

    def __init__(self):
        targets = torch.randint(0, 3, (8, 12, 16), generator=torch.Generator().manual_seed(0))
        targets[:, 0] = 255
        super().__init__(torch.rand(8, 3, 12, 16), targets)


def test_model_files_store_the_class_map_and_load_it_back(tmp_path):
    model = UNet(num_classes=3, base=4, depth=1)
    fit(model, DataLoader(PaleFrames(), batch_size=4), None, make_loss("ce", PALE), make_optimizer("sgd", model, lr=1e-3),
        epochs=1, run_dir=tmp_path / "run", progress=False)
    for name in ("last.pt", "best.pt"):
        loaded = load_model(tmp_path / "run" / name)
        assert loaded.class_map.to_dict() == PALE.to_dict() and loaded.image_size == (16, 12)
    save_model(UNet(num_classes=19, base=4, depth=1), tmp_path / "cityscapes.pt", class_map="cityscapes19")
    assert load_model(tmp_path / "cityscapes.pt").class_map is CITYSCAPES  # a registered map comes back as itself


def test_metrics_and_plots_take_one_class_map():
    matrix = ConfusionMatrix(CITYSCAPES)
    assert matrix.num_classes == 19 and matrix.ignore_index == 255
    target = torch.tensor([[0, 1, 255, 2]])
    pred = torch.tensor([[0, 2, 1, 2]])
    assert per_image_accuracy(pred, target, CITYSCAPES).item() == pytest.approx(2 / 3)
    assert boundary_iou(pred, target, PALE, width=1)["iou"].shape == (3,)
    image = np.zeros((1, 4, 3), np.uint8)
    wrong = (error_map(image, target[0:1].numpy(), pred[0:1].numpy(), PALE) == (255, 0, 0)).all(axis=-1)
    assert wrong.tolist() == [[False, True, False, False]]  # the ignored pixel is never wrong


def test_lr_finder_ignores_the_data_sets_ignored_pixels(cityscapes_sets):
    train, _ = cityscapes_sets
    torch.manual_seed(0)
    model = UNet(num_classes=19, base=4, depth=1)
    result = lr_range_test(model, make_loader(train, 4, shuffle=True), make_optimizer("adam", model, lr=1e-5),
                           1e-5, 1e-2, num_iter=4, progress=False)
    assert len(result.lrs) == 4 and all(np.isfinite(result.losses))


def test_predict_segments_a_folder_with_the_saved_class_map(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (30, 50, 3), dtype=np.uint8)).save(photos / "street.jpg")
    Image.fromarray(rng.integers(0, 255, (21, 17, 3), dtype=np.uint8)).save(photos / "small.png")
    (photos / "notes.txt").write_text("not an image")
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    torch.manual_seed(0)
    model = UNet(num_classes=9, base=4, depth=1)
    model.image_size = (16, 12)
    save_model(model, tmp_path / "model.pt", class_map=GTA9)
    table = predict(load_model(tmp_path / "model.pt"), photos, out=tmp_path / "out")
    assert sorted(table["image"].map(lambda p: p.rsplit("/", 1)[-1])) == ["broken.png", "small.png", "street.jpg"]
    broken = table[table["image"].str.endswith("broken.png")].iloc[0]
    assert broken["mask"] == "" and "PNG" in broken["problem"]
    with Image.open(tmp_path / "out" / "street_mask.png") as mask:
        assert mask.mode == "P" and mask.size == (50, 30)
        assert mask.getpalette()[: 3 * 9] == [value for colour in GTA9.class_colours for value in colour]
        assert np.asarray(mask).max() < 9
    with Image.open(tmp_path / "out" / "small_overlay.png") as overlay:
        assert overlay.mode == "RGB" and overlay.size == (17, 21)
    with pytest.raises(ValueError, match="pass class_map="):
        predict(UNet(num_classes=9, base=4, depth=1), photos, out=tmp_path / "other")
    with pytest.raises(ValueError, match="out=FOLDER"):
        predict(model, photos)


def test_evaluate_without_a_class_map_falls_back_to_the_model_outputs():
    images = torch.rand(4, 3, 8, 8)
    targets = torch.randint(0, 3, (4, 8, 8))
    loader = DataLoader(torch.utils.data.TensorDataset(images, targets), batch_size=2)
    scores = evaluate(UNet(num_classes=3, base=4, depth=1), loader)
    assert scores["confusion"].shape == (3, 3) and scores["confusion"].sum() == targets.numel()
