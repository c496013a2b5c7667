"""fit and model files under faults: divergence, all-NaN epochs, targets outside the classes, checkpoints of
another shape or kind, damaged files."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from helpers.models import UNet
from helpers.optim import make_optimizer
from helpers.train import evaluate, fit, load_model, save_model

from .test_train import CLASSES, NanOnCalls, TinyNet, toy_data, toy_loader


def test_a_diverging_run_stops_with_advice_and_writes_no_best_model(tmp_path):
    torch.manual_seed(0)
    model = TinyNet(dropout=0.0)
    optimizer = make_optimizer("sgd", model, lr=1e6)
    with pytest.raises(RuntimeError, match=r"mean training loss of epoch 1 was .*more than 10x the loss at the "
                                           r"start.*diverged.*lower learning rate"):
        fit(model, toy_loader(toy_data()), toy_loader(toy_data(8, seed=1), shuffle=False), nn.CrossEntropyLoss(),
            optimizer, epochs=3, run_dir=tmp_path, progress=False)
    assert not (tmp_path / "best.pt").exists() and not (tmp_path / "last.pt").exists()


def test_an_epoch_without_one_finite_batch_is_an_error(tmp_path):
    torch.manual_seed(0)
    model = TinyNet()
    optimizer = make_optimizer("sgd", model, lr=0.1)
    with pytest.raises(RuntimeError, match="not finite.*in every one of the 2 batches of epoch 1"):
        fit(model, toy_loader(toy_data(8)), toy_loader(toy_data(4, seed=1), shuffle=False), NanOnCalls({"all"}),
            optimizer, epochs=2, max_bad_batches=5, run_dir=tmp_path, progress=False)
    assert not (tmp_path / "best.pt").exists()


class Labelled(TensorDataset):
    """A TensorDataset that carries a class map, as SegmentationDataset does."""

    def __init__(self, *tensors, class_map):
        super().__init__(*tensors)
        self.class_map = class_map


def test_targets_outside_the_classes_name_the_class_map_and_the_values():
    from helpers.classes import GTA9

    images, targets = toy_data(8).tensors
    targets = targets.clone()
    targets[0, :2, :2] = 7  # GTA9 has 9 classes; the model predicts 3
    loader = DataLoader(Labelled(images, targets, class_map=GTA9), batch_size=4)
    model = TinyNet()
    with pytest.raises(ValueError, match=r"targets hold class values 7, but the model predicts 3 classes.*class map "
                                         r"'gta9' has 9 classes"):
        fit(model, loader, None, nn.CrossEntropyLoss(), make_optimizer("sgd", model, lr=0.1), epochs=1,
            progress=False)
    with pytest.raises(ValueError, match="targets hold class values 7"):
        evaluate(model, loader)
    targets[0, :2, :2] = 255  # the ignore index of the loss is no class, and no error
    fit(model, loader, None, nn.CrossEntropyLoss(ignore_index=255), make_optimizer("sgd", model, lr=0.1), epochs=1,
        progress=False)


def test_resuming_with_another_model_shape_or_another_file_names_the_difference(tmp_path):
    torch.manual_seed(0)
    small = UNet(in_channels=3, num_classes=CLASSES, base=4, depth=2)
    fit(small, toy_loader(toy_data(8)), None, nn.CrossEntropyLoss(), make_optimizer("sgd", small, lr=0.05),
        epochs=1, run_dir=tmp_path, progress=False)
    wide = UNet(in_channels=3, num_classes=CLASSES, base=8, depth=2)
    with pytest.raises(ValueError, match=r"last.pt holds the weights of a model of another shape \(.*: 4×3×3×3 there, "
                                         r"8×3×3×3 here.*\).*written for a model with config .*'base': 4.*resume=False"):
        fit(wide, toy_loader(toy_data(8)), None, nn.CrossEntropyLoss(), make_optimizer("sgd", wide, lr=0.05),
            epochs=2, run_dir=tmp_path, progress=False)
    save_model(small, tmp_path / "last.pt")  # a model file where the checkpoint should be
    with pytest.raises(ValueError, match=r"last.pt is not a training checkpoint of this workbook: it holds a model "
                                         r"file \(save_model"):
        fit(small, toy_loader(toy_data(8)), None, nn.CrossEntropyLoss(), make_optimizer("sgd", small, lr=0.05),
            epochs=2, run_dir=tmp_path, progress=False)
    torch.save(small.state_dict(), tmp_path / "plain.pt")
    with pytest.raises(ValueError, match=r"plain.pt is not a model file of this workbook: it holds a bare state_dict"):
        load_model(tmp_path / "plain.pt")


def test_unreadable_checkpoints_never_advise_loading_unsafely(tmp_path):
    torch.save({"format": "unet-workbook-model", "payload": np.float64(1.5)}, tmp_path / "pickled.pt")
    torch.save(TinyNet().state_dict(), tmp_path / "cut.pt")
    data = (tmp_path / "cut.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])  # truncated, as by a full disk
    for name, reason in (("pickled.pt", "Python objects other than tensors"), ("cut.pt", "truncated, damaged")):
        with pytest.raises(RuntimeError, match=f"could not read .*{name}: it holds|could not read .*{name}: it is") as error:
            load_model(tmp_path / name)
        assert reason in str(error.value) and "weights_only=False" not in str(error.value)


class OverflowsInHalfPrecision(TinyNet):
    """TinyNet whose logits become infinite under autocast, as a float16 or bfloat16 overflow would make them."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = super().forward(x)
        return logits * float("inf") if torch.is_autocast_enabled("cpu") else logits


