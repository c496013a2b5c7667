"""fit, evaluate, predict and model files on a toy problem: each pixel's class is its brightest channel."""

import importlib.util
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from helpers.metrics import ConfusionMatrix
from helpers.models import UNet
from helpers.optim import make_optimizer, make_scheduler
from helpers.train import (
    History,
    _nan_advice,
    autocast_dtype,
    checkpoint_progress,
    claim_run_dir,
    config_digest,
    evaluate,
    fit,
    load_history,
    load_model,
    load_snapshots,
    predict,
    save_model,
)

SIZE = 12
CLASSES = 3
HAS_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None  # fit then also writes run_dir/tensorboard


def toy_data(count: int = 16, seed: int = 0, inverted: bool = False) -> TensorDataset:
    """Random images; the target of a pixel is its brightest (or, inverted, darkest) channel."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(count, 3, SIZE, SIZE, generator=generator)
    targets = images.argmin(dim=1) if inverted else images.argmax(dim=1)
    return TensorDataset(images, targets)


def toy_loader(dataset: TensorDataset, shuffle: bool = True, seed: int = 0, batch_size: int = 4) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=torch.Generator().manual_seed(seed))


class TinyNet(nn.Module):
    """Two convolutions with dropout in between: small, random in training, quick to learn the toy."""

    def __init__(self, dropout: float = 0.2):
        super().__init__()
        self.features = nn.Conv2d(3, 8, 3, padding=1)
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(8, CLASSES, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(torch.relu(self.features(x))))


def _losses(history: History) -> tuple[list[float], list[float], list[float]]:
    return ([row["train_loss"] for row in history.epochs], [row["val_loss"] for row in history.epochs],
            [row["loss"] for row in history.batches])


def test_fit_reduces_the_loss_and_records_history():
    torch.manual_seed(0)
    model = TinyNet(dropout=0.0)
    optimizer = make_optimizer("adam", model, lr=0.05)
    history = fit(model, toy_loader(toy_data()), toy_loader(toy_data(8, seed=1), shuffle=False),
                  nn.CrossEntropyLoss(), optimizer, epochs=8, progress=False)
    frame = history.to_frame()
    assert list(frame.columns) == ["epoch", "train_loss", "val_loss", "pixel_accuracy", "miou", "lr", "seconds",
                                   "skipped"]
    assert frame["epoch"].tolist() == list(range(1, 9))
    assert frame["train_loss"].iloc[-1] < 0.5 * frame["train_loss"].iloc[0]
    assert frame["pixel_accuracy"].iloc[-1] > 0.9
    assert frame["miou"].iloc[-1] > frame["miou"].iloc[0]
    assert (frame["lr"] == 0.05).all() and (frame["seconds"] > 0).all() and (frame["skipped"] == 0).all()
    batches = history.batches_frame()
    assert list(batches.columns) == ["step", "epoch", "loss", "lr"]
    assert batches["step"].tolist() == list(range(1, 33))
    assert batches["epoch"].tolist() == [e for e in range(1, 9) for _ in range(4)]
    # the epoch's train loss is the mean of its batch losses (equal batch sizes)
    assert frame["train_loss"].iloc[0] == pytest.approx(batches["loss"].iloc[:4].mean(), rel=1e-6)
    assert history.best_epoch == int(frame["miou"].idxmax()) + 1
    assert history.skipped_batches == 0 and not history.stopped_early


def test_checkpoint_files(tmp_path):
    torch.manual_seed(0)
    model = UNet(in_channels=3, num_classes=CLASSES, base=4, depth=2)
    optimizer = make_optimizer("sgd", model, lr=0.05)
    history = fit(model, toy_loader(toy_data(8)), toy_loader(toy_data(4, seed=1), shuffle=False),
                  nn.CrossEntropyLoss(), optimizer, epochs=2, run_dir=tmp_path, progress=False,
                  config={"profile": "smoke", "lr": 0.05})
    expected = ["batches.csv", "best.pt", "history.csv", "last.pt"] + (["tensorboard"] if HAS_TENSORBOARD else [])
    assert sorted(p.name for p in tmp_path.iterdir()) == expected
    checkpoint = torch.load(tmp_path / "last.pt", weights_only=True)
    assert checkpoint["epoch"] == 2
    assert checkpoint["config"] == {"profile": "smoke", "lr": 0.05}
    assert checkpoint["model_config"]["arch"] == "unet"
    assert set(checkpoint["rng"]) == {"python", "numpy", "torch", "cuda", "loader"}
    assert checkpoint["rng_by_process"] == []  # one process: no other random states
    assert len(checkpoint["rng"]["loader"]) == 1
    for key, value in model.state_dict().items():
        assert torch.equal(checkpoint["model"][key], value)
    table = pd.read_csv(tmp_path / "history.csv")
    assert table["epoch"].tolist() == [1, 2]
    assert table["train_loss"].tolist() == pytest.approx([row["train_loss"] for row in history.epochs])
    assert len(pd.read_csv(tmp_path / "batches.csv")) == 4
    assert load_history(tmp_path).epochs == history.epochs
    assert not list(tmp_path.glob("*.tmp"))
    # a fit checkpoint loads as a model too
    reloaded = load_model(tmp_path / "last.pt")
    images = toy_data(2, seed=5).tensors[0]
    model.eval()
    assert torch.equal(reloaded(images), model(images))


def _resumable_run(run_dir, epochs: int, scheduler: str, noise_between: bool = False) -> tuple[History, nn.Module]:
    """A fresh model, optimizer, scheduler and shuffled loader, built the same way each time."""
    if noise_between:  # whatever happened in between must not matter after a resume
        torch.manual_seed(1234)
        np.random.seed(99)
    torch.manual_seed(0)
    model = TinyNet(dropout=0.3)
    optimizer = make_optimizer("sgd", model, lr=0.2, momentum=0.9)
    train_loader = toy_loader(toy_data(), seed=7)
    options = {"patience": 0} if scheduler == "plateau" else {}
    schedule = make_scheduler(scheduler, optimizer, epochs=4, steps_per_epoch=len(train_loader), **options)
    history = fit(model, train_loader, toy_loader(toy_data(8, seed=1), shuffle=False), nn.CrossEntropyLoss(),
                  optimizer, schedule, epochs=epochs, run_dir=run_dir, progress=False)
    return history, model


@pytest.mark.parametrize("scheduler", ["onecycle", "plateau"])
def test_resume_equals_uninterrupted_run(tmp_path, scheduler):
    straight, straight_model = _resumable_run(tmp_path / "straight", 4, scheduler)
    _resumable_run(tmp_path / "killed", 2, scheduler)
    resumed, resumed_model = _resumable_run(tmp_path / "killed", 4, scheduler, noise_between=True)
    assert [row["epoch"] for row in resumed.epochs] == [1, 2, 3, 4]
    for got, want in zip(_losses(resumed), _losses(straight)):
        assert got == pytest.approx(want, abs=1e-6)
    assert [row["lr"] for row in resumed.epochs] == pytest.approx([row["lr"] for row in straight.epochs], abs=1e-12)
    assert resumed.best_epoch == straight.best_epoch
    for key, value in straight_model.state_dict().items():
        assert torch.allclose(resumed_model.state_dict()[key], value, atol=1e-6)
    # the losses really change between epochs: the comparison is not trivially equal
    assert len(set(np.round(_losses(straight)[0], 6))) == 4


def test_resume_without_run_left_to_do_and_with_other_setup(tmp_path):
    first, _ = _resumable_run(tmp_path, 2, "onecycle")
    torch.manual_seed(0)
    model = TinyNet()
    optimizer = make_optimizer("sgd", model, lr=0.2)
    again = fit(model, toy_loader(toy_data(), seed=7), toy_loader(toy_data(8)), nn.CrossEntropyLoss(), optimizer,
                make_scheduler("onecycle", optimizer, epochs=4, steps_per_epoch=4), epochs=2, run_dir=tmp_path,
                progress=False)
    assert again.epochs == first.epochs  # nothing left to train: the saved history comes back
    adam = make_optimizer("adam", model, lr=0.2)
    with pytest.raises(ValueError, match="different run.*optimizer"):
        fit(model, toy_loader(toy_data()), toy_loader(toy_data(8)), nn.CrossEntropyLoss(), adam,
            make_scheduler("onecycle", adam, epochs=4, steps_per_epoch=4), epochs=3, run_dir=tmp_path,
            progress=False)
    fresh = fit(TinyNet(), toy_loader(toy_data()), toy_loader(toy_data(8)), nn.CrossEntropyLoss(),
                make_optimizer("adam", model, lr=0.01), epochs=1, run_dir=tmp_path, resume=False, progress=False)
    assert len(fresh.epochs) == 1 and torch.load(tmp_path / "last.pt", weights_only=True)["epoch"] == 1


class NanOnCalls(nn.Module):
    """Cross-entropy that returns NaN on chosen calls (1-based), to exercise the guard."""

    def __init__(self, bad_calls):
        super().__init__()
        self.bad_calls, self.calls = set(bad_calls), 0
        self.inner = nn.CrossEntropyLoss()

    def forward(self, logits, target):
        self.calls += 1
        value = self.inner(logits, target)
        return value * float("nan") if self.calls in self.bad_calls or "all" in self.bad_calls else value


def test_nan_batches_are_skipped_and_counted():
    torch.manual_seed(0)
    model = TinyNet(dropout=0.0)
    optimizer = make_optimizer("adam", model, lr=0.01)
    history = fit(model, toy_loader(toy_data()), None, NanOnCalls({2, 6, 7}), optimizer, epochs=2, progress=False)
    assert history.skipped_batches == 3
    assert [row["skipped"] for row in history.epochs] == [1, 2]
    assert [step for step, row in enumerate(history.batches, 1) if math.isnan(row["loss"])] == [2, 6, 7]
    assert all(math.isfinite(row["train_loss"]) for row in history.epochs)
    assert optimizer.state[model.classifier.weight]["step"].item() == 5  # 8 batches, 3 skipped
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_nan_in_a_row_stops_with_advice():
    torch.manual_seed(0)
    model = TinyNet()
    before = {key: value.clone() for key, value in model.state_dict().items()}
    optimizer = make_optimizer("sgd", model, lr=0.1)
    with pytest.raises(RuntimeError, match=r"3 batches in a row.*lower learning rate.*grad_clip.*labels.*amp=False"):
        fit(model, toy_loader(toy_data()), None, NanOnCalls({"all"}), optimizer, epochs=2, max_bad_batches=3,
            progress=False)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])


def test_nan_in_the_input_images_is_named_as_the_cause():
    # (x - 0) / 0: a blank frame's statistics turn every image into NaN and inf
    data = toy_data(8)
    broken = TensorDataset(data.tensors[0] / torch.zeros(1, 3, 1, 1), data.tensors[1])
    for max_bad_batches, where in ((2, "2 batches in a row"), (5, "in every one of the 2 batches of epoch 1")):
        model = TinyNet()
        with pytest.raises(RuntimeError) as stopped:
            fit(model, toy_loader(broken), None, nn.CrossEntropyLoss(), make_optimizer("adam", model, lr=0.01),
                epochs=1, max_bad_batches=max_bad_batches, progress=False)
        message = str(stopped.value)
        assert where in message
        assert "holds NaN or inf in its input images" in message and "normalisation statistics" in message
        assert "lower learning rate" not in message  # the optimizer's advice does not fit a data fault


def test_early_stopping_keeps_the_best_model(tmp_path):
    # validation asks for the darkest channel while training teaches the brightest: it gets worse each epoch
    torch.manual_seed(0)
    model = TinyNet(dropout=0.0)
    val_loader = toy_loader(toy_data(8, seed=1, inverted=True), shuffle=False)
    history = fit(model, toy_loader(toy_data()), val_loader, nn.CrossEntropyLoss(),
                  make_optimizer("adam", model, lr=0.05), epochs=10, run_dir=tmp_path, early_stopping=2,
                  monitor="val_loss", progress=False)
    val_losses = [row["val_loss"] for row in history.epochs]
    assert history.stopped_early and history.best_epoch == 1
    assert len(history.epochs) == 3 and val_losses[2] > val_losses[1] > val_losses[0]
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    assert best["extra"]["epoch"] == 1 and best["extra"]["monitor"] == "val_loss"
    best_model = TinyNet(dropout=0.0)
    best_model.load_state_dict(best["state_dict"])
    assert evaluate(best_model, val_loader, CLASSES, loss=nn.CrossEntropyLoss())["loss"] == pytest.approx(
        val_losses[0], rel=1e-6)
    # resuming a run that stopped early trains no further
    again = fit(model, toy_loader(toy_data()), val_loader, nn.CrossEntropyLoss(),
                make_optimizer("adam", model, lr=0.05), epochs=10, run_dir=tmp_path, early_stopping=2,
                monitor="val_loss", progress=False)
    assert len(again.epochs) == 3


def test_evaluate_matches_a_direct_confusion_matrix():
    torch.manual_seed(0)
    model = TinyNet(dropout=0.5).train()
    dataset = toy_data(10, seed=3)
    loader = toy_loader(dataset, shuffle=False, batch_size=5)
    result = evaluate(model, loader, CLASSES, loss=nn.CrossEntropyLoss())
    assert model.training  # the mode is put back
    model.eval()
    with torch.no_grad():
        logits = model(dataset.tensors[0])
    matrix = ConfusionMatrix(CLASSES)
    matrix.update(logits.argmax(1), dataset.tensors[1])
    expected = matrix.compute()
    assert np.array_equal(result["confusion"], matrix.matrix.numpy())
    assert result["pixel_accuracy"] == expected["pixel_accuracy"]
    assert result["miou"] == expected["miou"]
    np.testing.assert_array_equal(result["iou"], expected["iou"])
    assert result["loss"] == pytest.approx(float(nn.CrossEntropyLoss()(logits, dataset.tensors[1])), rel=1e-6)
    assert math.isnan(evaluate(model, loader, CLASSES)["loss"])


def test_evaluate_one_hot_targets_and_ignore_index():
    torch.manual_seed(0)
    model = TinyNet()
    dataset = toy_data(6, seed=2)
    images, targets = dataset.tensors
    one_hot = nn.functional.one_hot(targets, CLASSES).permute(0, 3, 1, 2).float()
    by_index = evaluate(model, DataLoader(dataset, batch_size=3), CLASSES)
    by_one_hot = evaluate(model, DataLoader(TensorDataset(images, one_hot), batch_size=3), CLASSES)
    assert np.array_equal(by_index["confusion"], by_one_hot["confusion"])
    ignored = targets.clone()
    ignored[:, :4] = 255
    result = evaluate(model, DataLoader(TensorDataset(images, ignored), batch_size=3), CLASSES, ignore_index=255)
    assert result["confusion"].sum() == 6 * (SIZE - 4) * SIZE


def test_fit_with_one_hot_targets_and_mse():
    torch.manual_seed(0)
    model = TinyNet(dropout=0.0)
    images, targets = toy_data().tensors
    one_hot = nn.functional.one_hot(targets, CLASSES).permute(0, 3, 1, 2).float()
    loader = toy_loader(TensorDataset(images, one_hot))

    def softmax_mse(logits, target):
        return (logits.softmax(dim=1) - target).pow(2).mean()

    history = fit(model, loader, toy_loader(TensorDataset(images, one_hot), shuffle=False), softmax_mse,
                  make_optimizer("adam", model, lr=0.05), epochs=4, progress=False)
    assert history.epochs[-1]["train_loss"] < history.epochs[0]["train_loss"]
    assert history.epochs[-1]["pixel_accuracy"] > 0.8


def test_predict_and_model_files(tmp_path):
    torch.manual_seed(0)
    model = UNet(in_channels=3, num_classes=CLASSES, base=4, depth=2, dropout=0.1)
    images = toy_data(5, seed=4).tensors[0]
    classes = predict(model, images, batch_size=2)
    assert classes.dtype == torch.int64 and classes.shape == (5, SIZE, SIZE)
    model.eval()
    with torch.no_grad():
        assert torch.equal(classes, model(images).argmax(1))
    assert torch.equal(predict(model, images[0]), classes[0])
    assert torch.equal(predict(model, list(images)), classes)
    path = save_model(model, tmp_path / "model.pt", epoch=3, miou=np.float64(0.5))
    reloaded = load_model(path)
    assert not reloaded.training
    assert reloaded.config == model.config
    assert reloaded.checkpoint_extra == {"epoch": 3, "miou": 0.5}
    with torch.no_grad():
        assert torch.equal(reloaded(images), model(images))


def test_model_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_model(tmp_path / "missing.pt")
    save_model(TinyNet(), tmp_path / "tiny.pt")
    with pytest.raises(ValueError, match="no model config"):
        load_model(tmp_path / "tiny.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="junk.pt"):
        load_model(tmp_path / "junk.pt")


def test_grad_clip_bounds_the_step():
    torch.manual_seed(0)
    model = TinyNet(dropout=0.0)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = make_optimizer("sgd", model, lr=1.0, momentum=0.0)
    fit(model, toy_loader(toy_data(4), batch_size=4), None, nn.CrossEntropyLoss(), optimizer, epochs=1,
        grad_clip=1e-3, progress=False)
    moved = torch.sqrt(sum(((p.detach() - b) ** 2).sum() for p, b in zip(model.parameters(), before)))
    assert 0 < moved <= 1e-3 + 1e-7


def test_amp_on_cpu_uses_bf16_only_when_asked_and_where_the_cpu_has_it_and_channels_last_trains(capsys, monkeypatch):
    def one_epoch(**options) -> History:
        torch.manual_seed(0)
        model = TinyNet(dropout=0.0)
        return fit(model, toy_loader(toy_data()), None, nn.CrossEntropyLoss(), make_optimizer("sgd", model, lr=0.1),
                   epochs=1, progress=False, **options)

    plain = one_epoch()
    monkeypatch.setattr("helpers.train.cpu_has_bf16", lambda: False)
    other = one_epoch(amp=True, channels_last=True)
    assert "amp=True needs a GPU or a CPU with native bfloat16" in capsys.readouterr().out
    assert other.epochs[0]["train_loss"] == pytest.approx(plain.epochs[0]["train_loss"], rel=1e-4)
    monkeypatch.setattr("helpers.train.cpu_has_bf16", lambda: True)  # bf16 autocast runs on any CPU, if slowly
    half = one_epoch(amp=True)
    assert "amp=True needs" not in capsys.readouterr().out
    # bfloat16 keeps 8 bits of mantissa: close to float32, but not the same numbers
    assert half.epochs[0]["train_loss"] == pytest.approx(plain.epochs[0]["train_loss"], rel=5e-2)
    assert half.epochs[0]["train_loss"] != plain.epochs[0]["train_loss"]
    assert autocast_dtype(True, "cpu") is torch.bfloat16 and autocast_dtype(False, "cpu") is None
    assert autocast_dtype("auto", "cpu") is None  # "auto" keeps CPU runs in float32: the same numbers everywhere
    monkeypatch.setattr("helpers.train.cpu_has_bf16", lambda: False)
    assert autocast_dtype("auto", "cpu") is None and autocast_dtype(True, "cpu") is None
    auto = one_epoch(amp="auto")  # "auto" stays quiet where half precision would not pay
    assert "amp=True needs" not in capsys.readouterr().out
    assert auto.epochs[0]["train_loss"] == plain.epochs[0]["train_loss"]
    with pytest.raises(ValueError, match="amp must be"):
        autocast_dtype("yes", "cpu")


def test_out_of_memory_is_explained():
    class Exploding(TinyNet):
        def forward(self, x):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    model = Exploding()
    with pytest.raises(torch.cuda.OutOfMemoryError, match=r"batch of 4 images of 12x12.*batch size.*amp=True"):
        fit(model, toy_loader(toy_data()), None, nn.CrossEntropyLoss(), make_optimizer("sgd", model, lr=0.1),
            epochs=1, progress=False)


def test_schedules_that_cannot_run_fail_early():
    model = TinyNet()
    optimizer = make_optimizer("sgd", model, lr=0.1)
    with pytest.raises(ValueError, match="built for 4 batch steps.*steps_per_epoch"):
        fit(model, toy_loader(toy_data()), None, nn.CrossEntropyLoss(), optimizer,
            make_scheduler("onecycle", optimizer, epochs=1, steps_per_epoch=4), epochs=2, progress=False)
    with pytest.raises(ValueError, match="val_loader"):
        fit(model, toy_loader(toy_data()), None, nn.CrossEntropyLoss(), optimizer,
            make_scheduler("plateau", optimizer, epochs=1, steps_per_epoch=4), epochs=1, progress=False)
    with pytest.raises(ValueError, match="monitor"):
        fit(model, toy_loader(toy_data()), None, nn.CrossEntropyLoss(), optimizer, epochs=1, monitor="dice")


def _small_unet_run(run_dir, epochs: int, resume: bool = True, **fit_options) -> tuple[History, nn.Module]:
    """A small U-Net (with batch norm) on the toy data; `fit_options` go to fit (average_from, snapshots_from)."""
    torch.manual_seed(0)
    model = UNet(in_channels=3, num_classes=CLASSES, base=4, depth=1)
    optimizer = make_optimizer("sgd", model, lr=0.1, momentum=0.9)
    history = fit(model, toy_loader(toy_data(), seed=7), toy_loader(toy_data(8, seed=1), shuffle=False),
                  nn.CrossEntropyLoss(), optimizer, epochs=epochs, run_dir=run_dir, progress=False,
                  num_classes=CLASSES, resume=resume, **fit_options)
    return history, model


def _averaging_run(run_dir, epochs: int, average_from: int | None = 2) -> tuple[History, nn.Module]:
    """Weights averaged from `average_from` on."""
    return _small_unet_run(run_dir, epochs, average_from=average_from)


def _snapshot_run(run_dir, epochs: int, resume: bool = True) -> tuple[History, nn.Module]:
    """A snapshot written after every epoch from epoch 2 on."""
    return _small_unet_run(run_dir, epochs, resume=resume, snapshots_from=2)


def test_averaged_weights_are_the_mean_of_the_epochs_and_survive_a_resume(tmp_path):
    straight, _ = _averaging_run(tmp_path / "straight", 4)
    # the same run one epoch per call (each call resumes), keeping the weights after every epoch
    weights = {}
    for epoch in range(1, 5):
        stepwise, model = _averaging_run(tmp_path / "stepwise", epoch)
        weights[epoch] = {name: value.clone() for name, value in model.named_parameters()}
        assert (stepwise.averaged is None) == (epoch < 2)
    assert straight.averaged["from_epoch"] == 2 and straight.averaged["to_epoch"] == 4
    assert straight.averaged["epochs_averaged"] == 3
    averaged = load_model(tmp_path / "straight" / "averaged.pt")
    assert averaged.checkpoint_extra["averaged"]["epochs_averaged"] == 3
    for name, value in averaged.named_parameters():
        mean = torch.stack([weights[epoch][name] for epoch in (2, 3, 4)]).mean(dim=0)
        assert torch.allclose(value, mean, atol=1e-6), name
    first = "inc.double_conv.0.weight"  # the mean is not simply the last epoch's weights
    assert not torch.allclose(averaged.state_dict()[first], weights[4][first], atol=1e-4)
    resumed = load_model(tmp_path / "stepwise" / "averaged.pt")
    for (name, value), other in zip(averaged.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(value, other, atol=1e-6), name
    assert stepwise.averaged["miou"] == pytest.approx(straight.averaged["miou"], abs=1e-9)


def test_averaged_weights_get_their_own_batch_norm_statistics(tmp_path):
    history, last_model = _averaging_run(tmp_path, 3)
    averaged = load_model(tmp_path / "averaged.pt")
    norm = next(module for module in averaged.modules() if isinstance(module, nn.BatchNorm2d))
    last_norm = next(module for module in last_model.modules() if isinstance(module, nn.BatchNorm2d))
    assert not torch.allclose(norm.running_mean, last_norm.running_mean)
    # recomputed for the averaged weights: the plain mean of the first convolution's output over the training frames
    with torch.no_grad():
        features = averaged.inc.double_conv[0](toy_data().tensors[0])
    assert torch.allclose(norm.running_mean, features.mean(dim=(0, 2, 3)), atol=1e-5)
    scores = evaluate(averaged, toy_loader(toy_data(8, seed=1), shuffle=False), num_classes=CLASSES)
    assert history.averaged["miou"] == pytest.approx(scores["miou"], abs=1e-9)
    with pytest.raises(ValueError, match="different run.*average_from"):
        _averaging_run(tmp_path, 4, average_from=3)
    with pytest.raises(ValueError, match="average_from must be"):
        _averaging_run(tmp_path / "other", 2, average_from=0)


def test_snapshots_are_the_models_of_their_epochs_and_survive_a_resume(tmp_path):
    weights = {}
    for epoch in range(1, 5):  # one epoch per call: each call resumes, and we keep the weights after it
        _, model = _snapshot_run(tmp_path / "stepwise", epoch)
        weights[epoch] = {name: value.clone() for name, value in model.state_dict().items()}
    history, _ = _snapshot_run(tmp_path / "straight", 4)
    files = sorted(path.name for path in (tmp_path / "straight" / "snapshots").iterdir())
    assert files == ["epoch_002.pt", "epoch_003.pt", "epoch_004.pt"]
    for epoch in (2, 3, 4):
        snapshot = load_model(tmp_path / "straight" / "snapshots" / f"epoch_{epoch:03d}.pt")
        assert snapshot.checkpoint_extra["epoch"] == epoch
        assert snapshot.checkpoint_extra["miou"] == pytest.approx(history.epochs[epoch - 1]["miou"], abs=1e-9)
        resumed = load_model(tmp_path / "stepwise" / "snapshots" / f"epoch_{epoch:03d}.pt")
        for name, value in snapshot.state_dict().items():
            assert torch.allclose(value.float(), weights[epoch][name].float(), atol=1e-6), (epoch, name)
            assert torch.allclose(value.float(), resumed.state_dict()[name].float(), atol=1e-6), (epoch, name)
    # a fresh run in the same folder removes the snapshots of the earlier, longer run
    _snapshot_run(tmp_path / "straight", 2, resume=False)
    assert sorted(path.name for path in (tmp_path / "straight" / "snapshots").iterdir()) == ["epoch_002.pt"]
    with pytest.raises(ValueError, match="snapshots_from must be"):
        _snapshot_run(None, 2)


def test_snapshot_ensemble_averages_the_class_probabilities(tmp_path):
    _snapshot_run(tmp_path, 4)
    ensemble = load_snapshots(tmp_path, [3, 4])
    assert ensemble.checkpoint_extra["epochs"] == [3, 4]
    images, targets = toy_data(8, seed=1).tensors
    members = [load_model(tmp_path / "snapshots" / f"epoch_{epoch:03d}.pt") for epoch in (3, 4)]
    with torch.no_grad():
        mean_probs = torch.stack([member(images).softmax(dim=1) for member in members]).mean(dim=0)
        output = ensemble(images)
    assert torch.allclose(output.exp(), mean_probs, atol=1e-5)  # log of the mean probabilities
    assert not torch.allclose(mean_probs, members[1](images).softmax(dim=1), atol=1e-3)
    assert torch.equal(predict(ensemble, images), mean_probs.argmax(dim=1))
    scores = evaluate(ensemble, toy_loader(toy_data(8, seed=1), shuffle=False), num_classes=CLASSES)
    matrix = ConfusionMatrix(CLASSES)
    matrix.update(mean_probs.argmax(dim=1), targets)
    assert scores["miou"] == pytest.approx(matrix.compute()["miou"], abs=1e-9)
    # saved as one file and loaded back as the same ensemble
    reloaded = load_model(save_model(ensemble, tmp_path / "final.pt"))
    with torch.no_grad():
        assert torch.allclose(reloaded(images), output, atol=1e-6)
    assert len(load_snapshots(tmp_path).members) == 3  # every snapshot by default
    with pytest.raises(FileNotFoundError, match="epoch_009.pt.*snapshots_from"):
        load_snapshots(tmp_path, [4, 9])


def test_keep_snapshots_is_a_rolling_window_of_the_last_epochs_run(tmp_path):
    history, _ = _small_unet_run(tmp_path, 5, snapshots_from=1, keep_snapshots=2)
    files = sorted(path.name for path in (tmp_path / "snapshots").iterdir())
    assert files == ["epoch_004.pt", "epoch_005.pt"]
    assert load_snapshots(tmp_path).checkpoint_extra["epochs"] == [4, 5]
    # with early stopping the window follows the run wherever it stops
    torch.manual_seed(0)
    model = UNet(in_channels=3, num_classes=CLASSES, base=4, depth=1)
    optimizer = make_optimizer("sgd", model, lr=1e-9)  # nothing improves: stops after `early_stopping` epochs
    stopped = fit(model, toy_loader(toy_data(), seed=7), toy_loader(toy_data(8, seed=1), shuffle=False),
                  nn.CrossEntropyLoss(), optimizer, epochs=10, run_dir=tmp_path / "early", progress=False,
                  num_classes=CLASSES, early_stopping=2, snapshots_from=1, keep_snapshots=2)
    assert stopped.stopped_early and len(stopped.epochs) < 10
    last = len(stopped.epochs)
    assert sorted(path.name for path in (tmp_path / "early" / "snapshots").iterdir()) == [
        f"epoch_{last - 1:03d}.pt", f"epoch_{last:03d}.pt"]
    with pytest.raises(ValueError, match="keep_snapshots"):
        _small_unet_run(tmp_path / "bad", 2, keep_snapshots=2)


def test_a_finished_run_is_returned_without_training_again(tmp_path):
    first, _ = _small_unet_run(tmp_path, 3, average_from=2, snapshots_from=2)
    stamp = (tmp_path / "averaged.pt").stat().st_mtime_ns
    last_stamp = (tmp_path / "last.pt").stat().st_mtime_ns
    again, model = _small_unet_run(tmp_path, 3, average_from=2, snapshots_from=2)
    assert again.epochs == first.epochs and again.averaged == first.averaged
    # nothing was written: not the checkpoint, not the averaged weights (no second batch-norm pass)
    assert (tmp_path / "averaged.pt").stat().st_mtime_ns == stamp
    assert (tmp_path / "last.pt").stat().st_mtime_ns == last_stamp
    reloaded = torch.load(tmp_path / "last.pt", weights_only=True)["model"]
    for name, value in model.state_dict().items():  # the model holds the finished run's weights
        assert torch.equal(value, reloaded[name]), name


def test_resume_refusal_names_only_the_fields_that_differ(tmp_path):
    frames = [f"{index:05d}" for index in range(200)]
    config = {"recipe": {"lr": 0.1, "optimizer": "sgd"}, "frames": frames, "seed": 0}
    _small_unet_run(tmp_path, 1, config=config)
    changed = {"recipe": {"lr": 0.1, "optimizer": "sgd"}, "frames": frames[:-1], "seed": 1}
    with pytest.raises(ValueError) as error:
        _small_unet_run(tmp_path, 2, config=changed)
    message = str(error.value)
    assert "frames: [200 values] there, [199 values] now" in message and "seed: 0 there, 1 now" in message
    assert "recipe" not in message and "00150" not in message and "\n" not in message


def test_run_folders_are_claimed_by_one_configuration(tmp_path):
    config = {"recipe": {"optimizer": "adam", "lr": 0.002}, "seed": 0, "frames": list(range(50))}
    assert config_digest(config) == config_digest({"seed": 0, "frames": list(range(50)),
                                                   "recipe": {"lr": 0.002, "optimizer": "adam"}})
    assert config_digest(config) != config_digest({**config, "seed": 1})
    folder = tmp_path / "run"
    assert checkpoint_progress(folder) == (0, False)
    claim_run_dir(folder, config, advice="set FRESH_START = True")
    claim_run_dir(folder, config, advice="set FRESH_START = True")  # the same settings: fine
    with pytest.raises(ValueError) as error:
        claim_run_dir(folder, {**config, "recipe": {"optimizer": "adam", "lr": 0.001}}, advice="set FRESH_START = True")
    message = str(error.value)
    assert "recipe.lr: 0.002 there, 0.001 now" in message and "other settings: set FRESH_START = True." in message
    assert "frames" not in message and "optimizer" not in message
    history, _ = _small_unet_run(folder, 2)
    assert checkpoint_progress(folder) == (2, False)
    orphan = tmp_path / "orphan"
    _small_unet_run(orphan, 1)
    with pytest.raises(ValueError, match="without run.json"):
        claim_run_dir(orphan, config, advice="choose another CHECKPOINT_DIR")


def test_nan_advice_counts_one_batch_in_the_singular():
    assert "the loss was inf (not finite) for 1 batch (epoch 1, step 1)." in _nan_advice(1, 1, 1, float("inf"))
    assert "for 3 batches in a row (epoch 2, step 7)." in _nan_advice(3, 2, 7, float("nan"))
    assert "in the only batch of epoch 1." in _nan_advice(1, 1, 1, float("nan"), whole_epoch=True)
    assert "in every one of the 4 batches of epoch 1." in _nan_advice(4, 1, 4, float("nan"), whole_epoch=True)