@pytest.mark.parametrize("model_class, loss, message", [
    (OverflowsInHalfPrecision, nn.CrossEntropyLoss, r"run again in float32, gives a finite loss \(\d.*\): mixed "
                                                    r"precision \(bfloat16\) is the cause\. Train with amp=False"),
    (TinyNet, lambda: NanOnCalls({"all"}), r"non-finite loss in float32 too: mixed precision \(bfloat16\) is not "
                                           r"the cause"),
])
def test_a_non_finite_loss_under_amp_is_run_again_in_float32_to_name_the_cause(monkeypatch, model_class, loss,
                                                                               message):
    monkeypatch.setattr("helpers.train.cpu_has_bf16", lambda: True)  # amp=True then autocasts to bfloat16 here
    torch.manual_seed(0)
    model = model_class()
    with pytest.raises(RuntimeError, match=message):
        fit(model, toy_loader(toy_data(8)), None, loss(), make_optimizer("sgd", model, lr=0.1), epochs=1,
            amp=True, max_bad_batches=2, progress=False)


class NormedNet(TinyNet):
    """TinyNet with batch norm after its first convolution: a forward pass in training mode moves running averages."""

    def __init__(self):
        super().__init__(dropout=0.0)
        self.norm = nn.BatchNorm2d(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.relu(self.norm(self.features(x))))


def test_a_skipped_batch_leaves_no_trace_in_the_batch_norm_statistics():
    images, targets = toy_data(12).tensors
    poisoned = images.clone()
    poisoned[4:8] = float("nan")  # the second of three batches: NaN batch statistics, NaN loss
    models = []
    for data in (TensorDataset(poisoned, targets), TensorDataset(torch.cat([images[:4], images[8:]]),
                                                                 torch.cat([targets[:4], targets[8:]]))):
        torch.manual_seed(0)
        model = NormedNet()
        history = fit(model, toy_loader(data, shuffle=False), None, nn.CrossEntropyLoss(),
                      make_optimizer("adam", model, lr=0.01), epochs=1, progress=False)
        models.append(model)
    assert history.skipped_batches == 0
    skipped, reference = models
    for name, buffer in skipped.named_buffers():  # as if the poisoned batch had never been there
        assert torch.isfinite(buffer.float()).all() and torch.equal(buffer, reference.get_buffer(name)), name
    for name, parameter in skipped.named_parameters():
        assert torch.equal(parameter, reference.get_parameter(name)), name
    assert torch.isfinite(skipped.eval()(images)).all()
